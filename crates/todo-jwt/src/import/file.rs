//! LoopBack's memory connector file (`data/db.json`), read into this service's records.
//!
//! The file is `{"ids":{...},"models":{"<Model>":{"<id>":"<record>"}}}` where each record is
//! itself JSON, written as a string. Every record is checked against a schema before it is
//! read, so a problem is reported in the words signup would use, with the record's model and
//! id; nothing is written until the whole file has been read.

use std::{
    collections::{BTreeMap, HashMap},
    sync::LazyLock,
};

use jsonschema::Validator;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::ImportError;
use crate::{
    accounts::bcrypt_cost,
    http::body::{compile, validate},
    http::error::ApiError,
    store::{Todo, User, UserRecord, email_key},
    todos::TodoLimits,
};

/// The highest bcrypt cost accepted: LoopBack's bcryptjs uses 10 (about 100 ms a login); each
/// step doubles the time a login takes on the password threads.
pub const MAX_BCRYPT_COST: u32 = 12;

/// The models read; any other (LoopBack's `RefreshToken`, say) is reported as not kept.
const USER: &str = "User";
const CREDENTIALS: &str = "UserCredentials";
const TODO: &str = "Todo";

/// What the file holds, ready to store.
#[derive(Debug)]
pub struct LoopbackData {
    /// The users, each with their bcrypt hash.
    pub users: Vec<UserRecord>,
    /// The todos, by id, with LoopBack's ids.
    pub todos: Vec<Todo>,
    /// What this service does not keep (`Todo.tag`, a model), and in how many records.
    pub not_kept: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct MemoryFile {
    #[serde(default)]
    models: BTreeMap<String, BTreeMap<String, Value>>,
}

#[derive(Deserialize)]
struct LoopbackUser {
    id: String,
    email: String,
    username: Option<String>,
    realm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoopbackCredentials {
    password: String,
    user_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoopbackTodo {
    id: i64,
    title: String,
    desc: Option<String>,
    is_complete: Option<bool>,
}

/// A model's schema and the properties this service keeps.
struct Model {
    name: &'static str,
    validator: LazyLock<Validator>,
    kept: &'static [&'static str],
}

static USERS: Model = Model {
    name: USER,
    validator: LazyLock::new(|| {
        compile(&json!({
            "type": "object",
            "required": ["id", "email"],
            "properties": {
                // LoopBack's `uuidv4` ids, kept: this service's user ids are UUIDs too.
                "id": {"type": "string", "format": "uuid"},
                // Signup's rule: an account that breaks it could never log in.
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "username": {"type": ["string", "null"]},
                "realm": {"type": ["string", "null"]},
            },
        }))
    }),
    kept: &["id", "email", "username", "realm"],
};

static CREDENTIALS_MODEL: Model = Model {
    name: CREDENTIALS,
    validator: LazyLock::new(|| {
        compile(&json!({
            "type": "object",
            "required": ["id", "password", "userId"],
            "properties": {
                "id": {"type": ["string", "integer"]},
                "password": {"type": "string"},
                "userId": {"type": "string"},
            },
        }))
    }),
    kept: &["id", "password", "userId"],
};

static TODOS: Model = Model {
    name: TODO,
    validator: LazyLock::new(|| {
        compile(&json!({
            "type": "object",
            "required": ["id", "title"],
            "properties": {
                // LoopBack's ids are JavaScript numbers.
                "id": {"type": "integer", "minimum": 1, "maximum": 9_007_199_254_740_991_i64},
                "title": {"type": "string", "minLength": 1},
                "desc": {"type": ["string", "null"]},
                "isComplete": {"type": ["boolean", "null"]},
            },
        }))
    }),
    kept: &["id", "title", "desc", "isComplete"],
};

/// Reads LoopBack's file: every record valid, every user with exactly one password, no two
/// emails that this service would take for one account, every todo within `limits`' texts.
pub fn parse(text: &str, limits: &TodoLimits) -> Result<LoopbackData, ImportError> {
    let file: MemoryFile = serde_json::from_str(text).map_err(ImportError::Shape)?;
    let mut not_kept = BTreeMap::new();
    let mut records = |model: &Model| -> Result<Vec<(String, Value)>, ImportError> {
        let Some(stored) = file.models.get(model.name) else {
            return Ok(Vec::new());
        };
        stored
            .iter()
            .map(|(id, record)| {
                let record = decode(model, id, record)?;
                for (property, value) in record.as_object().into_iter().flatten() {
                    if !value.is_null() && !model.kept.contains(&property.as_str()) {
                        *not_kept
                            .entry(format!("{}.{property}", model.name))
                            .or_insert(0) += 1;
                    }
                }
                Ok((id.clone(), record))
            })
            .collect()
    };
    let users: Vec<(String, LoopbackUser)> = typed(&USERS, records(&USERS)?)?;
    let credentials: Vec<(String, LoopbackCredentials)> =
        typed(&CREDENTIALS_MODEL, records(&CREDENTIALS_MODEL)?)?;
    let todos: Vec<(String, LoopbackTodo)> = typed(&TODOS, records(&TODOS)?)?;
    for (model, stored) in &file.models {
        if ![USER, CREDENTIALS, TODO].contains(&model.as_str()) {
            not_kept.insert(model.clone(), stored.len());
        }
    }

    let mut passwords: HashMap<&str, (&str, &str)> = HashMap::new();
    for (id, credential) in &credentials {
        if !users.iter().any(|(user, _)| *user == credential.user_id) {
            *not_kept
                .entry(format!("{CREDENTIALS} of no {USER}"))
                .or_insert(0) += 1;
            continue;
        }
        let problem = |problem: String| record_error(CREDENTIALS, id, problem);
        match bcrypt_cost(&credential.password) {
            None => {
                return Err(problem(
                    "/password: not a bcrypt hash ($2a$, $2b$ or $2y$, as bcryptjs writes them)"
                        .to_owned(),
                ));
            }
            Some(cost) if cost > MAX_BCRYPT_COST => {
                return Err(problem(format!(
                    "/password: bcrypt cost {cost} is above {MAX_BCRYPT_COST}; every login \
                     would hold a password thread for seconds"
                )));
            }
            Some(_) => {}
        }
        if let Some((other, _)) =
            passwords.insert(&credential.user_id, (id.as_str(), &credential.password))
        {
            return Err(problem(format!(
                "user {:?} has a second password ({CREDENTIALS} {other:?})",
                credential.user_id
            )));
        }
    }

    let mut by_key: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (id, user) in &users {
        by_key
            .entry(email_key(&user.email))
            .or_default()
            .push((id.clone(), user.email.clone()));
    }
    let duplicates: Vec<_> = by_key
        .into_values()
        .filter(|users| users.len() > 1)
        .collect();
    if !duplicates.is_empty() {
        return Err(ImportError::CaseDuplicates(duplicates));
    }

    let users = users
        .into_iter()
        .map(|(id, user)| {
            let Some(&(_, hash)) = passwords.get(id.as_str()) else {
                return Err(record_error(
                    USER,
                    &id,
                    format!("no {CREDENTIALS} record holds this user's password"),
                ));
            };
            Ok(UserRecord {
                password_hash: hash.to_owned(),
                user: User {
                    id: user.id,
                    email: user.email,
                    username: user.username,
                    realm: user.realm,
                },
            })
        })
        .collect::<Result<_, _>>()?;

    let mut todos = todos
        .into_iter()
        .map(|(id, todo)| {
            limits
                .check(Some(&todo.title), todo.desc.as_deref())
                .map_err(|error| record_error(TODO, &id, describe(&error)))?;
            Ok(Todo {
                id: todo.id,
                title: todo.title,
                desc: todo.desc,
                is_complete: todo.is_complete,
            })
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    todos.sort_by_key(|todo| todo.id);
    Ok(LoopbackData {
        users,
        todos,
        not_kept,
    })
}

/// One stored record: a JSON string holding an object whose `id` is the key it is stored
/// under, valid against the model's schema.
fn decode(model: &Model, id: &str, record: &Value) -> Result<Value, ImportError> {
    let problem = |problem: String| record_error(model.name, id, problem);
    let Value::String(text) = record else {
        return Err(problem(
            "not a JSON string (LoopBack writes each record as one)".to_owned(),
        ));
    };
    let record: Value =
        serde_json::from_str(text).map_err(|error| problem(format!("not JSON: {error}")))?;
    validate(&model.validator, &record).map_err(|error| problem(describe(&error)))?;
    let own_id = match &record["id"] {
        Value::String(own) => own.clone(),
        other => other.to_string(),
    };
    if own_id != id {
        return Err(problem(format!(
            "stored under {id:?} but its id is {own_id:?}"
        )));
    }
    Ok(record)
}

/// Validated records as their types.
fn typed<T: DeserializeOwned>(
    model: &Model,
    records: Vec<(String, Value)>,
) -> Result<Vec<(String, T)>, ImportError> {
    records
        .into_iter()
        .map(|(id, record)| {
            serde_json::from_value(record)
                .map(|typed| (id.clone(), typed))
                .map_err(|error| record_error(model.name, &id, error.to_string()))
        })
        .collect()
}

fn record_error(model: &'static str, id: &str, problem: String) -> ImportError {
    ImportError::Record {
        model,
        id: id.to_owned(),
        problem,
    }
}

/// A validation error's problems, one `path: message` each.
fn describe(error: &ApiError) -> String {
    match error {
        ApiError::Validation(details) => details
            .iter()
            .map(|detail| {
                let path = if detail.path.is_empty() {
                    "the record"
                } else {
                    &detail.path
                };
                format!("{path}: {}", detail.message)
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

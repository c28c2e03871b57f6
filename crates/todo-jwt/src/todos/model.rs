//! Todo DTOs, their schemas, and how a todo is shown (the JSON writer, in [`shown`]).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::{
    http::body::json_body_schema,
    http::error::{ApiError, Result, ValidationDetail},
    store::{TodoChanges, TodoFields},
};

mod shown;

pub use shown::Shown;

/// What one user may store: a difference from LoopBack, which bounds nothing. Long texts
/// cost every later read of them (and every pattern match over them); an unbounded number of
/// todos makes every unfiltered list unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TodoLimits {
    /// The longest `title`, in characters.
    pub title: usize,
    /// The longest `desc`, in characters.
    pub desc: usize,
    /// The most todos one user may have.
    pub per_user: u64,
}

impl TodoLimits {
    /// 422, in the shape of a schema problem, for each text over its limit.
    pub fn check(&self, title: Option<&str>, desc: Option<&str>) -> Result<()> {
        let over = |path: &str, text: Option<&str>, limit: usize| {
            text.filter(|text| text.chars().count() > limit)
                .map(|_| ValidationDetail {
                    path: path.to_owned(),
                    code: "maxLength".to_owned(),
                    message: format!("must NOT have more than {limit} characters"),
                    info: json!({ "limit": limit }),
                })
        };
        let details: Vec<_> = [
            over("/title", title, self.title),
            over("/desc", desc, self.desc),
        ]
        .into_iter()
        .flatten()
        .collect();
        if details.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(details))
        }
    }

    /// [`TodoLimits::check`] for the texts a change writes.
    pub fn check_changes(&self, changes: &TodoChanges) -> Result<()> {
        self.check(
            changes.title.as_deref(),
            changes.desc.as_ref().and_then(Option::as_deref),
        )
    }

    /// The 422 for a user who already has [`TodoLimits::per_user`] todos.
    pub fn too_many(&self) -> ApiError {
        ApiError::Validation(vec![ValidationDetail {
            path: String::new(),
            code: "maxItems".to_owned(),
            message: format!("must NOT have more than {} todos", self.per_user),
            info: json!({ "limit": self.per_user }),
        }])
    }
}

/// The writable properties; `title` may never be empty.
fn properties() -> Value {
    json!({
        "title": {"type": "string", "minLength": 1},
        "desc": {"type": "string"},
        "isComplete": {"type": "boolean"},
    })
}

fn schema(required: &[&str], with_id: bool, example: Value) -> Value {
    let mut properties = properties();
    if with_id {
        properties["id"] = json!({"type": "integer", "format": "int64"});
    }
    json!({
        "type": "object",
        "required": required,
        "additionalProperties": false,
        "properties": properties,
        "example": example,
    })
}

/// `POST /todos`: a todo without its id.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTodo {
    pub title: String,
    pub desc: Option<String>,
    pub is_complete: Option<bool>,
}

json_body_schema!(
    NewTodo,
    schema(
        &["title"],
        false,
        json!({"title": "buy milk", "isComplete": false})
    )
);

impl From<NewTodo> for TodoFields {
    fn from(
        NewTodo {
            title,
            desc,
            is_complete,
        }: NewTodo,
    ) -> Self {
        Self {
            title,
            desc,
            is_complete,
        }
    }
}

/// `PUT /todos/{id}`: the whole todo; omitted optional properties are removed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoReplacement {
    pub id: Option<i64>,
    pub title: String,
    pub desc: Option<String>,
    pub is_complete: Option<bool>,
}

json_body_schema!(
    TodoReplacement,
    schema(
        &["title"],
        true,
        json!({"title": "buy oat milk", "desc": "2 l"})
    )
);

impl TodoReplacement {
    /// The changes that replace todo `id`; a different body `id` is refused.
    pub fn into_changes(self, id: i64) -> Result<TodoChanges> {
        check_same_id(self.id, id)?;
        let Self {
            title,
            desc,
            is_complete,
            ..
        } = self;
        Ok(TodoChanges::replace_with(TodoFields {
            title,
            desc,
            is_complete,
        }))
    }
}

/// A patch's schema: some properties, at least one. `{}` is refused by the handler with
/// LoopBack's 400 (`INVALID_BODY_DEFINITION`), not by the validator's 422, so
/// `minProperties` is documented but left out of validation.
fn patch_schema(with_id: bool) -> Value {
    let mut schema = schema(&[], with_id, json!({"isComplete": true}));
    schema["minProperties"] = json!(1);
    schema
}

/// `PATCH /todos/{id}`: some properties; a body `id` must be the path's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoPatch {
    pub id: Option<i64>,
    pub title: Option<String>,
    pub desc: Option<String>,
    pub is_complete: Option<bool>,
}

json_body_schema!(TodoPatch, patch_schema(true), documented_only: "minProperties");

impl TodoPatch {
    /// The changes for todo `id`. An empty patch is refused, as in LoopBack.
    pub fn into_changes(self, id: i64) -> Result<TodoChanges> {
        check_same_id(self.id, id)?;
        changes(self.title, self.desc, self.is_complete)
    }
}

/// `PATCH /todos`: some properties, for every todo `where` matches. No `id`: it would rewrite
/// every matched id (422, as any property the schema does not list).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkTodoPatch {
    pub title: Option<String>,
    pub desc: Option<String>,
    pub is_complete: Option<bool>,
}

json_body_schema!(BulkTodoPatch, patch_schema(false), documented_only: "minProperties");

impl BulkTodoPatch {
    /// The changes for the matched todos. An empty patch is refused, as in LoopBack.
    pub fn into_changes(self) -> Result<TodoChanges> {
        changes(self.title, self.desc, self.is_complete)
    }
}

/// A patch's changes, or LoopBack's 400 when it changes nothing.
fn changes(
    title: Option<String>,
    desc: Option<String>,
    is_complete: Option<bool>,
) -> Result<TodoChanges> {
    let changes = TodoChanges {
        title,
        desc: desc.map(Some),
        is_complete: is_complete.map(Some),
    };
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "INVALID_BODY_DEFINITION",
            "Data is required for the patch request",
        ));
    }
    Ok(changes)
}

fn check_same_id(body: Option<i64>, path: i64) -> Result<()> {
    match body {
        Some(body) if body != path => Err(ApiError::bad_request(
            "INVALID_BODY_DEFINITION",
            format!("id property (id) cannot be updated from {path} to {body}"),
        )),
        _ => Ok(()),
    }
}

/// A whole todo, as `POST /todos` answers it: `desc` and `isComplete` only when set.
#[derive(ToSchema)]
#[schema(as = Todo)]
#[expect(dead_code, reason = "documents the JSON that `Shown` writes")]
pub struct TodoSchema {
    /// Increasing, never reused.
    #[schema(format = Int64)]
    id: i64,
    /// Never empty.
    #[schema(min_length = 1)]
    title: String,
    #[schema(nullable = false)]
    desc: Option<String>,
    #[schema(nullable = false)]
    #[serde(rename = "isComplete")]
    is_complete: Option<bool>,
}

/// A todo as `GET` shows it: the properties `fields` selects. Without `fields`, every
/// property, so `id` and `title` are there; `desc` and `isComplete` only when set.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documents the JSON that `Shown` writes")]
pub struct PartialTodo {
    /// Increasing, never reused.
    #[schema(format = Int64, nullable = false)]
    id: Option<i64>,
    /// Never empty.
    #[schema(min_length = 1, nullable = false)]
    title: Option<String>,
    #[schema(nullable = false)]
    desc: Option<String>,
    #[schema(nullable = false)]
    #[serde(rename = "isComplete")]
    is_complete: Option<bool>,
}

/// `{"count": n}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    pub count: u64,
}

//! Todo DTOs, their schemas, and how a todo is shown.

use serde::{Deserialize, Serialize, Serializer, ser::SerializeMap};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::{
    body::json_body_schema,
    error::{ApiError, Result},
    filter::{Field, FieldSet},
    store::{Todo, TodoChanges, TodoFields, TodoRef},
};

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

/// `PATCH /todos/{id}` and `PATCH /todos`: some properties.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoPatch {
    pub id: Option<i64>,
    pub title: Option<String>,
    pub desc: Option<String>,
    pub is_complete: Option<bool>,
}

json_body_schema!(TodoPatch, schema(&[], true, json!({"isComplete": true})));

impl TodoPatch {
    /// The changes for todo `id` (or for many todos, with `id = None`, where a body `id` would
    /// rewrite every matched id and is refused). An empty patch is refused, as in LoopBack.
    pub fn into_changes(self, id: Option<i64>) -> Result<TodoChanges> {
        match id {
            Some(id) => check_same_id(self.id, id)?,
            None if self.id.is_some() => {
                return Err(ApiError::bad_request(
                    "INVALID_BODY_DEFINITION",
                    "id property cannot be updated",
                ));
            }
            None => {}
        }
        let changes = TodoChanges {
            title: self.title,
            desc: self.desc.map(Some),
            is_complete: self.is_complete.map(Some),
        };
        if changes.is_empty() {
            return Err(ApiError::bad_request(
                "INVALID_BODY_DEFINITION",
                "Data is required for the patch request",
            ));
        }
        Ok(changes)
    }
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

/// A todo as the API shows it: the selected fields, absent ones omitted (never `null`).
#[derive(Debug)]
pub struct Shown<'a> {
    pub todo: TodoRef<'a>,
    pub fields: FieldSet,
}

impl<'a> Shown<'a> {
    /// Every field of `todo`.
    pub fn all(todo: &'a Todo) -> Self {
        Self {
            todo: todo.as_ref(),
            fields: FieldSet::ALL,
        }
    }
}

impl Serialize for Shown<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self { todo, fields } = self;
        let mut map = serializer.serialize_map(None)?;
        for field in Field::ALL
            .into_iter()
            .filter(|field| fields.contains(*field))
        {
            match field {
                Field::Id => map.serialize_entry(field.name(), &todo.id)?,
                Field::Title => map.serialize_entry(field.name(), todo.title)?,
                Field::Desc => {
                    if let Some(desc) = todo.desc {
                        map.serialize_entry(field.name(), desc)?;
                    }
                }
                Field::IsComplete => {
                    if let Some(done) = todo.is_complete {
                        map.serialize_entry(field.name(), &done)?;
                    }
                }
            }
        }
        map.end()
    }
}

/// A todo as `GET` shows it: the properties `fields` selected (all by default); `desc` and
/// `isComplete` only when set.
#[derive(ToSchema)]
#[schema(as = Todo)]
#[expect(dead_code, reason = "documents the JSON that `Shown` writes")]
pub struct TodoSchema {
    /// Increasing, never reused (present unless `fields` leaves it out).
    #[schema(format = Int64, nullable = false)]
    id: Option<i64>,
    /// Never empty (present unless `fields` leaves it out).
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

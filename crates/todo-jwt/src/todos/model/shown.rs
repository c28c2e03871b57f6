//! How a todo is shown: [`Shown`] writes the JSON of `GET /todos` by hand.
//!
//! Apart from the DTOs because it is the read path's inner loop, tuned by measurement, and
//! pinned against `serde_json` by its own tests; the schemas documenting the JSON it writes
//! stay with the others in [`super`].

use crate::{
    filter::{Field, FieldSet},
    store::{Todo, TodoRef},
};

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
            todo: TodoRef::from(todo),
            fields: FieldSet::ALL,
        }
    }
}

impl Shown<'_> {
    /// Appends the todo to `out` as a JSON object.
    ///
    /// Written by hand rather than through serde's map serializer: this is the inner loop of
    /// `GET /todos`, where the generic path (escaping each constant key, checking each string
    /// byte by byte through a table) cost more than reading the rows (callgrind).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let Self { todo, fields } = *self;
        // Room for the keys, punctuation and id, so the pushes below do not grow the buffer.
        out.reserve(64 + todo.title.len() + todo.desc.map_or(0, str::len));
        let mut opened = false;
        let mut key = |out: &mut Vec<u8>, field: Field| {
            out.push(if opened { b',' } else { b'{' });
            opened = true;
            // `"name":` as one constant: copied with a few moves, not a call.
            out.extend_from_slice(match field {
                Field::Id => br#""id":"#,
                Field::Title => br#""title":"#,
                Field::Desc => br#""desc":"#,
                Field::IsComplete => br#""isComplete":"#,
            });
        };
        if fields.contains(Field::Id) {
            key(out, Field::Id);
            out.extend_from_slice(itoa::Buffer::new().format(todo.id).as_bytes());
        }
        if fields.contains(Field::Title) {
            key(out, Field::Title);
            write_json_str(out, todo.title);
        }
        if let Some(desc) = todo.desc.filter(|_| fields.contains(Field::Desc)) {
            key(out, Field::Desc);
            write_json_str(out, desc);
        }
        if let Some(done) = todo
            .is_complete
            .filter(|_| fields.contains(Field::IsComplete))
        {
            key(out, Field::IsComplete);
            out.extend_from_slice(if done { b"true" } else { b"false" });
        }
        if !opened {
            out.push(b'{');
        }
        out.push(b'}');
    }
}

/// Appends `text` as a JSON string. Text without `"`, `\` or control characters (nearly all)
/// is copied as it is; anything else goes through `serde_json`, which escapes exactly those.
fn write_json_str(out: &mut Vec<u8>, text: &str) {
    // A fold rather than `any`: without the early exit the check is vectorised.
    let needs_escape = text.bytes().fold(false, |found, byte| {
        found | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
    });
    if needs_escape {
        // Writing a string into a Vec cannot fail.
        serde_json::to_writer(out, text).unwrap_or_default();
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// What `write_json` must produce, built the slow and obvious way.
    fn expected(todo: TodoRef<'_>, fields: FieldSet) -> Value {
        let mut object = serde_json::Map::new();
        if fields.contains(Field::Id) {
            object.insert("id".into(), todo.id.into());
        }
        if fields.contains(Field::Title) {
            object.insert("title".into(), todo.title.into());
        }
        if let Some(desc) = todo.desc.filter(|_| fields.contains(Field::Desc)) {
            object.insert("desc".into(), desc.into());
        }
        if let Some(done) = todo
            .is_complete
            .filter(|_| fields.contains(Field::IsComplete))
        {
            object.insert("isComplete".into(), done.into());
        }
        Value::Object(object)
    }

    fn field_sets() -> impl Strategy<Value = FieldSet> {
        proptest::collection::vec(proptest::sample::select(Field::ALL.to_vec()), 0..4)
            .prop_map(|fields| fields.into_iter().fold(FieldSet::NONE, FieldSet::with))
    }

    proptest! {
        /// Any text (quotes, backslashes, control characters, any Unicode) and any selection of
        /// fields comes out as valid JSON with exactly the expected members.
        #[test]
        fn write_json_matches_serde_json(
            id in any::<i64>(),
            title in any::<String>(),
            desc in proptest::option::of(any::<String>()),
            is_complete in proptest::option::of(any::<bool>()),
            fields in field_sets(),
        ) {
            let todo = TodoRef { id, title: &title, desc: desc.as_deref(), is_complete };
            let mut out = Vec::new();
            Shown { todo, fields }.write_json(&mut out);
            let expected = expected(todo, fields);
            let parsed: Value = serde_json::from_slice(&out)
                .map_err(|error| TestCaseError::fail(format!("{error}: {}", String::from_utf8_lossy(&out))))?;
            prop_assert_eq!(&parsed, &expected);
        }
    }

    #[test]
    fn escapes_what_json_requires() {
        let todo = TodoRef {
            id: -3,
            title: "a \"quoted\" \\ line\n\u{1}",
            desc: Some("é ✓"),
            is_complete: Some(false),
        };
        let mut out = Vec::new();
        Shown {
            todo,
            fields: FieldSet::ALL,
        }
        .write_json(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#"{"id":-3,"title":"a \"quoted\" \\ line\n\u0001","desc":"é ✓","isComplete":false}"#
        );
    }
}

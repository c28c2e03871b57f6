//! The filter language end to end: parsing cases, and the property test that checks the SQL
//! compiler against the reference evaluator on a real SQLite database.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{
    Comparison, Condition, Field, FieldSet, Filter, Order, Pattern, Scalar, eval,
    parse::{self, Scope},
};
use crate::store::{NewUserRecord, SqliteStore, Todo, TodoFields, TodoStore, User, UserStore};

fn filter(tree: Value) -> Filter {
    parse::filter(&tree, Scope::List, &tree.to_string()).expect("valid filter")
}

fn problems(tree: Value) -> Vec<String> {
    let error = parse::filter(&tree, Scope::List, &tree.to_string()).expect_err("refused");
    error
        .problems
        .into_iter()
        .map(|problem| format!("{} {}", problem.path, problem.message))
        .collect()
}

#[test]
fn bracket_strings_are_coerced_by_the_property_type() {
    let parsed = filter(
        json!({"where": {"isComplete": "false", "id": {"gt": "2"}}, "limit": "2", "skip": "1"}),
    );
    assert_eq!(
        parsed.condition,
        Some(Condition::All(vec![
            Condition::Compare(Field::Id, Comparison::Gt, Scalar::Int(2)),
            Condition::Equals(Field::IsComplete, Some(Scalar::Bool(false))),
        ]))
    );
    assert_eq!((parsed.limit, parsed.skip), (Some(2), 1));
}

#[test]
fn several_operators_on_one_property_all_apply() {
    let parsed = filter(json!({"where": {"id": {"gte": 2, "lte": 4}}}));
    assert_eq!(
        parsed.condition,
        Some(Condition::All(vec![
            Condition::Compare(Field::Id, Comparison::Gte, Scalar::Int(2)),
            Condition::Compare(Field::Id, Comparison::Lte, Scalar::Int(4)),
        ]))
    );
}

#[test]
fn order_fields_and_offset_take_every_documented_form() {
    let parsed = filter(json!({"order": "title DESC", "fields": ["id", "title"], "offset": 3}));
    assert_eq!(
        parsed.order,
        [Order {
            field: Field::Title,
            descending: true
        }]
    );
    assert_eq!(
        parsed.fields,
        FieldSet::NONE.with(Field::Id).with(Field::Title)
    );
    assert_eq!(parsed.skip, 3);
    let parsed = filter(
        json!({"order": ["isComplete asc", "id desc"], "fields": {"desc": false}, "skip": 1, "offset": 5}),
    );
    assert_eq!(parsed.order.len(), 2);
    assert!(parsed.order[1].descending);
    assert_eq!(parsed.fields, FieldSet::ALL.without(Field::Desc));
    assert_eq!(parsed.skip, 1, "skip wins over offset");
    assert_eq!(
        filter(json!({"fields": {"title": true, "desc": false}})).fields,
        FieldSet::NONE.with(Field::Title)
    );
}

#[test]
fn an_unknown_property_in_where_matches_nothing_but_unknown_keys_are_refused() {
    assert_eq!(
        filter(json!({"where": {"colour": "red"}})).condition,
        Some(Condition::Nothing)
    );
    assert_eq!(problems(json!({"include": ["owner"]})).len(), 1);
}

#[test]
fn bad_filters_list_every_problem() {
    let found = problems(json!({
        "limit": 0,
        "skip": -1,
        "order": "title SIDEWAYS",
        "fields": {"secret": true},
        "where": {"id": {"gt": "x", "near": 1}, "title": {"like": 3}, "isComplete": {"regexp": "a"}},
    }));
    for expected in [
        "/limit",
        "/skip",
        "/order",
        "/fields/secret",
        "/where/id/gt",
        "/where/id/near",
        "/where/title/like",
        "/where/isComplete/regexp",
    ] {
        assert!(
            found
                .iter()
                .any(|problem| problem.starts_with(&format!("{expected} "))),
            "{expected} in {found:?}"
        );
    }
    assert!(!problems(json!({"limit": 2.5})).is_empty());
    assert!(!problems(json!([])).is_empty());
    assert!(!problems(json!({"where": {"title": {"regexp": "("}}})).is_empty());
    assert!(!problems(json!({"where": {"title": {"like": "a\\"}}})).is_empty());
    assert!(!problems(json!({"where": {"and": {"id": 1}}})).is_empty());
}

#[test]
fn the_one_todo_filter_refuses_where() {
    let tree = json!({"where": {"id": 1}, "fields": ["title"]});
    assert!(parse::filter(&tree, Scope::One, "").is_err());
}

#[test]
fn regexp_takes_javascript_slashes_and_the_i_flag() {
    let parsed = filter(json!({"where": {"title": {"regexp": "/^a/i"}}}));
    assert_eq!(
        parsed.condition,
        Some(Condition::Regexp(
            Field::Title,
            Pattern {
                source: "(?i)^a".into()
            }
        ))
    );
    assert!(!problems(json!({"where": {"title": {"regexp": "/a/x"}}})).is_empty());
}

// --- The property test -------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    "[abAB%_ ]{0,3}"
}

fn todo_fields() -> impl Strategy<Value = TodoFields> {
    (
        "[abAB%_ ]{1,3}",
        proptest::option::of(text()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(title, desc, is_complete)| TodoFields {
            title,
            desc,
            is_complete,
        })
}

fn scalar(field: Field) -> BoxedStrategy<Scalar> {
    match field {
        Field::Id => (0i64..14).prop_map(Scalar::Int).boxed(),
        Field::Title | Field::Desc => text().prop_map(Scalar::Text).boxed(),
        Field::IsComplete => any::<bool>().prop_map(Scalar::Bool).boxed(),
    }
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        Just(Field::Id),
        Just(Field::Title),
        Just(Field::Desc),
        Just(Field::IsComplete)
    ]
}

fn text_field() -> impl Strategy<Value = Field> {
    prop_oneof![Just(Field::Title), Just(Field::Desc)]
}

fn comparison() -> impl Strategy<Value = Comparison> {
    prop_oneof![
        Just(Comparison::Gt),
        Just(Comparison::Gte),
        Just(Comparison::Lt),
        Just(Comparison::Lte)
    ]
}

fn leaf() -> impl Strategy<Value = Condition> {
    let with_field = field().prop_flat_map(|field| {
        prop_oneof![
            proptest::option::of(scalar(field))
                .prop_map(move |value| Condition::Equals(field, value)),
            proptest::option::of(scalar(field))
                .prop_map(move |value| Condition::NotEquals(field, value)),
            (comparison(), scalar(field))
                .prop_map(move |(op, value)| Condition::Compare(field, op, value)),
            (scalar(field), scalar(field))
                .prop_map(move |(low, high)| Condition::Between(field, low, high)),
            proptest::collection::vec(scalar(field), 0..3)
                .prop_map(move |values| Condition::In(field, values)),
            proptest::collection::vec(scalar(field), 0..3)
                .prop_map(move |values| Condition::NotIn(field, values)),
        ]
    });
    let like = (
        text_field(),
        "([abAB%_ ]|\\\\[%_a]){0,3}",
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(field, pattern, negated, insensitive)| Condition::Like {
            field,
            pattern,
            negated,
            insensitive,
        });
    let regexp = (
        text_field(),
        prop::sample::select(vec!["^a", "b$", "(?i)a", "a|B", "^$", "[ab]+", "%"]),
    )
        .prop_map(|(field, source)| {
            Condition::Regexp(
                field,
                Pattern {
                    source: source.to_owned(),
                },
            )
        });
    prop_oneof![6 => with_field, 2 => like, 1 => regexp, 1 => Just(Condition::Nothing)]
}

fn condition() -> impl Strategy<Value = Condition> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Condition::All),
            proptest::collection::vec(inner, 0..3).prop_map(Condition::Any),
        ]
    })
}

fn any_filter() -> impl Strategy<Value = Filter> {
    let order = proptest::collection::vec((field(), any::<bool>()), 0..3).prop_map(|keys| {
        keys.into_iter()
            .map(|(field, descending)| Order { field, descending })
            .collect()
    });
    (
        proptest::option::of(condition()),
        order,
        proptest::option::of(1u64..8),
        0u64..5,
    )
        .prop_map(|(condition, order, limit, skip)| Filter {
            condition,
            fields: FieldSet::ALL,
            order,
            limit,
            skip,
        })
}

/// One database for the whole run; each case gets its own owner, which also checks that a
/// filter never sees another owner's todos.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("filter.sqlite3")).expect("store");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            runtime,
            store,
            _dir: dir,
        }
    }

    fn owner_with(&self, todos: Vec<TodoFields>) -> (String, Vec<Todo>) {
        self.runtime.block_on(async {
            let id = uuid::Uuid::new_v4().to_string();
            let user = User {
                id: id.clone(),
                email: format!("{id}@example.com"),
                username: None,
                realm: None,
            };
            self.store
                .insert_user(NewUserRecord {
                    user,
                    password_hash: "x".into(),
                })
                .await
                .expect("user");
            let mut stored = Vec::new();
            for todo in todos {
                stored.push(self.store.create_todo(&id, todo).await.expect("todo"));
            }
            (id, stored)
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sql_agrees_with_the_reference_evaluator(
        todos in proptest::collection::vec(todo_fields(), 0..10),
        filter in any_filter(),
    ) {
        thread_local!(static FIXTURE: Fixture = Fixture::new());
        FIXTURE.with(|fixture| {
            let (owner, stored) = fixture.owner_with(todos);
            let expected = eval::apply(&filter, &stored);
            let found = fixture.runtime.block_on(fixture.store.find_todos(&owner, &filter)).expect("query");
            prop_assert_eq!(&found, &expected, "filter {:?}", filter);
            let count = fixture.runtime.block_on(fixture.store.count_todos(&owner, filter.condition.as_ref())).expect("count");
            let matching = stored.iter().filter(|todo| filter.condition.as_ref().is_none_or(|c| eval::matches(c, todo))).count();
            prop_assert_eq!(count, matching as u64);
            Ok(())
        })?;
    }
}

//! The todo SQL checked against the filter language's reference evaluator on a real SQLite
//! database (any filter, any todos). (Transactions are tested on both engines in
//! `tests/api/store.rs`.)

use proptest::prelude::*;

use super::{Database, Store, StoreError, Todo, TodoFields, User, UserRecord};
use crate::filter::{Comparison, Condition, Field, FieldSet, Filter, Order, Pattern, Scalar, eval};

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
    store: Store,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let database = Database::Sqlite(dir.path().join("filter.sqlite3"));
        let store = runtime.block_on(Store::open(&database)).expect("store");
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
                .users()
                .insert(UserRecord {
                    user,
                    password_hash: "x".into(),
                })
                .await
                .expect("user");
            let mut stored = Vec::new();
            for todo in todos {
                stored.push(
                    self.store
                        .todos()
                        .create(&id, todo, u64::MAX)
                        .await
                        .expect("todo"),
                );
            }
            (id, stored)
        })
    }

    /// The owner's todos the filter selects, copied out of the rows.
    async fn find(&self, owner: &str, filter: &Filter) -> Result<Vec<Todo>, StoreError> {
        let mut found = Vec::new();
        self.store
            .todos()
            .visit(owner, filter, &mut |todo| found.push(Todo::from(todo)))
            .await?;
        Ok(found)
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
            let found = fixture.runtime.block_on(fixture.find(&owner, &filter)).expect("query");
            prop_assert_eq!(&found, &expected, "filter {:?}", filter);
            let count = fixture.runtime.block_on(fixture.store.todos().count(&owner, filter.condition.as_ref())).expect("count");
            let matching = stored.iter().filter(|todo| filter.condition.as_ref().is_none_or(|c| eval::matches(c, todo))).count();
            prop_assert_eq!(count, matching as u64);
            Ok(())
        })?;
    }
}

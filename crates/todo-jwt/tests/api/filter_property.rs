//! The todo SQL checked against the filter language's reference evaluator on a real database,
//! on the backend under test (any filter, any todos, regular expressions included: the two
//! engines must give the same todos for the same filter).

use proptest::prelude::*;
use todo_jwt::{
    filter::{Comparison, Condition, Field, FieldSet, Filter, Order, Scalar, eval, parse},
    store::{Database, Store, StoreError, Todo, TodoFields, User, UserRecord},
};

use crate::helpers::{TestDatabase, on_postgres};

fn text() -> impl Strategy<Value = String> {
    "[abAB%_ \n.]{0,3}"
}

fn todo_fields() -> impl Strategy<Value = TodoFields> {
    (
        "[abAB%_ \n.]{1,3}",
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
    // Regular expressions as a client writes them, through the validator.
    let regexp = (text_field(), pattern(), any::<bool>()).prop_map(|(field, body, insensitive)| {
        let written = if insensitive {
            format!("/{body}/i")
        } else {
            body
        };
        let tree = serde_json::json!({ field.name(): {"regexp": written} });
        parse::condition(&tree, "").expect("a valid pattern")
    });
    prop_oneof![6 => with_field, 2 => like, 1 => regexp, 1 => Just(Condition::Nothing)]
}

/// A regular expression in the documented dialect, over the test texts' alphabet.
fn pattern() -> impl Strategy<Value = String> {
    let atom = prop::sample::select(vec![
        "a", "b", "A", "B", ".", "%", "_", " ", "\\n", "\\.", "[ab]", "[^a]", "[A-b]", "\\s",
        "\\w", "\\d", "\\W",
    ])
    .prop_map(str::to_owned);
    let quantified = (
        atom,
        prop::sample::select(vec!["", "", "*", "+", "?", "{2}", "{1,2}", "{0,}", "*?"]),
    )
        .prop_map(|(atom, quantifier)| format!("{atom}{quantifier}"));
    let sequence = proptest::collection::vec(quantified, 0..4).prop_map(|atoms| atoms.concat());
    let term = sequence.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}|{b}")),
            (inner.clone(), prop::sample::select(vec!["", "*", "?"]))
                .prop_map(|(a, q)| format!("({a}){q}")),
            inner,
        ]
    });
    (any::<bool>(), term, any::<bool>()).prop_map(|(start, term, end)| {
        format!(
            "{}{term}{}",
            if start { "^" } else { "" },
            if end { "$" } else { "" }
        )
    })
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
    _database: Option<TestDatabase>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let test_database = on_postgres().then(|| runtime.block_on(TestDatabase::create()));
        let database = match &test_database {
            Some(test_database) => Database::Postgres {
                url: test_database.url.clone(),
                pool_size: 2,
            },
            None => Database::Sqlite(dir.path().join("filter.sqlite3")),
        };
        let store = runtime.block_on(Store::open(&database)).expect("store");
        Self {
            runtime,
            store,
            _dir: dir,
            _database: test_database,
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
            .visit(owner, filter, &mut |todo| {
                found.push(Todo::from(todo));
                std::ops::ControlFlow::Continue(())
            })
            .await?;
        Ok(found)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

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

/// A visitor that breaks stops the list there (a response out of memory reads no further row),
/// on the inline path and on the costly one (a `like`, read off the request threads), and the
/// store reads whole lists afterwards (on PostgreSQL the stream dropped mid-way leaves its
/// connection usable).
#[test]
fn a_list_stops_where_its_visitor_breaks() {
    let fixture = Fixture::new();
    let todos = (0..10)
        .map(|n| TodoFields {
            title: format!("t{n}"),
            desc: None,
            is_complete: None,
        })
        .collect();
    let (owner, _) = fixture.owner_with(todos);
    let costly = Filter {
        condition: Some(Condition::Like {
            field: Field::Title,
            pattern: "t%".to_owned(),
            negated: false,
            insensitive: false,
        }),
        ..Filter::default()
    };
    for filter in [Filter::default(), costly] {
        for _ in 0..3 {
            let mut visited = 0;
            fixture
                .runtime
                .block_on(fixture.store.todos().visit(&owner, &filter, &mut |_| {
                    visited += 1;
                    if visited == 3 {
                        std::ops::ControlFlow::Break(())
                    } else {
                        std::ops::ControlFlow::Continue(())
                    }
                }))
                .expect("visit");
            assert_eq!(visited, 3, "rows read after the break ({filter:?})");
            let all = fixture
                .runtime
                .block_on(fixture.find(&owner, &filter))
                .expect("whole list");
            assert_eq!(
                all.len(),
                10,
                "a whole list after a broken one ({filter:?})"
            );
        }
    }
}

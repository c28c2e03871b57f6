//! Parsing cases for the filter language. (The SQL it compiles to is checked against the
//! reference evaluator, [`super::eval`], by the property test in `tests/api/filter_property.rs`.)

use serde_json::{Value, json};

use super::{
    Comparison, Condition, Field, FieldSet, Filter, Order, Pattern, Scalar,
    parse::{self, Scope},
};

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
                source: "^[aA]".into()
            }
        ))
    );
    assert!(!problems(json!({"where": {"title": {"regexp": "/a/x"}}})).is_empty());
}

#[test]
fn patterns_expensive_by_construction_are_refused_before_they_run() {
    for pattern in ["a{10000}b", "a{100}{100}", "(a|b|c|d){500}"] {
        let found = problems(json!({"where": {"title": {"regexp": pattern}}}));
        assert!(
            found
                .iter()
                .any(|problem| problem.contains("valid regular expression")),
            "{pattern}: {found:?}"
        );
    }
    let long = format!("%{}", "A".repeat(300));
    for operator in ["like", "nlike", "ilike", "nilike", "regexp"] {
        let found = problems(json!({"where": {"title": {operator: long}}}));
        assert!(
            found
                .iter()
                .any(|problem| problem.contains("at most 256 characters")),
            "{operator}: {found:?}"
        );
    }
    // Everyday patterns are fine.
    for pattern in [
        "^buy (oat )?milk$",
        "/^[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}$/i",
        "\\d{4}-\\d{2}",
    ] {
        filter(json!({"where": {"title": {"regexp": pattern}}}));
    }
    filter(json!({"where": {"title": {"like": format!("%{}", "A".repeat(200))}}}));
}

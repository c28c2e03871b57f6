//! The statements as SQL text: values bound, never inlined; parameters numbered in order.

use super::{
    Dialect, FixedStatements,
    todos::{SelectParams, TodoSelect, select},
};
use crate::filter::{Condition, Field, Filter};

fn like(negated: bool) -> Filter {
    let like = Condition::Like {
        field: Field::Title,
        pattern: "a%".into(),
        negated,
        insensitive: false,
    };
    Filter {
        condition: Some(like),
        ..Filter::default()
    }
}

/// The text and how many values a built list binds.
fn built(select: TodoSelect<'_>) -> (String, usize) {
    match select.params {
        SelectParams::Values(values) => (select.sql.into_owned(), values.len()),
        SelectParams::Owner(_) => panic!("the fixed list: {}", select.sql),
    }
}

#[test]
fn values_are_bound_and_never_inlined() {
    let (sql, values) = built(select("owner-1", &like(false), Dialect::Sqlite));
    assert!(!sql.contains("owner-1") && !sql.contains("a%"), "{sql}");
    assert_eq!(values, 3, "{sql}");
    let (sql, values) = built(select("owner-1", &like(true), Dialect::Postgres));
    assert!(!sql.contains("owner-1") && !sql.contains("a%"), "{sql}");
    assert_eq!(values, 3, "{sql}");
}

#[test]
fn sqlite_pages_in_the_text_and_postgres_binds_them() {
    let page = Filter {
        limit: Some(20),
        skip: 40,
        ..Filter::default()
    };
    let sqlite = select("o", &page, Dialect::Sqlite);
    assert!(matches!(sqlite.params, SelectParams::Owner(_)));
    assert_eq!(
        sqlite.sql,
        r#"SELECT "id", "title", "description", "is_complete" FROM "todos" WHERE "owner_id" = ? ORDER BY "id" ASC LIMIT 20 OFFSET 40"#
    );
    let (sql, values) = built(select("o", &page, Dialect::Postgres));
    assert!(sql.ends_with("LIMIT $2 OFFSET $3"), "{sql}");
    assert_eq!(values, 3);
    let (sql, values) = built(select("o", &like(false), Dialect::Sqlite));
    assert!(!sql.contains("LIMIT"), "{sql}");
    assert_eq!(values, 3);
    let plain = select("o", &Filter::default(), Dialect::Postgres);
    assert!(matches!(plain.params, SelectParams::Owner(_)));
}

#[test]
fn long_or_lists_are_nested_not_chained() {
    let any = Condition::Any((0..1000).map(Condition::id_is).collect());
    let filter = Filter {
        condition: Some(any),
        ..Filter::default()
    };
    let (sql, values) = built(select("o", &filter, Dialect::Sqlite));
    assert_eq!(values, 1001, "every id bound, and the owner");
    // A chain of 1000 ORs would have no parenthesis inside the condition; a balanced tree
    // opens one per level, about log2(1000 / 8) + 1 deep.
    let depth = sql
        .chars()
        .scan(0_i32, |depth, c| {
            *depth += match c {
                '(' => 1,
                ')' => -1,
                _ => 0,
            };
            Some(*depth)
        })
        .max()
        .unwrap_or_default();
    assert!((5..=12).contains(&depth), "nesting depth {depth}");
}

#[test]
fn fixed_statements_number_their_parameters_in_order() {
    let postgres = FixedStatements::of(Dialect::Postgres);
    assert_eq!(
        postgres.todos.delete,
        r#"DELETE FROM "todos" WHERE "owner_id" = $1 AND "id" = $2 AND EXISTS(SELECT 1 FROM "users" WHERE "id" = $3 FOR NO KEY UPDATE)"#
    );
    // SQLite has no row locks: the owner is only checked there.
    assert_eq!(
        FixedStatements::of(Dialect::Sqlite).todos.delete,
        r#"DELETE FROM "todos" WHERE "owner_id" = ? AND "id" = ? AND EXISTS(SELECT 1 FROM "users" WHERE "id" = ? )"#
    );
    assert!(
        postgres
            .users
            .insert
            .ends_with("VALUES ($1, $2, $3, $4, $5, $6)"),
        "{}",
        postgres.users.insert
    );
    let sqlite = FixedStatements::of(Dialect::Sqlite);
    assert_eq!(
        sqlite.todos.list,
        r#"SELECT "id", "title", "description", "is_complete" FROM "todos" WHERE "owner_id" = ? ORDER BY "id" ASC"#
    );
    assert!(
        sqlite
            .users
            .insert
            .ends_with("VALUES (?, ?, ?, ?, ?, ?, unixepoch())"),
        "{}",
        sqlite.users.insert
    );
    assert_eq!(
        sqlite.todos.insert,
        r#"INSERT INTO "todos" ("owner_id", "title", "description", "is_complete", "version") SELECT "id", ?, ?, ?, ? FROM "users" WHERE "id" = ? AND "todo_count" < ?  RETURNING "id""#
    );
    assert_eq!(
        postgres.todos.insert,
        r#"INSERT INTO "todos" ("owner_id", "title", "description", "is_complete", "version") SELECT "id", $1, $2, $3, $4 FROM "users" WHERE "id" = $5 AND "todo_count" < $6 FOR NO KEY UPDATE RETURNING "id""#
    );
    assert_eq!(
        postgres.todos.insert_with_id,
        r#"INSERT INTO "todos" ("id", "owner_id", "title", "description", "is_complete", "version") OVERRIDING SYSTEM VALUE SELECT $1, "id", $2, $3, $4, $5 FROM "users" WHERE "id" = $6 AND "todo_count" < $7 FOR NO KEY UPDATE RETURNING "id""#
    );
    assert!(!sqlite.todos.insert_with_id.contains("OVERRIDING"));
    assert!(sqlite.todos.follow_ids.is_none() && postgres.todos.follow_ids.is_some());
    assert!(
        postgres
            .users
            .replace_password_hash
            .ends_with(r#"WHERE "id" = $2 AND "password_hash" = $3"#),
        "{}",
        postgres.users.replace_password_hash
    );
    assert_eq!(
        postgres.sessions.delete,
        r#"DELETE FROM "sessions" WHERE "user_id" = $1 AND "id" = $2"#
    );
    assert_eq!(
        postgres.throttle.hit,
        r#"INSERT INTO "throttle" ("key", "window_start", "count", "expires_at") VALUES ($1, $2, 1, $3) ON CONFLICT ("key") DO UPDATE SET "count" = CASE WHEN "throttle"."expires_at" <= excluded."window_start" THEN 1 ELSE "throttle"."count" + 1 END, "window_start" = CASE WHEN "throttle"."expires_at" <= excluded."window_start" THEN excluded."window_start" ELSE "throttle"."window_start" END, "expires_at" = CASE WHEN "throttle"."expires_at" <= excluded."window_start" THEN excluded."expires_at" ELSE "throttle"."expires_at" END RETURNING "count", "expires_at""#
    );
}

/// The audit and key statements, once spelled by hand per engine, now built like the others.
#[test]
fn audit_and_key_statements_are_built_for_each_dialect() {
    let postgres = FixedStatements::of(Dialect::Postgres);
    assert_eq!(
        postgres.audit.add,
        r#"INSERT INTO "audit_events" ("at", "event", "user_id", "email", "ip", "user_agent", "request_id", "session_id") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#
    );
    assert_eq!(
        postgres.audit.list,
        r#"SELECT "id", "at", "event", "user_id", "email", "ip", "user_agent", "request_id", "session_id" FROM "audit_events" WHERE "user_id" = $1 AND "id" < $2 ORDER BY "id" DESC LIMIT $3"#
    );
    assert_eq!(
        postgres.audit.expired,
        r#"DELETE FROM "audit_events" WHERE "at" < $1"#
    );
    assert_eq!(
        postgres.keys.list,
        r#"SELECT "kid", "generation", "algorithm", "public_key", "sealed_private_key", "created_at", "signs_from" FROM "signing_keys" ORDER BY "generation" ASC"#
    );
    assert_eq!(
        postgres.keys.add,
        r#"INSERT INTO "signing_keys" ("kid", "generation", "algorithm", "public_key", "sealed_private_key", "created_at", "signs_from") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT  DO NOTHING"#
    );
    let sqlite = FixedStatements::of(Dialect::Sqlite);
    assert!(
        sqlite.audit.list.ends_with("LIMIT ?"),
        "{}",
        sqlite.audit.list
    );
    assert_eq!(
        sqlite.keys.remove,
        r#"DELETE FROM "signing_keys" WHERE "kid" = ?"#
    );
}

#[test]
fn audit_trim_and_count_bind_every_value() {
    for (dialect, placeholder) in [(Dialect::Sqlite, "?"), (Dialect::Postgres, "$4")] {
        let audit = &FixedStatements::of(dialect).audit;
        assert!(
            audit.trim.contains("LIMIT") && audit.trim.contains(&format!("OFFSET {placeholder}")),
            "{}",
            audit.trim
        );
        assert!(audit.count.contains("ON CONFLICT"), "{}", audit.count);
        assert!(audit.count.contains("+ 1"), "{}", audit.count);
    }
}

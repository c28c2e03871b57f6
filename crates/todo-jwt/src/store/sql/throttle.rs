//! The throttle counters' statements.

use sea_query::{Expr, ExprTrait, OnConflict, Query};

use super::{Dialect, parameter, text};
use crate::store::schema::throttle;

/// The throttle counters' statements.
#[derive(Debug)]
pub struct ThrottleSql {
    /// Counts a hit (key, now, window end): a new window when there is none or it has ended;
    /// `RETURNING` the count and the window's end.
    pub hit: String,
    /// A counter (key): count and window end.
    pub get: String,
    /// `DELETE` a counter (key).
    pub clear: String,
    /// Takes one hit back from a counter (key), never below zero.
    pub release: String,
    /// `DELETE` the counters whose window ended (now).
    pub expired: String,
}

impl ThrottleSql {
    pub(super) fn new(dialect: Dialect) -> Self {
        let table = throttle::TABLE;
        let restart = format!(
            "\"{table}\".\"{expires}\" <= excluded.\"{start}\"",
            expires = throttle::EXPIRES_AT,
            start = throttle::WINDOW_START
        );
        // The column's new value: `restarted` when the window starts over, else one more hit.
        let on_hit = |column: &str, restarted: &str| {
            Expr::cust(format!(
                "CASE WHEN {restart} THEN {restarted} ELSE \"{table}\".\"{column}\"{more} END",
                more = if column == throttle::COUNT {
                    " + 1"
                } else {
                    ""
                }
            ))
        };
        let excluded = |column: &str| format!("excluded.\"{column}\"");
        let mut hit = Query::insert();
        hit.into_table(table)
            .columns([
                throttle::KEY,
                throttle::WINDOW_START,
                throttle::COUNT,
                throttle::EXPIRES_AT,
            ])
            .values_panic([parameter(), parameter(), Expr::cust("1"), parameter()])
            .on_conflict(
                OnConflict::column(throttle::KEY)
                    .value(throttle::COUNT, on_hit(throttle::COUNT, "1"))
                    .value(
                        throttle::WINDOW_START,
                        on_hit(throttle::WINDOW_START, &excluded(throttle::WINDOW_START)),
                    )
                    .value(
                        throttle::EXPIRES_AT,
                        on_hit(throttle::EXPIRES_AT, &excluded(throttle::EXPIRES_AT)),
                    )
                    .to_owned(),
            )
            .returning(Query::returning().columns([throttle::COUNT, throttle::EXPIRES_AT]));
        let mut get = Query::select();
        get.columns([throttle::COUNT, throttle::EXPIRES_AT])
            .from(table)
            .and_where(Expr::col(throttle::KEY).eq(parameter()));
        let mut clear = Query::delete();
        clear
            .from_table(table)
            .and_where(Expr::col(throttle::KEY).eq(parameter()));
        let mut release = Query::update();
        release
            .table(table)
            .value(throttle::COUNT, Expr::col(throttle::COUNT).sub(1))
            .and_where(Expr::col(throttle::KEY).eq(parameter()))
            .and_where(Expr::col(throttle::COUNT).gt(0));
        let mut expired = Query::delete();
        expired
            .from_table(table)
            .and_where(Expr::col(throttle::EXPIRES_AT).lte(parameter()));
        Self {
            hit: text(&hit, dialect),
            get: text(&get, dialect),
            clear: text(&clear, dialect),
            release: text(&release, dialect),
            expired: text(&expired, dialect),
        }
    }
}

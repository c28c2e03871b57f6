//! The audit events' statements, and the counts of attempts that name no account.

use sea_query::{Expr, ExprTrait, OnConflict, Order as SqlOrder, Query};

use super::{Dialect, parameter, text};
use crate::store::schema::{audit_counts as counts, audit_events as audit};

/// The audit events' statements.
#[derive(Debug)]
pub struct AuditSql {
    /// `INSERT` an event (at, event, user_id, email, ip, user_agent, request_id, session_id).
    pub add: String,
    /// A user's events below an id, newest first (user id, before, limit), in
    /// [`audit::EVENT`]'s column order.
    pub list: String,
    /// `DELETE` the events from before a time (at).
    pub expired: String,
    /// `DELETE` a user's events but the newest (user id, user id, 1, how many are kept): those
    /// up to the first one beyond the kept, found through the `(user_id, id)` index.
    pub trim: String,
    /// Counts an attempt (kind, client, window start, at, email): a new row for the window,
    /// or one more on its row.
    pub count: String,
    /// `DELETE` the counts of windows that began before a time (at).
    pub counts_expired: String,
}

impl AuditSql {
    pub(super) fn new(dialect: Dialect) -> Self {
        let mut add = Query::insert();
        add.into_table(audit::TABLE)
            .columns(audit::EVENT[1..].iter().copied())
            .values_panic(audit::EVENT[1..].iter().map(|_| parameter()));
        let mut list = Query::select();
        list.columns(audit::EVENT)
            .from(audit::TABLE)
            .and_where(Expr::col(audit::USER_ID).eq(parameter()))
            .and_where(Expr::col(audit::ID).lt(parameter()))
            .order_by(audit::ID, SqlOrder::Desc)
            // A placeholder too: the number is discarded with the other values.
            .limit(0);
        let mut expired = Query::delete();
        expired
            .from_table(audit::TABLE)
            .and_where(Expr::col(audit::AT).lt(parameter()));
        // The id of the newest event beyond those kept (none while there are no more).
        let mut first_beyond = Query::select();
        first_beyond
            .column(audit::ID)
            .from(audit::TABLE)
            .and_where(Expr::col(audit::USER_ID).eq(parameter()))
            .order_by(audit::ID, SqlOrder::Desc)
            .limit(0)
            .offset(0);
        let mut trim = Query::delete();
        trim.from_table(audit::TABLE)
            .and_where(Expr::col(audit::USER_ID).eq(parameter()))
            .and_where(
                Expr::col(audit::ID).lte(Expr::SubQuery(None, Box::new(first_beyond.into()))),
            );
        let mut count = Query::insert();
        count
            .into_table(counts::TABLE)
            .columns([
                counts::KIND,
                counts::CLIENT,
                counts::WINDOW_START,
                counts::COUNT,
                counts::LAST_AT,
                counts::LAST_EMAIL,
            ])
            .values_panic([
                parameter(),
                parameter(),
                parameter(),
                Expr::cust("1"),
                parameter(),
                parameter(),
            ])
            .on_conflict(
                OnConflict::columns([counts::KIND, counts::CLIENT, counts::WINDOW_START])
                    .value(
                        counts::COUNT,
                        Expr::cust(format!(
                            "\"{table}\".\"{column}\" + 1",
                            table = counts::TABLE,
                            column = counts::COUNT
                        )),
                    )
                    .update_columns([counts::LAST_AT, counts::LAST_EMAIL])
                    .to_owned(),
            );
        let mut counts_expired = Query::delete();
        counts_expired
            .from_table(counts::TABLE)
            .and_where(Expr::col(counts::WINDOW_START).lt(parameter()));
        Self {
            add: text(&add, dialect),
            list: text(&list, dialect),
            expired: text(&expired, dialect),
            trim: text(&trim, dialect),
            count: text(&count, dialect),
            counts_expired: text(&counts_expired, dialect),
        }
    }
}

//! The audit events' statements.

use sea_query::{Expr, ExprTrait, Order as SqlOrder, Query};

use super::{Dialect, parameter, text};
use crate::store::schema::audit_events as audit;

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
        Self {
            add: text(&add, dialect),
            list: text(&list, dialect),
            expired: text(&expired, dialect),
        }
    }
}

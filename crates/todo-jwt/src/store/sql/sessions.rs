//! The sessions' and refresh tokens' statements.

use sea_query::{Cond, Expr, ExprTrait, LockType, Order as SqlOrder, Query};

use super::{Dialect, parameter, text};
use crate::store::schema::{refresh_tokens, sessions, users};

/// The sessions' and refresh tokens' statements.
#[derive(Debug)]
pub struct SessionSql {
    /// `INSERT` a session (id, created_at, last_used_at, expires_at, user_agent, ip, then the
    /// user's id and the password hash the login checked): only while the user still has that
    /// hash, so a login racing a password change or an account deletion starts nothing (on
    /// PostgreSQL the user's row is share-locked, so the change waits and then ends it).
    pub insert: String,
    /// The user of a session (session id, user id, now): only while it has not expired.
    pub find_user: String,
    /// A page of a user's live sessions, newest first (by start, then by id), those after a
    /// position (user id, now, its start, its start, its id, limit), in
    /// [`sessions::SESSION`]'s order.
    pub list: String,
    /// When a user's session started (user id, session id): a page's position.
    pub started: String,
    /// `DELETE` one session of a user (user id, session id).
    pub delete: String,
    /// `DELETE` every session of a user (user id).
    pub delete_for_user: String,
    /// `DELETE` the sessions expired at a time (now).
    pub delete_expired: String,
    /// `DELETE` a user's sessions but one (user id, the session kept).
    pub delete_others: String,
    /// `DELETE` a user's sessions but one and the newest others (user id, the session kept,
    /// user id, the session kept, how many others are kept). Newest by start time: sessions
    /// started within the same second are told apart by id, not by order.
    pub delete_beyond: String,
    /// `UPDATE` a session's `last_used_at` (now, session id).
    pub touch: String,
    /// `INSERT` a refresh token (hash, session id, created_at, rotation).
    pub insert_refresh_token: String,
    /// A refresh token of a live session (hash, now): session id, spent_at, rotation, then
    /// the user's columns.
    pub find_refresh_token: String,
    /// `DELETE` a session's refresh tokens from before a rotation (session id, rotation).
    pub delete_refresh_tokens_before: String,
    /// Locks the session a refresh token belongs to (hash), for the transaction (PostgreSQL;
    /// SQLite's single writer serialises already).
    pub lock_token_session: String,
    /// Marks a refresh token spent, if it is not yet (spent_at, hash).
    pub spend_refresh_token: String,
}

impl SessionSql {
    pub(super) fn new(dialect: Dialect) -> Self {
        let columns = sessions::SESSION;
        let mut checked_user = Query::select();
        checked_user
            .expr(parameter())
            .column(users::ID)
            .exprs([
                parameter(),
                parameter(),
                parameter(),
                parameter(),
                parameter(),
            ])
            .from(users::TABLE)
            .and_where(Expr::col(users::ID).eq(parameter()))
            .and_where(Expr::col(users::PASSWORD_HASH).eq(parameter()))
            .lock(LockType::Share);
        let mut insert = Query::insert();
        insert
            .into_table(sessions::TABLE)
            .columns(columns)
            .select_from(checked_user)
            .expect("seven values for seven columns");
        let mut find_user = Query::select();
        find_user
            .columns(users::USER.map(|column| (users::TABLE, column)))
            .from(sessions::TABLE)
            .inner_join(
                users::TABLE,
                Expr::col((users::TABLE, users::ID)).equals((sessions::TABLE, sessions::USER_ID)),
            )
            .and_where(Expr::col((sessions::TABLE, sessions::ID)).eq(parameter()))
            .and_where(Expr::col((sessions::TABLE, sessions::USER_ID)).eq(parameter()))
            .and_where(Expr::col((sessions::TABLE, sessions::EXPIRES_AT)).gt(parameter()));
        let mut list = Query::select();
        list.columns(columns)
            .from(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()))
            .and_where(Expr::col(sessions::EXPIRES_AT).gt(parameter()))
            .cond_where(
                Cond::any()
                    .add(Expr::col(sessions::CREATED_AT).lt(parameter()))
                    .add(
                        Cond::all()
                            .add(Expr::col(sessions::CREATED_AT).eq(parameter()))
                            .add(Expr::col(sessions::ID).lt(parameter())),
                    ),
            )
            .order_by(sessions::CREATED_AT, SqlOrder::Desc)
            .order_by(sessions::ID, SqlOrder::Desc)
            // A placeholder too: the number is discarded with the other values.
            .limit(0);
        let mut started = Query::select();
        started
            .column(sessions::CREATED_AT)
            .from(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()))
            .and_where(Expr::col(sessions::ID).eq(parameter()));
        let mut delete_for_user = Query::delete();
        delete_for_user
            .from_table(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()));
        let mut delete = delete_for_user.clone();
        delete.and_where(Expr::col(sessions::ID).eq(parameter()));
        let mut delete_others = delete_for_user.clone();
        delete_others.and_where(Expr::col(sessions::ID).ne(parameter()));
        let mut newest = Query::select();
        newest
            .column(sessions::ID)
            .from(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()))
            .and_where(Expr::col(sessions::ID).ne(parameter()))
            .order_by(sessions::CREATED_AT, SqlOrder::Desc)
            .order_by(sessions::ID, SqlOrder::Desc)
            .limit(0);
        let mut delete_beyond = Query::delete();
        delete_beyond
            .from_table(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()))
            .and_where(Expr::col(sessions::ID).ne(parameter()))
            .and_where(Expr::col(sessions::ID).not_in_subquery(newest));
        let mut delete_expired = Query::delete();
        delete_expired
            .from_table(sessions::TABLE)
            .and_where(Expr::col(sessions::EXPIRES_AT).lte(parameter()));
        let mut touch = Query::update();
        touch
            .table(sessions::TABLE)
            .value(sessions::LAST_USED_AT, parameter())
            .and_where(Expr::col(sessions::ID).eq(parameter()));
        let mut insert_refresh_token = Query::insert();
        insert_refresh_token
            .into_table(refresh_tokens::TABLE)
            .columns([
                refresh_tokens::HASH,
                refresh_tokens::SESSION_ID,
                refresh_tokens::CREATED_AT,
                refresh_tokens::ROTATION,
            ])
            .values_panic([parameter(), parameter(), parameter(), parameter()]);
        let mut find_refresh_token = Query::select();
        find_refresh_token
            .column((refresh_tokens::TABLE, refresh_tokens::SESSION_ID))
            .column((refresh_tokens::TABLE, refresh_tokens::SPENT_AT))
            .column((refresh_tokens::TABLE, refresh_tokens::ROTATION))
            .columns(users::USER.map(|column| (users::TABLE, column)))
            .from(refresh_tokens::TABLE)
            .inner_join(
                sessions::TABLE,
                Expr::col((sessions::TABLE, sessions::ID))
                    .equals((refresh_tokens::TABLE, refresh_tokens::SESSION_ID)),
            )
            .inner_join(
                users::TABLE,
                Expr::col((users::TABLE, users::ID)).equals((sessions::TABLE, sessions::USER_ID)),
            )
            .and_where(Expr::col((refresh_tokens::TABLE, refresh_tokens::HASH)).eq(parameter()))
            .and_where(Expr::col((sessions::TABLE, sessions::EXPIRES_AT)).gt(parameter()));
        // The session's row, taken before the token is read (PostgreSQL): a logout deletes
        // the session (and, by cascade, its tokens), so both take the session first and cannot
        // deadlock; and the token read after it is the latest committed one, so concurrent
        // refreshes of one token find it spent.
        let mut token_session = Query::select();
        token_session
            .column(refresh_tokens::SESSION_ID)
            .from(refresh_tokens::TABLE)
            .and_where(Expr::col(refresh_tokens::HASH).eq(parameter()));
        let mut lock_token_session = Query::select();
        lock_token_session
            .column(sessions::ID)
            .from(sessions::TABLE)
            .and_where(Expr::col(sessions::ID).in_subquery(token_session))
            .lock(LockType::Update);
        let mut delete_refresh_tokens_before = Query::delete();
        delete_refresh_tokens_before
            .from_table(refresh_tokens::TABLE)
            .and_where(Expr::col(refresh_tokens::SESSION_ID).eq(parameter()))
            .and_where(Expr::col(refresh_tokens::ROTATION).lt(parameter()));
        let mut spend_refresh_token = Query::update();
        spend_refresh_token
            .table(refresh_tokens::TABLE)
            .value(refresh_tokens::SPENT_AT, parameter())
            .and_where(Expr::col(refresh_tokens::HASH).eq(parameter()))
            .and_where(Expr::col(refresh_tokens::SPENT_AT).is_null());
        Self {
            insert: text(&insert, dialect),
            find_user: text(&find_user, dialect),
            list: text(&list, dialect),
            started: text(&started, dialect),
            delete: text(&delete, dialect),
            delete_for_user: text(&delete_for_user, dialect),
            delete_expired: text(&delete_expired, dialect),
            delete_others: text(&delete_others, dialect),
            delete_beyond: text(&delete_beyond, dialect),
            touch: text(&touch, dialect),
            insert_refresh_token: text(&insert_refresh_token, dialect),
            find_refresh_token: text(&find_refresh_token, dialect),
            delete_refresh_tokens_before: text(&delete_refresh_tokens_before, dialect),
            lock_token_session: text(&lock_token_session, dialect),
            spend_refresh_token: text(&spend_refresh_token, dialect),
        }
    }
}

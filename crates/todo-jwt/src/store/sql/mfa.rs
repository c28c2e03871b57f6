//! The second factor's statements.

use sea_query::{Asterisk, Expr, ExprTrait, Func, OnConflict, Query};

use super::{Dialect, parameter, text};
use crate::store::schema::{
    mfa_recovery_codes as codes, mfa_totp as totp, refresh_tokens, sessions, users,
};

/// The second factor's statements.
#[derive(Debug)]
pub struct MfaSql {
    /// An account's factor: secret, activated_at, last_step, failures (user id).
    pub find: String,
    /// Starts an enrolment, or starts it over while it is not active (user id, secret, now).
    pub enrol: String,
    /// Activates a waiting enrolment of a secret with a code of a later step than any accepted
    /// (last_step, activated_at, user id, secret, step).
    pub activate: String,
    /// Counts a wrong app code (user id).
    pub fail: String,
    /// Clears the count of wrong app codes (user id).
    pub clear_failures: String,
    /// Takes the account's row (user id).
    pub lock_user: String,
    /// How many refresh tokens a session has (session id).
    pub refresh_tokens: String,
    /// Upgrades a waiting session (expires_at, session id).
    pub upgrade_session: String,
    /// Accepts a code of an active factor of a later step than any accepted (last_step, user
    /// id, step).
    pub accept: String,
    /// `DELETE` an account's factor (user id).
    pub remove: String,
    /// `DELETE` an account's recovery codes (user id).
    pub remove_codes: String,
    /// `INSERT` a recovery code (hash, user id).
    pub add_code: String,
    /// Uses a recovery code once (used_at, hash, user id).
    pub use_code: String,
    /// How many unused recovery codes an account has (user id).
    pub codes_left: String,
    /// A session's assurance level (session id).
    pub session_aal: String,
    /// Sets a session's assurance level (aal, session id).
    pub set_session_aal: String,
}

impl MfaSql {
    pub(super) fn new(dialect: Dialect) -> Self {
        let later_step = || {
            Expr::col(totp::LAST_STEP)
                .is_null()
                .or(Expr::col(totp::LAST_STEP).lt(parameter()))
        };
        let mut find = Query::select();
        find.columns([
            totp::SECRET,
            totp::ACTIVATED_AT,
            totp::LAST_STEP,
            totp::FAILURES,
        ])
        .from(totp::TABLE)
        .and_where(Expr::col(totp::USER_ID).eq(parameter()));
        let mut enrol = Query::insert();
        enrol
            .into_table(totp::TABLE)
            .columns([totp::USER_ID, totp::SECRET, totp::CREATED_AT])
            .values_panic([parameter(), parameter(), parameter()])
            // An active factor is never replaced this way: it is removed first (with the
            // password and a code).
            .on_conflict(
                OnConflict::column(totp::USER_ID)
                    .update_columns([totp::SECRET, totp::CREATED_AT])
                    .value(totp::LAST_STEP, Expr::cust("NULL"))
                    .action_and_where(Expr::col((totp::TABLE, totp::ACTIVATED_AT)).is_null())
                    .to_owned(),
            );
        let mut activate = Query::update();
        activate
            .table(totp::TABLE)
            .value(totp::LAST_STEP, parameter())
            .value(totp::ACTIVATED_AT, parameter())
            .and_where(Expr::col(totp::USER_ID).eq(parameter()))
            .and_where(Expr::col(totp::ACTIVATED_AT).is_null())
            // The very secret the code was checked against: not one enrolled meanwhile.
            .and_where(Expr::col(totp::SECRET).eq(parameter()))
            .and_where(later_step());
        let mut accept = Query::update();
        accept
            .table(totp::TABLE)
            .value(totp::LAST_STEP, parameter())
            .value(totp::FAILURES, Expr::cust("0"))
            .and_where(Expr::col(totp::USER_ID).eq(parameter()))
            .and_where(Expr::col(totp::ACTIVATED_AT).is_not_null())
            .and_where(later_step());
        let mut fail = Query::update();
        fail.table(totp::TABLE)
            .value(
                totp::FAILURES,
                Expr::cust(format!("\"{}\" + 1", totp::FAILURES)),
            )
            .and_where(Expr::col(totp::USER_ID).eq(parameter()));
        let mut clear_failures = Query::update();
        clear_failures
            .table(totp::TABLE)
            .value(totp::FAILURES, Expr::cust("0"))
            .and_where(Expr::col(totp::USER_ID).eq(parameter()));
        let mut lock_user = Query::update();
        lock_user
            .table(users::TABLE)
            .value(users::EMAIL_KEY, Expr::col(users::EMAIL_KEY))
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut refresh_count = Query::select();
        refresh_count
            .expr(Func::count(Expr::col(Asterisk)))
            .from(refresh_tokens::TABLE)
            .and_where(Expr::col(refresh_tokens::SESSION_ID).eq(parameter()));
        let mut upgrade_session = Query::update();
        upgrade_session
            .table(sessions::TABLE)
            .value(sessions::AAL, Expr::cust("'aal2'"))
            .value(sessions::EXPIRES_AT, parameter())
            .and_where(Expr::col(sessions::ID).eq(parameter()))
            .and_where(Expr::col(sessions::AAL).eq(Expr::cust("'aal1'")));
        let mut remove = Query::delete();
        remove
            .from_table(totp::TABLE)
            .and_where(Expr::col(totp::USER_ID).eq(parameter()));
        let mut remove_codes = Query::delete();
        remove_codes
            .from_table(codes::TABLE)
            .and_where(Expr::col(codes::USER_ID).eq(parameter()));
        let mut add_code = Query::insert();
        add_code
            .into_table(codes::TABLE)
            .columns([codes::HASH, codes::USER_ID])
            .values_panic([parameter(), parameter()]);
        let mut use_code = Query::update();
        use_code
            .table(codes::TABLE)
            .value(codes::USED_AT, parameter())
            .and_where(Expr::col(codes::HASH).eq(parameter()))
            .and_where(Expr::col(codes::USER_ID).eq(parameter()))
            .and_where(Expr::col(codes::USED_AT).is_null());
        let mut codes_left = Query::select();
        codes_left
            .expr(Func::count(Expr::col(Asterisk)))
            .from(codes::TABLE)
            .and_where(Expr::col(codes::USER_ID).eq(parameter()))
            .and_where(Expr::col(codes::USED_AT).is_null());
        let mut session_aal = Query::select();
        session_aal
            .column(sessions::AAL)
            .from(sessions::TABLE)
            .and_where(Expr::col(sessions::ID).eq(parameter()));
        let mut set_session_aal = Query::update();
        set_session_aal
            .table(sessions::TABLE)
            .value(sessions::AAL, parameter())
            .and_where(Expr::col(sessions::ID).eq(parameter()));
        Self {
            find: text(&find, dialect),
            enrol: text(&enrol, dialect),
            activate: text(&activate, dialect),
            fail: text(&fail, dialect),
            clear_failures: text(&clear_failures, dialect),
            lock_user: text(&lock_user, dialect),
            refresh_tokens: text(&refresh_count, dialect),
            upgrade_session: text(&upgrade_session, dialect),
            accept: text(&accept, dialect),
            remove: text(&remove, dialect),
            remove_codes: text(&remove_codes, dialect),
            add_code: text(&add_code, dialect),
            use_code: text(&use_code, dialect),
            codes_left: text(&codes_left, dialect),
            session_aal: text(&session_aal, dialect),
            set_session_aal: text(&set_session_aal, dialect),
        }
    }
}

//! The mail statements: the outbox and the single-use tokens sent by mail.

use sea_query::{
    Asterisk, Expr, ExprTrait, Func, LockBehavior, LockType, OnConflict, Order as SqlOrder, Query,
};

use super::{Dialect, parameter, text};
use crate::store::schema::{email_tokens as tokens, outbox, users};

/// How many messages one claim takes at most.
pub const CLAIM_BATCH: u64 = 20;

/// The mail statements.
#[derive(Debug)]
pub struct MailSql {
    /// `INSERT` a message (recipient, subject, body, created_at, next_attempt_at).
    pub add: String,
    /// Claims the due messages (claimed until, now, [`CLAIM_BATCH`]): moves their next attempt past the claim and
    /// `RETURNING` them in [`outbox::MESSAGE`]'s order; on PostgreSQL rows another instance has
    /// locked are skipped.
    pub claim: String,
    /// Marks a message sent and empties its body (sent_at, id).
    pub sent: String,
    /// Counts a failed attempt and sets the next (next_attempt_at, last_error, id).
    pub retry: String,
    /// Gives a message up after its last attempt, emptying its body (failed_at, last_error, id).
    pub failed: String,
    /// How many messages wait to be sent.
    pub depth: String,
    /// How many messages were given up.
    pub given_up: String,
    /// `INSERT` a token (hash, user_id, purpose, created_at, expires_at, new_email,
    /// account_key), replacing the account's token for the purpose: only the newest is valid.
    pub add_token: String,
    /// Uses a token (used_at, hash, purpose, now) if unused, unexpired and its account still
    /// has the address it had then, `RETURNING` its account and new address.
    pub use_token: String,
    /// The account of a token that would work (hash, purpose, now), without using it.
    pub token_works: String,
    /// `DELETE` an account's tokens (user id).
    pub drop_tokens: String,
    /// `DELETE` an account's token for a purpose (user id, purpose).
    pub drop_token: String,
    /// Marks an account's address proven, once (email_verified_at, id).
    pub verify_user: String,
    /// When an account's address was proven (id).
    pub verified_at: String,
}

impl MailSql {
    pub(super) fn new(dialect: Dialect) -> Self {
        // Constants written into the text, not bound: every parameter is one the caller passes.
        let emptied = || Expr::cust("''");
        let one_more = || Expr::cust(format!("\"{}\" + 1", outbox::ATTEMPTS));
        let pending = || {
            Expr::col(outbox::SENT_AT)
                .is_null()
                .and(Expr::col(outbox::FAILED_AT).is_null())
        };
        let mut add = Query::insert();
        add.into_table(outbox::TABLE)
            .columns([
                outbox::RECIPIENT,
                outbox::SUBJECT,
                outbox::BODY,
                outbox::CREATED_AT,
                outbox::NEXT_ATTEMPT_AT,
            ])
            .values_panic([
                parameter(),
                parameter(),
                parameter(),
                parameter(),
                parameter(),
            ]);
        let mut due = Query::select();
        due.column(outbox::ID)
            .from(outbox::TABLE)
            .and_where(pending())
            .and_where(Expr::col(outbox::NEXT_ATTEMPT_AT).lte(parameter()))
            .order_by(outbox::ID, SqlOrder::Asc)
            .limit(CLAIM_BATCH)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        let mut claim = Query::update();
        claim
            .table(outbox::TABLE)
            .value(outbox::NEXT_ATTEMPT_AT, parameter())
            .and_where(Expr::col(outbox::ID).in_subquery(due))
            .returning(Query::returning().columns(outbox::MESSAGE));
        let mut sent = Query::update();
        sent.table(outbox::TABLE)
            .value(outbox::SENT_AT, parameter())
            .value(outbox::BODY, emptied())
            .and_where(Expr::col(outbox::ID).eq(parameter()));
        let mut retry = Query::update();
        retry
            .table(outbox::TABLE)
            .value(outbox::ATTEMPTS, one_more())
            .value(outbox::NEXT_ATTEMPT_AT, parameter())
            .value(outbox::LAST_ERROR, parameter())
            .and_where(Expr::col(outbox::ID).eq(parameter()));
        let mut failed = Query::update();
        failed
            .table(outbox::TABLE)
            .value(outbox::ATTEMPTS, one_more())
            .value(outbox::FAILED_AT, parameter())
            .value(outbox::LAST_ERROR, parameter())
            .value(outbox::BODY, emptied())
            .and_where(Expr::col(outbox::ID).eq(parameter()));
        let mut depth = Query::select();
        depth
            .expr(Func::count(Expr::col(Asterisk)))
            .from(outbox::TABLE)
            .and_where(pending());
        let mut given_up = Query::select();
        given_up
            .expr(Func::count(Expr::col(Asterisk)))
            .from(outbox::TABLE)
            .and_where(Expr::col(outbox::FAILED_AT).is_not_null());
        let mut add_token = Query::insert();
        add_token
            .into_table(tokens::TABLE)
            .columns([
                tokens::HASH,
                tokens::USER_ID,
                tokens::PURPOSE,
                tokens::CREATED_AT,
                tokens::EXPIRES_AT,
                tokens::NEW_EMAIL,
                tokens::ACCOUNT_KEY,
            ])
            .values_panic([
                parameter(),
                parameter(),
                parameter(),
                parameter(),
                parameter(),
                parameter(),
                parameter(),
            ])
            // The account's token for this purpose is replaced, in one statement: of concurrent
            // requests, the last to commit holds the only valid token (and, as the row's lock
            // made it wait for the others, it wrote the newest message).
            .on_conflict(
                OnConflict::columns([tokens::USER_ID, tokens::PURPOSE])
                    .update_columns([
                        tokens::HASH,
                        tokens::CREATED_AT,
                        tokens::EXPIRES_AT,
                        tokens::NEW_EMAIL,
                        tokens::ACCOUNT_KEY,
                    ])
                    .value(tokens::USED_AT, Expr::cust("NULL"))
                    .to_owned(),
            );
        // A token works only while its account has the address it had when the token was
        // issued (a reset asked just before the account moved must not reach the old mailbox
        // in a working state); tokens from before the column was added have none.
        let same_address = || {
            Expr::cust(format!(
                "(\"{key}\" IS NULL OR \"{key}\" = (SELECT \"{email_key}\" FROM \"{users}\" \
                 WHERE \"{users}\".\"{id}\" = \"{tokens}\".\"{user_id}\"))",
                key = tokens::ACCOUNT_KEY,
                email_key = users::EMAIL_KEY,
                users = users::TABLE,
                id = users::ID,
                tokens = tokens::TABLE,
                user_id = tokens::USER_ID,
            ))
        };
        let mut use_token = Query::update();
        use_token
            .table(tokens::TABLE)
            .value(tokens::USED_AT, parameter())
            .and_where(Expr::col(tokens::HASH).eq(parameter()))
            .and_where(Expr::col(tokens::PURPOSE).eq(parameter()))
            .and_where(Expr::col(tokens::USED_AT).is_null())
            .and_where(Expr::col(tokens::EXPIRES_AT).gt(parameter()))
            .and_where(same_address())
            .returning(Query::returning().columns([tokens::USER_ID, tokens::NEW_EMAIL]));
        let mut token_works = Query::select();
        token_works
            .column(tokens::USER_ID)
            .from(tokens::TABLE)
            .and_where(Expr::col(tokens::HASH).eq(parameter()))
            .and_where(Expr::col(tokens::PURPOSE).eq(parameter()))
            .and_where(Expr::col(tokens::USED_AT).is_null())
            .and_where(Expr::col(tokens::EXPIRES_AT).gt(parameter()))
            .and_where(same_address());
        let mut drop_tokens = Query::delete();
        drop_tokens
            .from_table(tokens::TABLE)
            .and_where(Expr::col(tokens::USER_ID).eq(parameter()));
        let mut drop_token = drop_tokens.clone();
        drop_token.and_where(Expr::col(tokens::PURPOSE).eq(parameter()));
        let mut verify_user = Query::update();
        verify_user
            .table(users::TABLE)
            .value(
                users::EMAIL_VERIFIED_AT,
                Func::coalesce([Expr::col(users::EMAIL_VERIFIED_AT), parameter()]),
            )
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut verified_at = Query::select();
        verified_at
            .column(users::EMAIL_VERIFIED_AT)
            .from(users::TABLE)
            .and_where(Expr::col(users::ID).eq(parameter()));
        Self {
            add: text(&add, dialect),
            claim: text(&claim, dialect),
            sent: text(&sent, dialect),
            retry: text(&retry, dialect),
            failed: text(&failed, dialect),
            depth: text(&depth, dialect),
            given_up: text(&given_up, dialect),
            add_token: text(&add_token, dialect),
            use_token: text(&use_token, dialect),
            token_works: text(&token_works, dialect),
            drop_tokens: text(&drop_tokens, dialect),
            drop_token: text(&drop_token, dialect),
            verify_user: text(&verify_user, dialect),
            verified_at: text(&verified_at, dialect),
        }
    }
}

//! The users' statements.

use sea_query::{Expr, ExprTrait, Query};

use super::{Dialect, parameter, text};
use crate::store::schema::users;

/// The users' statements.
#[derive(Debug)]
pub struct UserSql {
    /// `INSERT` a user (id, email, email_key, username, realm, password_hash).
    pub insert: String,
    /// A user by id.
    pub find: String,
    /// A user and password hash by email key.
    pub find_by_email_key: String,
    /// `UPDATE` a user's password hash (hash, user id).
    pub update_password_hash: String,
    /// `UPDATE` a user's password hash while it is the one checked (hash, user id, checked).
    pub replace_password_hash: String,
    /// Moves a user to a new address, proven (email, email_key, email_verified_at, user id).
    pub move_email: String,
    /// `DELETE` a user (user id); their todos, sessions and tokens go with them.
    pub delete: String,
}

impl UserSql {
    pub(super) fn new(dialect: Dialect) -> Self {
        let mut columns = vec![
            users::ID,
            users::EMAIL,
            users::EMAIL_KEY,
            users::USERNAME,
            users::REALM,
            users::PASSWORD_HASH,
        ];
        let mut values = vec![parameter(); columns.len()];
        if dialect == Dialect::Sqlite {
            // PostgreSQL's column has a default; SQLite's STRICT integer column does not.
            columns.push(users::CREATED_AT);
            values.push(Expr::cust("unixepoch()"));
        }
        let mut insert = Query::insert();
        // As many values as columns, built right here: this cannot panic.
        insert
            .into_table(users::TABLE)
            .columns(columns)
            .values_panic(values);
        let mut find = Query::select();
        find.columns(users::USER)
            .from(users::TABLE)
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut find_by_email_key = Query::select();
        find_by_email_key
            .columns(users::USER)
            .column(users::PASSWORD_HASH)
            .from(users::TABLE)
            .and_where(Expr::col(users::EMAIL_KEY).eq(parameter()));
        let mut update_password_hash = Query::update();
        update_password_hash
            .table(users::TABLE)
            .value(users::PASSWORD_HASH, parameter())
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut replace_password_hash = update_password_hash.clone();
        replace_password_hash.and_where(Expr::col(users::PASSWORD_HASH).eq(parameter()));
        let mut move_email = Query::update();
        move_email
            .table(users::TABLE)
            .value(users::EMAIL, parameter())
            .value(users::EMAIL_KEY, parameter())
            .value(users::EMAIL_VERIFIED_AT, parameter())
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut delete = Query::delete();
        delete
            .from_table(users::TABLE)
            .and_where(Expr::col(users::ID).eq(parameter()));
        Self {
            insert: text(&insert, dialect),
            find: text(&find, dialect),
            find_by_email_key: text(&find_by_email_key, dialect),
            update_password_hash: text(&update_password_hash, dialect),
            replace_password_hash: text(&replace_password_hash, dialect),
            move_email: text(&move_email, dialect),
            delete: text(&delete, dialect),
        }
    }
}

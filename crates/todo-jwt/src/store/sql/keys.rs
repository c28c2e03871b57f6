//! The signing keys' statements.

use sea_query::{Expr, ExprTrait, LockType, OnConflict, Order as SqlOrder, Query};

use super::{Dialect, parameter, text};
use crate::store::schema::signing_keys as keys;

/// The signing keys' statements.
#[derive(Debug)]
pub struct KeySql {
    /// Every key, by generation, in [`keys::KEY`]'s column order.
    pub list: String,
    /// `INSERT` a key (kid, generation, algorithm, public_key, sealed_private_key, created_at,
    /// signs_from) unless its id or generation is taken.
    pub add: String,
    /// `DELETE` a key (kid).
    pub remove: String,
    /// Every key, as [`KeySql::list`], locked until the transaction ends (PostgreSQL; SQLite's
    /// one writer serialises already): instances re-sealing at once take turns.
    pub list_locked: String,
    /// `UPDATE` a key's sealed material (sealed_private_key, kid).
    pub reseal: String,
}

impl KeySql {
    pub(super) fn new(dialect: Dialect) -> Self {
        let mut list = Query::select();
        list.columns(keys::KEY)
            .from(keys::TABLE)
            .order_by(keys::GENERATION, SqlOrder::Asc);
        let mut add = Query::insert();
        add.into_table(keys::TABLE)
            .columns(keys::KEY)
            .values_panic(keys::KEY.map(|_| parameter()))
            .on_conflict(OnConflict::new().do_nothing().to_owned());
        let mut remove = Query::delete();
        remove
            .from_table(keys::TABLE)
            .and_where(Expr::col(keys::KID).eq(parameter()));
        let mut list_locked = list.clone();
        list_locked.lock(LockType::Update);
        let mut reseal = Query::update();
        reseal
            .table(keys::TABLE)
            .value(keys::SEALED_PRIVATE_KEY, parameter())
            .and_where(Expr::col(keys::KID).eq(parameter()));
        Self {
            list: text(&list, dialect),
            add: text(&add, dialect),
            remove: text(&remove, dialect),
            list_locked: text(&list_locked, dialect),
            reseal: text(&reseal, dialect),
        }
    }
}

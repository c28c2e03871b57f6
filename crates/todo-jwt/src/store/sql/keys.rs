//! The signing keys' statements.

use sea_query::{Expr, ExprTrait, OnConflict, Order as SqlOrder, Query};

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
        Self {
            list: text(&list, dialect),
            add: text(&add, dialect),
            remove: text(&remove, dialect),
        }
    }
}

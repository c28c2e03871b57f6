//! Behind a connection pooler in transaction mode (PgBouncer's `pool_mode = transaction`),
//! chosen with `pooler=transaction` in the database URL.
//!
//! There, each transaction (and each statement outside one) may run on another server
//! connection, so nothing may rely on a connection's state between them:
//! - statements are unnamed (parsed, bound and run in one exchange, with their parameters'
//!   types given), never prepared once and run later by name;
//! - the query budget is not a connection setting (PgBouncer refuses the startup `options`
//!   that carry it otherwise): each transaction sets it with `SET LOCAL`, and a costly
//!   statement outside a transaction runs in one of its own to get it. Other single
//!   statements use the role's or the database's `statement_timeout` (see the README);
//! - migrations hold their advisory lock for their transaction only, as everywhere.

use crate::store::StoreError;

/// How the service's connections reach PostgreSQL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pooling {
    /// Each connection is one server session (PostgreSQL itself, or a pooler in session mode).
    #[default]
    Session,
    /// Through a pooler in transaction mode.
    Transaction,
}

/// `url` without its `pooler` parameter, and the pooling it names.
pub fn split_url(url: &str) -> Result<(String, Pooling), StoreError> {
    let mut pooling = Pooling::Session;
    let url = super::take_params(url, |key, value| {
        if key != "pooler" {
            return Ok(false);
        }
        pooling = match value {
            "transaction" => Pooling::Transaction,
            "session" | "none" => Pooling::Session,
            other => {
                return Err(StoreError::Url(
                    format!("pooler={other}: expected transaction, session or none").into(),
                ));
            }
        };
        Ok(true)
    })?;
    Ok((url, pooling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pooler_parameter_is_taken_out_of_the_url() {
        let (url, pooling) =
            split_url("postgres://u@h:6432/db?pooler=transaction&sslmode=disable").expect("ok");
        assert_eq!(
            (url.as_str(), pooling),
            (
                "postgres://u@h:6432/db?sslmode=disable",
                Pooling::Transaction
            )
        );
        let (url, pooling) = split_url("postgres://u@h/db").expect("ok");
        assert_eq!(
            (url.as_str(), pooling),
            ("postgres://u@h/db", Pooling::Session)
        );
        assert!(split_url("postgres://u@h/db?pooler=statement").is_err());
        // What is not ours is kept as written.
        let (url, _) =
            split_url("postgres://u@h/db?options=-c%20search_path%3Dx&pooler=transaction")
                .expect("ok");
        assert_eq!(url, "postgres://u@h/db?options=-c%20search_path%3Dx");
    }
}

//! Which database the settings name: PostgreSQL by its URL, SQLite by a path (the data
//! directory's file by default); any other kind of URL is refused.

use std::path::PathBuf;

use super::{Config, ConfigError, Database};

/// The database of `config`, PostgreSQL's with a pool of `pool_size` connections.
pub(super) fn database(config: &Config, pool_size: usize) -> Result<Database, ConfigError> {
    Ok(match config.database_url.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Database::Postgres {
                url: url.to_owned(),
                pool_size,
            }
        }
        Some(url) => Database::Sqlite(PathBuf::from(sqlite_path(url)?)),
        None => Database::Sqlite(config.data_dir.join("todo-jwt.sqlite3")),
    })
}

/// The SQLite file a database URL that is not PostgreSQL's names: `sqlite://path`,
/// `sqlite:path` or a plain path. Any other scheme is refused, naming what is accepted.
fn sqlite_path(url: &str) -> Result<&str, ConfigError> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(path);
    }
    // PostgreSQL's other form (`host=db user=app password=…`) was a file name here: refused,
    // and not echoed (it holds the password).
    if url.contains('=') && (url.contains(char::is_whitespace) || url.starts_with("host=")) {
        return Err(ConfigError::DatabaseConnectionString);
    }
    // A scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`) before a colon.
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|scheme| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
    match scheme {
        None => Ok(url),
        Some(scheme) => Err(ConfigError::DatabaseUrl {
            scheme: scheme.to_owned(),
            hint: if scheme.eq_ignore_ascii_case("postgres")
                || scheme.eq_ignore_ascii_case("postgresql")
            {
                "is PostgreSQL's, but its URL starts with postgres:// (lower case, two \
                 slashes): postgres://user[:password]@host[:port]/database"
            } else {
                "is not a database this service uses: write \
                 postgres://user[:password]@host[:port]/database for PostgreSQL, or a file path \
                 (or sqlite:path) for SQLite"
            },
        }),
    }
}

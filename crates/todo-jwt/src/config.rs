//! One typed configuration, from flags or `TODO_JWT_*` environment variables.

use std::{
    fs,
    io::{self, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use authn_jwt::{JwtConfig, JwtError, Key, KeySet};
use rand::RngCore;
use secrecy::SecretString;

pub use crate::store::Database;

/// The `iss` and `aud` of this service's tokens.
pub const TOKEN_ISSUER: &str = "todo-jwt";

/// The clock skew tolerated between instances on tokens' times.
pub const TOKEN_LEEWAY: Duration = Duration::from_secs(5);

pub use crate::ops::telemetry::LogFormat;

/// How the service runs. Every field has a flag and an environment variable; `--help` lists them.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// How log lines are written to stderr: `text` (colours only on a terminal) or `json`
    /// (one object a line). `RUST_LOG` sets the level (default `info`: a line per request).
    #[arg(long, global = true, env = "TODO_JWT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Address to listen on.
    #[arg(long, env = "TODO_JWT_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "TODO_JWT_PORT", default_value_t = 3000)]
    pub port: u16,

    /// Directory for the SQLite database and the generated secret; created if missing.
    #[arg(long, global = true, env = "TODO_JWT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "TODO_JWT_TOKEN_LIFETIME", default_value_t = 21_600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub token_lifetime: u64,

    /// Where the data lives: a `postgres://` URL selects PostgreSQL; an SQLite file path (or
    /// `sqlite:` URL) selects SQLite. Default: `<data-dir>/todo-jwt.sqlite3`.
    #[arg(
        long,
        global = true,
        env = "TODO_JWT_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Connections per instance to PostgreSQL (SQLite: one writer, one reader per thread).
    #[arg(
        long,
        global = true,
        env = "TODO_JWT_DB_POOL_SIZE",
        default_value_t = 16
    )]
    pub db_pool_size: usize,

    /// The time budget of one database statement, in milliseconds: a query that runs longer
    /// (a costly filter over long texts) is stopped and answered 503 `QUERY_TIMEOUT`.
    #[arg(long, global = true, env = "TODO_JWT_QUERY_TIMEOUT_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub query_timeout_ms: u64,

    /// Seconds a session (a login) lives at most; logout ends it sooner.
    #[arg(long, env = "TODO_JWT_SESSION_LIFETIME", default_value_t = 2_592_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub session_lifetime: u64,

    /// Whether `/refresh` rotates refresh tokens (a new one each time, the old one spent, a
    /// spent one presented again after the reuse interval ends the session). `false` is
    /// LoopBack's behaviour: a refresh token stays valid until its session ends, and
    /// `/refresh` answers only `{"accessToken"}`.
    #[arg(long, env = "TODO_JWT_REFRESH_ROTATION", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub refresh_rotation: bool,

    /// Seconds a spent refresh token may still be presented (a lost response, two tabs) and
    /// get the session's current one; after that, presenting it ends the session.
    #[arg(long, env = "TODO_JWT_REFRESH_REUSE_INTERVAL", default_value_t = 10)]
    pub refresh_reuse_interval: u64,

    /// Failed password checks for one email within the failure window before every attempt
    /// for it is 429 until the window ends (0: no limit).
    #[arg(long, env = "TODO_JWT_LOGIN_MAX_FAILURES", default_value_t = 10)]
    pub login_max_failures: u64,

    /// Seconds failed password checks are counted over, and an account stays locked.
    #[arg(long, env = "TODO_JWT_LOGIN_FAILURE_WINDOW", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub login_failure_window: u64,

    /// Requests a minute per client address to the credential endpoints and `/signup`
    /// (0: no limit).
    #[arg(long, env = "TODO_JWT_AUTH_RATE_LIMIT", default_value_t = 60)]
    pub auth_rate_limit: u64,

    /// Proxies (addresses or CIDRs, comma-separated) whose `X-Forwarded-For` names the client.
    #[arg(long, env = "TODO_JWT_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Milliseconds a password check may be expected to wait for a hashing thread; a login
    /// that would wait longer is 503 at once (0: never refused).
    #[arg(long, env = "TODO_JWT_MAX_HASH_WAIT_MS", default_value_t = 1_000)]
    pub max_hash_wait_ms: u64,

    /// Origins a browser app may call the API from, comma-separated
    /// (`https://app.example.com,http://localhost:5173`), or `*` for any (LoopBack's default).
    #[arg(long, env = "TODO_JWT_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,

    /// Connections open at once; more are closed as soon as they are accepted.
    #[arg(long, env = "TODO_JWT_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Seconds a request's head (request line and headers) may take to arrive; also how long
    /// an idle keep-alive connection stays open.
    #[arg(long, env = "TODO_JWT_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,

    /// Seconds a request's body may take to arrive (408 after that).
    #[arg(long, env = "TODO_JWT_BODY_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,

    /// Seconds a response may wait for a client that does not read it; then the connection
    /// closes (a client that stops reading would otherwise hold the response's memory).
    #[arg(long, env = "TODO_JWT_SEND_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub send_timeout: u64,

    /// MiB of request bodies buffered at once, over all requests (at least 1); a body that
    /// cannot get its share within the body timeout is 503.
    #[arg(long, env = "TODO_JWT_BODY_MEMORY_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_memory_mb: u64,

    /// MiB of list responses held at once, over all requests (at least 1): a client that does
    /// not read holds its list until the send timeout; beyond the budget a list is 503.
    #[arg(long, env = "TODO_JWT_RESPONSE_MEMORY_MB", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub response_memory_mb: u64,

    /// The longest todo title, in characters (LoopBack has no limit).
    #[arg(long, env = "TODO_JWT_MAX_TITLE_LENGTH", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_title_length: u64,

    /// The longest todo description, in characters (LoopBack has no limit).
    #[arg(long, env = "TODO_JWT_MAX_DESC_LENGTH", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_desc_length: u64,

    /// The most todos one user may have (LoopBack has no limit).
    #[arg(long, env = "TODO_JWT_MAX_TODOS_PER_USER", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_todos_per_user: u64,

    /// Seconds between automatic backups of the SQLite database into `<data-dir>/backups`
    /// (0: only on `SIGUSR1`).
    #[arg(long, env = "TODO_JWT_BACKUP_INTERVAL", default_value_t = 0)]
    pub backup_interval: u64,

    /// How many backups are kept in `<data-dir>/backups` (the oldest are removed).
    #[arg(long, env = "TODO_JWT_BACKUP_KEEP", default_value_t = 7,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub backup_keep: u64,

    /// Days audit events are kept (older ones are removed every 10 minutes).
    #[arg(long, env = "TODO_JWT_AUDIT_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_retention_days: u64,

    /// Serve `GET /metrics` (Prometheus' text format). `false`: the route answers 404 and
    /// nothing is recorded.
    #[arg(long, env = "TODO_JWT_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,

    /// When set, `GET /metrics` requires `Authorization: Bearer <this token>` (401 without).
    /// Without it the metrics are public: set it, or keep the route from the internet at the
    /// proxy, wherever the service is reachable by others.
    #[arg(long, env = "TODO_JWT_METRICS_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub metrics_token: Option<SecretString>,

    /// The algorithm new access tokens are signed with: `EdDSA` (Ed25519: others verify our
    /// tokens with the public keys at `/.well-known/jwks.json`) or `HS256` (the secret;
    /// LoopBack's). Unset: what the installation signs with (EdDSA for a new one; HS256 for
    /// one that had users before signing keys were stored). Changing it adds a key of the new
    /// algorithm; tokens signed before stay valid until they expire.
    #[arg(long, env = "TODO_JWT_ALGORITHM", value_enum)]
    pub jwt_algorithm: Option<crate::keys::JwtAlgorithm>,

    /// Seconds between reads of the signing keys (to pick up another instance's rotation and
    /// remove keys whose tokens have expired).
    #[arg(long, env = "TODO_JWT_KEYS_RELOAD_INTERVAL", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub keys_reload_interval: u64,

    /// Seconds between a rotation (`todo-jwt rotate-keys`, `SIGUSR2`) and the first token the
    /// new key signs: it is published at once, so every instance and every verifier caching
    /// the JWK Set (for up to 300 s) knows it first.
    #[arg(
        long,
        global = true,
        env = "TODO_JWT_KEY_ACTIVATION_DELAY",
        default_value_t = 600,
        value_parser = clap::value_parser!(u64).range(0..=31_536_000)
    )]
    pub key_activation_delay: u64,

    /// Verified access tokens remembered (0: none), so a token presented again is not
    /// verified again; never past its expiry, and the session is still checked each time.
    #[arg(long, env = "TODO_JWT_TOKEN_CACHE_SIZE", default_value_t = 10_000)]
    pub token_cache_size: u64,

    /// The service secret, at least 32 bytes: the HS256 key, and what refresh tokens are
    /// derived with and private signing keys sealed with. Prefer the environment variable over the
    /// flag (flags show in `ps`). When unset, a random secret is generated once and kept in
    /// `<data-dir>/jwt-secret` (mode 0600).
    #[arg(long, global = true, env = "TODO_JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub secret: Option<SecretString>,
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value.to_owned()))
}

/// Why the service cannot start with this configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A trusted proxy that is neither an address nor a CIDR.
    #[error("TODO_JWT_TRUSTED_PROXIES: {0:?} is not an address or a CIDR (10.0.0.0/8, ::1)")]
    TrustedProxy(String),
    /// A CORS origin that is not `scheme://host[:port]`.
    #[error(
        "TODO_JWT_CORS_ORIGINS: {0:?} is not an origin; write scheme://host[:port] (for \
         example https://app.example.com), comma-separated, or * for any"
    )]
    CorsOrigin(String),
    /// PostgreSQL means several instances, which must share one configured secret.
    #[error(
        "with PostgreSQL every instance must use the same token secret, so one must be \
         configured: set TODO_JWT_SECRET (or --secret) to the same random value of at least \
         32 bytes on every instance, e.g. `openssl rand -hex 32`"
    )]
    SharedSecretRequired,
    /// The configured secret is too short to be safe.
    #[error(
        "the JWT secret must be at least {min} bytes (it has {0}); set TODO_JWT_SECRET to a long \
         random value, e.g. `openssl rand -hex 32`",
        min = authn_jwt::MIN_SECRET_BYTES
    )]
    SecretTooShort(usize),
    /// The secret file can be read by other local users.
    #[error(
        "{} is readable by other users (mode {mode:o}): anyone who can read it can sign tokens \
         for any account; run `chmod 600 {}`",
        path.display(), path.display()
    )]
    SecretFileExposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The configured secret repeats a few characters: easy to guess whatever its length.
    #[error(
        "the JWT secret has only {0} different characters; use a random value, e.g. \
         `openssl rand -hex 32`"
    )]
    SecretTooSimple(usize),
    /// The token keys are unusable for another reason.
    #[error("the token keys are unusable")]
    Keys(#[source] JwtError),
    /// The data directory or the secret file could not be used.
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Where the secret in force came from; logged at start (the secret itself never is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// `--secret` or `TODO_JWT_SECRET`.
    Configured,
    /// Read from the data directory, generated by an earlier start.
    Stored,
    /// Generated now and stored in the data directory.
    Generated,
}

impl Config {
    /// The configuration with defaults, for tests and embedding: a data directory and port 0.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            log_format: LogFormat::Text,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            data_dir: data_dir.into(),
            token_lifetime: 21_600,
            database_url: None,
            db_pool_size: 16,
            query_timeout_ms: 2_000,
            session_lifetime: 2_592_000,
            refresh_rotation: true,
            refresh_reuse_interval: 10,
            cors_origins: "*".to_owned(),
            max_hash_wait_ms: 1_000,
            login_max_failures: 10,
            login_failure_window: 900,
            auth_rate_limit: 60,
            trusted_proxies: String::new(),
            max_connections: 1024,
            header_timeout: 10,
            body_timeout: 10,
            send_timeout: 30,
            body_memory_mb: 64,
            response_memory_mb: 128,
            max_title_length: 2_000,
            max_desc_length: 20_000,
            max_todos_per_user: 10_000,
            metrics: true,
            metrics_token: None,
            backup_interval: 0,
            audit_retention_days: 90,
            backup_keep: 7,
            jwt_algorithm: None,
            keys_reload_interval: 10,
            key_activation_delay: 600,
            token_cache_size: 10_000,
            secret: None,
        }
    }

    /// The address to bind.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The database the configuration names.
    pub fn database(&self) -> Database {
        match self.database_url.as_deref() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Database::Postgres {
                    url: url.to_owned(),
                    pool_size: self.db_pool_size,
                }
            }
            Some(url) => {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .unwrap_or(url);
                Database::Sqlite(PathBuf::from(path))
            }
            None => Database::Sqlite(self.data_dir.join("todo-jwt.sqlite3")),
        }
    }

    /// The bounds on each request's database work. Costly reads (pattern matches) get half
    /// the cores, at least one, so the other half always serves everything else.
    pub fn store_limits(&self) -> crate::store::Limits {
        let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
        crate::store::Limits {
            query_timeout: Duration::from_millis(self.query_timeout_ms),
            costly_reads: (cores / 2).max(1),
        }
    }

    /// The rate limits of the credential endpoints.
    pub fn throttle_limits(&self) -> Result<crate::throttle::ThrottleLimits, ConfigError> {
        let trusted_proxies = self
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|proxy| !proxy.is_empty())
            .map(|proxy| {
                proxy
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| proxy.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ConfigError::TrustedProxy(proxy.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(crate::throttle::ThrottleLimits {
            max_failures: self.login_max_failures,
            failure_window: self.login_failure_window,
            per_minute: self.auth_rate_limit,
            trusted_proxies,
        })
    }

    /// The allowed CORS origins; empty for any (`*`).
    pub fn cors_origins(&self) -> Result<Vec<axum::http::HeaderValue>, ConfigError> {
        let list = self.cors_origins.trim();
        if list == "*" {
            return Ok(Vec::new());
        }
        list.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                // An origin is a scheme and a host (and port), nothing after: what browsers
                // send in `Origin`, compared byte for byte.
                let shaped = origin.split_once("://").is_some_and(|(scheme, rest)| {
                    matches!(scheme, "http" | "https")
                        && !rest.is_empty()
                        && !rest.contains(['/', ' '])
                });
                match axum::http::HeaderValue::from_str(origin) {
                    Ok(value) if shaped => Ok(value),
                    _ => Err(ConfigError::CorsOrigin(origin.to_owned())),
                }
            })
            .collect()
    }

    /// The bounds on connections.
    pub fn connection_limits(&self) -> crate::http::server::ConnectionLimits {
        crate::http::server::ConnectionLimits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_timeout: Duration::from_secs(self.header_timeout),
            send_timeout: Duration::from_secs(self.send_timeout),
        }
    }

    /// What one user may store.
    pub fn todo_limits(&self) -> crate::todos::TodoLimits {
        let length = |limit: u64| usize::try_from(limit).unwrap_or(usize::MAX);
        crate::todos::TodoLimits {
            title: length(self.max_title_length),
            desc: length(self.max_desc_length),
            per_user: self.max_todos_per_user,
        }
    }

    /// The bounds on request bodies.
    pub fn response_memory(&self) -> crate::http::response::ResponseMemory {
        crate::http::response::ResponseMemory::new(
            usize::try_from(self.response_memory_mb.saturating_mul(1024 * 1024))
                .unwrap_or(usize::MAX),
        )
    }

    /// How request bodies may be received.
    pub fn body_limits(&self) -> crate::http::body::BodyLimits {
        let memory =
            usize::try_from(self.body_memory_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        crate::http::body::BodyLimits::new(Duration::from_secs(self.body_timeout), memory)
    }

    /// Creates the data directory if needed.
    ///
    /// Created readable by its owner only (0700): it holds password hashes, todos and the
    /// generated secret. (An existing directory keeps its mode; its files are 0600 anyway.)
    pub fn ensure_data_dir(&self) -> Result<(), ConfigError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.data_dir)
            .map_err(|source| ConfigError::Io {
                action: "cannot create the data directory",
                path: self.data_dir.clone(),
                source,
            })
    }

    /// The secret: configured, or stored in (or generated into) the data directory.
    fn resolve_secret(&self) -> Result<(SecretString, SecretSource), ConfigError> {
        match &self.secret {
            Some(secret) => Ok((secret.clone(), SecretSource::Configured)),
            None if matches!(self.database(), Database::Postgres { .. }) => {
                Err(ConfigError::SharedSecretRequired)
            }
            None => load_or_generate_secret(&self.data_dir.join("jwt-secret")),
        }
    }

    /// The key refresh tokens are derived with: from the same secret, so every instance
    /// derives the same (call after [`Config::jwt`], which creates a generated secret).
    pub fn refresh_key(&self) -> Result<crate::sessions::RefreshKey, ConfigError> {
        let (secret, _) = self.resolve_secret()?;
        Ok(crate::sessions::RefreshKey::from_secret(&secret))
    }

    /// The service secret (see [`Config::secret`]), checked for length and variety.
    pub fn service_secret(&self) -> Result<(SecretString, SecretSource), ConfigError> {
        let (secret, source) = self.resolve_secret()?;
        Key::hs256(&secret).map_err(|error| match error {
            JwtError::SecretTooShort(length) => ConfigError::SecretTooShort(length),
            JwtError::SecretTooSimple(distinct) => ConfigError::SecretTooSimple(distinct),
            other => ConfigError::Keys(other),
        })?;
        Ok((secret, source))
    }

    /// What the keyring needs (call after [`Config::service_secret`]).
    pub fn key_options(&self) -> Result<crate::keys::KeyOptions, ConfigError> {
        let (secret, _) = self.service_secret()?;
        Ok(crate::keys::KeyOptions {
            secret,
            algorithm: self.jwt_algorithm,
            lifetime: Duration::from_secs(self.token_lifetime),
            leeway: TOKEN_LEEWAY,
            activation_delay: Duration::from_secs(self.key_activation_delay),
            reload_interval: Duration::from_secs(self.keys_reload_interval),
            shared: matches!(self.database(), Database::Postgres { .. }),
        })
    }

    /// The token configuration over `keys`.
    pub fn jwt(&self, keys: KeySet) -> JwtConfig {
        let mut jwt = JwtConfig::new(keys, TOKEN_ISSUER, TOKEN_ISSUER);
        jwt.lifetime = Duration::from_secs(self.token_lifetime);
        jwt.leeway = TOKEN_LEEWAY;
        jwt.cache_capacity = usize::try_from(self.token_cache_size).unwrap_or(usize::MAX);
        jwt
    }
}

/// Refuses a secret file that others can read (or write).
fn refuse_exposed(path: &Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|source| ConfigError::Io {
                action: "cannot read the secret file",
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::SecretFileExposed {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}

/// Reads the stored secret, or creates it: 256 random bits, hex-encoded, readable by the owner
/// only. `create_new` means two processes starting at once cannot both write one.
fn load_or_generate_secret(path: &Path) -> Result<(SecretString, SecretSource), ConfigError> {
    let io_error = |action| {
        move |source| ConfigError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    match fs::read_to_string(path) {
        Ok(stored) => {
            refuse_exposed(path)?;
            return Ok((
                SecretString::from(stored.trim().to_owned()),
                SecretSource::Stored,
            ));
        }
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            return Err(io_error("cannot read the secret file")(error));
        }
        Err(_) => {}
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io_error("cannot write the secret file"))?;
            Ok((SecretString::from(secret), SecretSource::Generated))
        }
        // Another instance won the race: use its secret.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            let stored =
                fs::read_to_string(path).map_err(io_error("cannot read the secret file"))?;
            Ok((
                SecretString::from(stored.trim().to_owned()),
                SecretSource::Stored,
            ))
        }
        Err(error) => Err(io_error("cannot create the secret file")(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_kept_private_and_reused() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::for_data_dir(dir.path());
        let (_, source) = config.service_secret().expect("generated");
        assert_eq!(source, SecretSource::Generated);
        let read = || fs::read_to_string(dir.path().join("jwt-secret")).expect("stored");
        let first = read();
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("jwt-secret"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (_, source) = config.service_secret().expect("stored");
        assert_eq!(source, SecretSource::Stored);
        let (stored, _) = load_or_generate_secret(&dir.path().join("jwt-secret")).expect("stored");
        assert_eq!(stored.expose_secret(), first);
    }

    #[test]
    fn the_database_url_selects_the_engine() {
        let mut config = Config::for_data_dir("data");
        assert_eq!(
            config.database(),
            Database::Sqlite(PathBuf::from("data/todo-jwt.sqlite3"))
        );
        config.database_url = Some("postgres://postgres@localhost/todo".into());
        assert!(matches!(
            config.database(),
            Database::Postgres { pool_size: 16, .. }
        ));
        config.database_url = Some("sqlite:/tmp/x.db".into());
        assert_eq!(
            config.database(),
            Database::Sqlite(PathBuf::from("/tmp/x.db"))
        );
        config.database_url = Some("other.db".into());
        assert_eq!(
            config.database(),
            Database::Sqlite(PathBuf::from("other.db"))
        );
    }

    #[test]
    fn postgres_without_a_configured_secret_is_refused() {
        let mut config = Config::for_data_dir("unused");
        config.database_url = Some("postgres://postgres@localhost/todo".into());
        let error = config.service_secret().expect_err("refused");
        assert!(error.to_string().contains("TODO_JWT_SECRET"), "{error}");
    }

    #[test]
    fn the_data_directory_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::for_data_dir(dir.path().join("nested/data"));
        config.ensure_data_dir().expect("created");
        let mode = fs::metadata(&config.data_dir)
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_secret_file_others_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwt-secret");
        fs::write(&path, "0123456789abcdef0123456789abcdef0123456789abcdef").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let config = Config::for_data_dir(dir.path());
        let error = config.service_secret().expect_err("refused").to_string();
        assert!(
            error.contains("chmod 600") && error.contains("644"),
            "{error}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(config.service_secret().is_ok());
    }

    #[test]
    fn a_secret_of_few_different_characters_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwt-secret");
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&path)
            .and_then(|mut file| file.write_all("a".repeat(42).as_bytes()))
            .expect("write");
        let config = Config::for_data_dir(dir.path());
        let error = config.service_secret().expect_err("refused").to_string();
        assert!(error.contains("only 1 different"), "{error}");
        let mut configured = Config::for_data_dir("unused");
        configured.secret = Some(SecretString::from("abababababababababababababababab"));
        assert!(matches!(
            configured.service_secret(),
            Err(ConfigError::SecretTooSimple(2))
        ));
    }

    #[test]
    fn a_short_configured_secret_is_refused() {
        let mut config = Config::for_data_dir("unused");
        config.secret = Some(SecretString::from("short"));
        assert!(matches!(
            config.service_secret(),
            Err(ConfigError::SecretTooShort(5))
        ));
    }
}

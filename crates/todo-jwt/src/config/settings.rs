//! [`Settings`]: the configuration checked and typed. Built first, before the port is bound or
//! the data directory touched, so a mistake in any setting (a number out of range, a CORS
//! origin with a path, a proxy that is no address) stops the start with a message naming it
//! and nothing written. Each layer's bounds are then read from here.

use std::{fs, net::SocketAddr, ops::RangeInclusive, path::PathBuf, time::Duration};

use authn_jwt::{JwtConfig, KeySet};
use axum::http::HeaderValue;
use secrecy::SecretString;

use super::{
    Config, ConfigError, Database,
    database::database,
    lists::{cors_origins, trusted_proxies},
    ranges,
};
use crate::{
    http::{body::BodyLimits, response::ResponseMemory, server::ConnectionLimits},
    keys::{JwtAlgorithm, KeyOptions},
    store,
    throttle::ThrottleLimits,
    todos::TodoLimits,
};

/// The `iss` and `aud` of this service's tokens.
pub const TOKEN_ISSUER: &str = "todo-jwt";

/// The clock skew tolerated between instances on tokens' times.
pub const TOKEN_LEEWAY: Duration = Duration::from_secs(5);

/// The configuration, validated: typed durations and sizes, parsed lists.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address to bind.
    pub address: SocketAddr,
    /// The data directory (SQLite database, generated secret, backups).
    pub data_dir: PathBuf,
    /// The database and its engine.
    pub database: Database,
    /// The bounds on each request's database work.
    pub store: store::Limits,
    /// The rate limits of the credential endpoints.
    pub throttle: ThrottleLimits,
    /// The allowed CORS origins; empty for any (`*`).
    pub cors_origins: Vec<HeaderValue>,
    /// The bounds on connections.
    pub connections: ConnectionLimits,
    /// How long the service drains (serving, not ready) before it stops accepting.
    pub drain_period: Duration,
    /// What one user may store.
    pub todos: TodoLimits,
    /// Bytes of list responses held at once.
    pub response_memory: usize,
    /// Whether todo writes must carry `If-Match` (428 without).
    pub require_if_match: bool,
    /// Bytes of serialised list answers kept.
    pub list_cache: u64,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Bytes of request bodies buffered at once.
    pub body_memory: usize,
    /// The lifetime of access tokens.
    pub token_lifetime: Duration,
    /// Verified access tokens remembered.
    pub token_cache_size: usize,
    /// The longest a session lives.
    pub session_lifetime: Duration,
    /// The most live sessions an account keeps.
    pub max_sessions: u64,
    /// Whether refresh tokens rotate.
    pub refresh_rotation: bool,
    /// How long a spent refresh token may still be presented.
    pub refresh_reuse_interval: Duration,
    /// The longest a password check may be expected to wait for a thread.
    pub max_hash_wait: Duration,
    /// How long audit events are kept.
    pub audit_retention: Duration,
    /// Where mail leaves through, who it is from, where its links point.
    pub mail: super::MailSettings,
    /// How often the SQLite database is backed up (`None`: on `SIGUSR1` only).
    pub backup_interval: Option<Duration>,
    /// How many backups are kept.
    pub backup_keep: usize,
    /// Whether `GET /metrics` is served.
    pub metrics: bool,
    /// The token `GET /metrics` requires, if any.
    pub metrics_token: Option<SecretString>,
    /// The algorithm new tokens are signed with (`None`: the installation's).
    pub jwt_algorithm: Option<JwtAlgorithm>,
    /// How often the signing keys are read again.
    pub keys_reload_interval: Duration,
    /// How long after a rotation the new key signs.
    pub key_activation_delay: Duration,
    /// The configured secret, if any (otherwise one in the data directory).
    pub(super) secret: Option<SecretString>,
    /// Whether a configured secret that looks chosen by a person is used anyway.
    pub(super) allow_guessable_secret: bool,
}

/// `value` of the setting `name`, if within `range`.
fn within(name: &'static str, value: u64, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange { name, value, range })
    }
}

/// A prefix length (every range fits a `u8`).
fn prefix(name: &'static str, value: u64, range: RangeInclusive<u64>) -> Result<u8, ConfigError> {
    within(name, value, range).map(|bits| u8::try_from(bits).unwrap_or(u8::MAX))
}

/// A count or size as `usize` (every range fits it on the 64-bit targets served).
fn size(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

const MIB: u64 = 1024 * 1024;

impl Settings {
    /// Checks every setting of `config`; the first problem found is the error.
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        let seconds = |name, value, range| within(name, value, range).map(Duration::from_secs);
        let millis = |name, value, range| within(name, value, range).map(Duration::from_millis);
        let pool_size = u64::try_from(config.db_pool_size).unwrap_or(u64::MAX);
        let pool_size = size(within(
            "TODO_JWT_DB_POOL_SIZE",
            pool_size,
            ranges::DB_POOL_SIZE,
        )?);
        let database = database(config, pool_size)?;
        let cores = cores();
        let io_timeout = |name, value| seconds(name, value, ranges::IO_TIMEOUT);
        let memory = |name, value| within(name, value, ranges::MEMORY_MB).map(|mb| size(mb * MIB));
        let text = |name, value| within(name, value, ranges::TEXT_LENGTH).map(size);
        let backup_interval = seconds(
            "TODO_JWT_BACKUP_INTERVAL",
            config.backup_interval,
            ranges::BACKUP_INTERVAL,
        )?;
        let retention_days = within(
            "TODO_JWT_AUDIT_RETENTION_DAYS",
            config.audit_retention_days,
            ranges::AUDIT_RETENTION_DAYS,
        )?;
        let throttle = ThrottleLimits {
            max_failures: within(
                "TODO_JWT_LOGIN_MAX_FAILURES",
                config.login_max_failures,
                ranges::LOGIN_MAX_FAILURES,
            )?,
            failure_window: within(
                "TODO_JWT_LOGIN_FAILURE_WINDOW",
                config.login_failure_window,
                ranges::LOGIN_FAILURE_WINDOW,
            )?,
            per_minute: within(
                "TODO_JWT_AUTH_RATE_LIMIT",
                config.auth_rate_limit,
                ranges::AUTH_RATE_LIMIT,
            )?,
            refusals_per_second: within(
                "TODO_JWT_REFUSALS_PER_SECOND",
                config.refusals_per_second,
                ranges::REFUSALS_PER_SECOND,
            )?,
            trusted_proxies: trusted_proxies(&config.trusted_proxies)?,
            ipv4_prefix: prefix(
                "TODO_JWT_IPV4_PREFIX",
                config.ipv4_prefix,
                ranges::IPV4_PREFIX,
            )?,
            ipv6_prefix: prefix(
                "TODO_JWT_IPV6_PREFIX",
                config.ipv6_prefix,
                ranges::IPV6_PREFIX,
            )?,
        };
        let address = SocketAddr::new(config.host, config.port);
        Ok(Self {
            mail: super::MailSettings::new(config)?,
            address,
            data_dir: config.data_dir.clone(),
            database,
            store: store::Limits {
                query_timeout: millis(
                    "TODO_JWT_QUERY_TIMEOUT_MS",
                    config.query_timeout_ms,
                    ranges::QUERY_TIMEOUT_MS,
                )?,
                // Costly reads (pattern matches) get half the cores, at least one, so the
                // other half always serves everything else.
                costly_reads: (cores / 2).max(1),
                events_per_account: within(
                    "TODO_JWT_MAX_EVENTS_PER_ACCOUNT",
                    config.max_events_per_account,
                    ranges::EVENTS_PER_ACCOUNT,
                )?,
            },
            cors_origins: cors_origins(&config.cors_origins)?,
            connections: ConnectionLimits {
                max_connections: size(within(
                    "TODO_JWT_MAX_CONNECTIONS",
                    config.max_connections,
                    ranges::MAX_CONNECTIONS,
                )?),
                header_timeout: io_timeout("TODO_JWT_HEADER_TIMEOUT", config.header_timeout)?,
                per_address: size(within(
                    "TODO_JWT_MAX_CONNECTIONS_PER_ADDRESS",
                    config.max_connections_per_address,
                    ranges::MAX_CONNECTIONS_PER_ADDRESS,
                )?),
                exempt: throttle.trusted_proxies.clone(),
                send_timeout: io_timeout("TODO_JWT_SEND_TIMEOUT", config.send_timeout)?,
                min_send_rate: within(
                    "TODO_JWT_MIN_SEND_RATE",
                    config.min_send_rate,
                    ranges::MIN_SEND_RATE,
                )? * 1024,
                shutdown_timeout: seconds(
                    "TODO_JWT_SHUTDOWN_TIMEOUT",
                    config.shutdown_timeout,
                    ranges::SHUTDOWN_TIMEOUT,
                )?,
            },
            throttle,
            drain_period: seconds(
                "TODO_JWT_DRAIN_PERIOD",
                config.drain_period,
                ranges::DRAIN_PERIOD,
            )?,
            todos: TodoLimits {
                title: text("TODO_JWT_MAX_TITLE_LENGTH", config.max_title_length)?,
                desc: text("TODO_JWT_MAX_DESC_LENGTH", config.max_desc_length)?,
                per_user: within(
                    "TODO_JWT_MAX_TODOS_PER_USER",
                    config.max_todos_per_user,
                    ranges::TODOS_PER_USER,
                )?,
            },
            response_memory: memory("TODO_JWT_RESPONSE_MEMORY_MB", config.response_memory_mb)?,
            require_if_match: config.conditional.require_if_match,
            list_cache: config.conditional.list_cache_mb * 1024 * 1024,
            body_timeout: io_timeout("TODO_JWT_BODY_TIMEOUT", config.body_timeout)?,
            body_memory: memory("TODO_JWT_BODY_MEMORY_MB", config.body_memory_mb)?,
            token_lifetime: seconds(
                "TODO_JWT_TOKEN_LIFETIME",
                config.token_lifetime,
                ranges::TOKEN_LIFETIME,
            )?,
            token_cache_size: size(within(
                "TODO_JWT_TOKEN_CACHE_SIZE",
                config.token_cache_size,
                ranges::TOKEN_CACHE_SIZE,
            )?),
            session_lifetime: seconds(
                "TODO_JWT_SESSION_LIFETIME",
                config.session_lifetime,
                ranges::SESSION_LIFETIME,
            )?,
            max_sessions: within(
                "TODO_JWT_MAX_SESSIONS_PER_ACCOUNT",
                config.max_sessions_per_account,
                ranges::SESSIONS_PER_ACCOUNT,
            )?,
            refresh_rotation: config.refresh_rotation,
            refresh_reuse_interval: seconds(
                "TODO_JWT_REFRESH_REUSE_INTERVAL",
                config.refresh_reuse_interval,
                ranges::REFRESH_REUSE_INTERVAL,
            )?,
            max_hash_wait: millis(
                "TODO_JWT_MAX_HASH_WAIT_MS",
                config.max_hash_wait_ms,
                ranges::MAX_HASH_WAIT_MS,
            )?,
            audit_retention: Duration::from_secs(retention_days * ranges::DAY),
            backup_interval: (!backup_interval.is_zero()).then_some(backup_interval),
            backup_keep: size(within(
                "TODO_JWT_BACKUP_KEEP",
                config.backup_keep,
                ranges::BACKUP_KEEP,
            )?),
            metrics: config.metrics,
            metrics_token: config.metrics_token.clone(),
            jwt_algorithm: config.jwt_algorithm,
            keys_reload_interval: seconds(
                "TODO_JWT_KEYS_RELOAD_INTERVAL",
                config.keys_reload_interval,
                ranges::KEYS_RELOAD_INTERVAL,
            )?,
            key_activation_delay: seconds(
                "TODO_JWT_KEY_ACTIVATION_DELAY",
                config.key_activation_delay,
                ranges::KEY_ACTIVATION_DELAY,
            )?,
            secret: config.secret.clone(),
            allow_guessable_secret: config.allow_guessable_secret,
        })
    }

    /// Whether the data lives in the embedded SQLite database.
    pub fn is_sqlite(&self) -> bool {
        matches!(self.database, Database::Sqlite(_))
    }

    /// How request bodies may be received (a fresh memory budget: call once per service).
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits::new(self.body_timeout, self.body_memory)
    }

    /// The memory large responses may hold (a fresh budget: call once per service).
    pub fn response_memory(&self) -> ResponseMemory {
        ResponseMemory::new(self.response_memory)
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
        // A file where the directory should be: said so ("File exists" said nothing).
        let action = if self.data_dir.exists() && !self.data_dir.is_dir() {
            "the data directory (TODO_JWT_DATA_DIR, --data-dir) is a file, not a directory:"
        } else {
            "cannot create the data directory"
        };
        builder
            .create(&self.data_dir)
            .map_err(|source| ConfigError::Io {
                action,
                path: self.data_dir.clone(),
                source,
            })
    }

    /// What the keyring needs (call after [`Settings::service_secret`]).
    pub fn key_options(&self) -> Result<KeyOptions, ConfigError> {
        let (secret, _) = self.service_secret()?;
        Ok(KeyOptions {
            secret,
            algorithm: self.jwt_algorithm,
            lifetime: self.token_lifetime,
            leeway: TOKEN_LEEWAY,
            activation_delay: self.key_activation_delay,
            reload_interval: self.keys_reload_interval,
            shared: !self.is_sqlite(),
        })
    }

    /// The token configuration over `keys`.
    pub fn jwt(&self, keys: KeySet) -> JwtConfig {
        let mut jwt = JwtConfig::new(keys, TOKEN_ISSUER, TOKEN_ISSUER);
        jwt.lifetime = self.token_lifetime;
        jwt.leeway = TOKEN_LEEWAY;
        jwt.cache_capacity = self.token_cache_size;
        jwt
    }
}

/// The cores this process may use (2 when unknown): the password threads are as many, and
/// costly reads get half of them.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get())
}

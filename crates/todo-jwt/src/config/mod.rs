//! The configuration: flags or `TODO_JWT_*` environment variables ([`Config`], one field
//! each, with its default and its range written once), validated into one typed [`Settings`]
//! before anything binds a port or writes a file. A value out of range or unreadable is a
//! start-up error that names the setting, never a panic or a wrapped time later.
//!
//! Layout: [`ranges`] (the accepted values), [`settings`] (validation, and the parts each
//! layer is built from), `secret` (the service secret: configured, or generated once into the
//! data directory), `error`.

mod conditional;
mod database;
mod error;
mod lists;
mod mail;
pub mod ranges;
mod secret;
mod settings;

use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
};

use clap::{CommandFactory, FromArgMatches};
use secrecy::SecretString;

pub use conditional::ConditionalConfig;
pub use error::ConfigError;
pub use mail::MailSettings;
pub use secret::SecretSource;
pub use settings::{Settings, TOKEN_ISSUER, TOKEN_LEEWAY, cores};

pub use crate::store::Database;

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
          value_parser = clap::value_parser!(u64).range(ranges::TOKEN_LIFETIME))]
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
        default_value_t = 16,
        value_parser = parse_pool_size
    )]
    pub db_pool_size: usize,

    /// The time budget of one database statement, in milliseconds: a query that runs longer
    /// (a costly filter over long texts) is stopped and answered 503 `QUERY_TIMEOUT`.
    #[arg(long, global = true, env = "TODO_JWT_QUERY_TIMEOUT_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(ranges::QUERY_TIMEOUT_MS))]
    pub query_timeout_ms: u64,

    /// Seconds a session (a login) lives at most; logout ends it sooner.
    #[arg(long, env = "TODO_JWT_SESSION_LIFETIME", default_value_t = 2_592_000,
          value_parser = clap::value_parser!(u64).range(ranges::SESSION_LIFETIME))]
    pub session_lifetime: u64,

    /// Live sessions one account keeps at most; a login beyond ends the oldest (an event in
    /// the audit log says so).
    #[arg(long, env = "TODO_JWT_MAX_SESSIONS_PER_ACCOUNT", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(ranges::SESSIONS_PER_ACCOUNT))]
    pub max_sessions_per_account: u64,

    /// Whether `/refresh` rotates refresh tokens (a new one each time, the old one spent, a
    /// spent one presented again after the reuse interval ends the session). `false` is
    /// LoopBack's behaviour: a refresh token stays valid until its session ends, and
    /// `/refresh` answers only `{"accessToken"}`.
    #[arg(long, env = "TODO_JWT_REFRESH_ROTATION", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub refresh_rotation: bool,

    /// Seconds a spent refresh token may still be presented (a lost response, two tabs) and
    /// get the session's current one; after that, presenting it ends the session.
    #[arg(long, env = "TODO_JWT_REFRESH_REUSE_INTERVAL", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(ranges::REFRESH_REUSE_INTERVAL))]
    pub refresh_reuse_interval: u64,

    /// Failed password checks for one email within the failure window before every attempt
    /// for it is 429 until the window ends (0: no limit).
    #[arg(long, env = "TODO_JWT_LOGIN_MAX_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(ranges::LOGIN_MAX_FAILURES))]
    pub login_max_failures: u64,

    /// Seconds failed password checks are counted over, and an account stays locked.
    #[arg(long, env = "TODO_JWT_LOGIN_FAILURE_WINDOW", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(ranges::LOGIN_FAILURE_WINDOW))]
    pub login_failure_window: u64,

    /// Requests a minute per client address to the credential endpoints and `/signup`
    /// (0: no limit).
    #[arg(long, env = "TODO_JWT_AUTH_RATE_LIMIT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(ranges::AUTH_RATE_LIMIT))]
    pub auth_rate_limit: u64,

    /// Refusals (401, 403, 429, 503) a second each client gets at once, twice that in a
    /// burst; beyond it, its refusals are held back for its turn, at most 2 s (0: never).
    #[arg(long, env = "TODO_JWT_REFUSALS_PER_SECOND", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(ranges::REFUSALS_PER_SECOND))]
    pub refusals_per_second: u64,

    /// How many leading bits of an IPv4 client address make one client for the per-address
    /// limit (32: each address).
    #[arg(long, env = "TODO_JWT_IPV4_PREFIX", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(ranges::IPV4_PREFIX))]
    pub ipv4_prefix: u64,

    /// How many leading bits of an IPv6 client address make one client for the per-address
    /// limit (64: one host usually holds a whole /64).
    #[arg(long, env = "TODO_JWT_IPV6_PREFIX", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(ranges::IPV6_PREFIX))]
    pub ipv6_prefix: u64,

    /// Proxies (addresses or CIDRs, comma-separated) whose `X-Forwarded-For` names the client.
    #[arg(long, env = "TODO_JWT_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Milliseconds a password check may be expected to wait for a hashing thread; a login
    /// that would wait longer is 503 at once (0: never refused).
    #[arg(long, env = "TODO_JWT_MAX_HASH_WAIT_MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(ranges::MAX_HASH_WAIT_MS))]
    pub max_hash_wait_ms: u64,

    /// The SMTP server mail leaves through: `smtp://host:port` (plain, loopback only),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://user:pass@host` (implicit
    /// TLS). Unset: messages are written as `.eml` files under `<data dir>/mail`.
    #[arg(long, env = "TODO_JWT_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// A PEM file of CA certificates the SMTP server's certificate may also chain to, besides
    /// the system's roots (a mail relay with a private CA).
    #[arg(long, env = "TODO_JWT_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<std::path::PathBuf>,

    /// The sender of the service's mail (`Name <address>` or an address).
    #[arg(
        long,
        env = "TODO_JWT_MAIL_FROM",
        default_value = "todo-jwt <todo-jwt@localhost>"
    )]
    pub mail_from: String,

    /// The origin the links in mail point to (`https://todo.example.com`); default: the
    /// listen address (`http://127.0.0.1:3000`).
    #[arg(long, env = "TODO_JWT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The name authenticator apps show beside the account (no `:`).
    #[arg(long, env = "TODO_JWT_TOTP_ISSUER", default_value = "todo-jwt")]
    pub totp_issuer: String,

    /// Refuse the login of an account whose address is not proven yet (403
    /// `EMAIL_NOT_VERIFIED`). `false` is LoopBack's behaviour: unverified accounts log in.
    #[arg(long, env = "TODO_JWT_REQUIRE_VERIFIED_EMAIL", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub require_verified_email: bool,

    /// Origins a browser app may call the API from, comma-separated
    /// (`https://app.example.com,http://localhost:5173`), or `*` for any (LoopBack's default).
    #[arg(long, env = "TODO_JWT_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,

    /// Connections open at once; more are closed as soon as they are accepted.
    #[arg(long, env = "TODO_JWT_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(ranges::MAX_CONNECTIONS))]
    pub max_connections: u64,

    /// Connections one client address may hold at once (the trusted proxies' addresses are
    /// exempt); more from it are closed as soon as they are accepted, so that one client
    /// cannot take every connection.
    #[arg(long, env = "TODO_JWT_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(ranges::MAX_CONNECTIONS_PER_ADDRESS))]
    pub max_connections_per_address: u64,

    /// Seconds a request's head (request line and headers) may take to arrive; also how long
    /// an idle keep-alive connection stays open.
    #[arg(long, env = "TODO_JWT_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(ranges::IO_TIMEOUT))]
    pub header_timeout: u64,

    /// Seconds between the shutdown signal (SIGTERM, Ctrl-C) and closing the listener: the
    /// service goes on serving while `/readyz` answers 503 `SHUTTING_DOWN`, so a load
    /// balancer takes it out of rotation before it stops accepting. A second signal ends the
    /// wait. 0: stop accepting at once.
    #[arg(long, env = "TODO_JWT_DRAIN_PERIOD", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(ranges::DRAIN_PERIOD))]
    pub drain_period: u64,

    /// Seconds the requests in flight may take to finish once the listener is closed; then
    /// their connections are dropped (a client that does not read its response included).
    #[arg(long, env = "TODO_JWT_SHUTDOWN_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(ranges::SHUTDOWN_TIMEOUT))]
    pub shutdown_timeout: u64,

    /// Seconds a request's body may take to arrive (408 after that).
    #[arg(long, env = "TODO_JWT_BODY_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(ranges::IO_TIMEOUT))]
    pub body_timeout: u64,

    /// Seconds a response may wait for a client that does not read it; then the connection
    /// closes (a client that stops reading would otherwise hold the response's memory).
    #[arg(long, env = "TODO_JWT_SEND_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(ranges::IO_TIMEOUT))]
    pub send_timeout: u64,

    /// KiB a second a client must read a response at while the service waits on it (0: no
    /// minimum): each byte read buys time to wait, at most the send timeout's worth is saved
    /// up, and a client that runs out loses its connection.
    #[arg(long, env = "TODO_JWT_MIN_SEND_RATE", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(ranges::MIN_SEND_RATE))]
    pub min_send_rate: u64,

    /// MiB of request bodies buffered at once, over all requests (at least 1); a body that
    /// cannot get its share within the body timeout is 503.
    #[arg(long, env = "TODO_JWT_BODY_MEMORY_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(ranges::MEMORY_MB))]
    pub body_memory_mb: u64,

    /// Conditional requests on todos.
    #[command(flatten)]
    pub conditional: ConditionalConfig,

    /// MiB of list responses held at once, over all requests (at least 1): a client that does
    /// not read holds its list until the send timeout; beyond the budget a list is 503.
    #[arg(long, env = "TODO_JWT_RESPONSE_MEMORY_MB", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(ranges::MEMORY_MB))]
    pub response_memory_mb: u64,

    /// The longest todo title, in characters (LoopBack has no limit).
    #[arg(long, env = "TODO_JWT_MAX_TITLE_LENGTH", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(ranges::TEXT_LENGTH))]
    pub max_title_length: u64,

    /// The longest todo description, in characters (LoopBack has no limit).
    #[arg(long, env = "TODO_JWT_MAX_DESC_LENGTH", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(ranges::TEXT_LENGTH))]
    pub max_desc_length: u64,

    /// The most todos one user may have (LoopBack has no limit).
    #[arg(long, env = "TODO_JWT_MAX_TODOS_PER_USER", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(ranges::TODOS_PER_USER))]
    pub max_todos_per_user: u64,

    /// Seconds between automatic backups of the SQLite database into `<data-dir>/backups`
    /// (0: only on `SIGUSR1`).
    #[arg(long, env = "TODO_JWT_BACKUP_INTERVAL", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(ranges::BACKUP_INTERVAL))]
    pub backup_interval: u64,

    /// How many backups are kept in `<data-dir>/backups` (the oldest are removed).
    #[arg(long, env = "TODO_JWT_BACKUP_KEEP", default_value_t = 7,
          value_parser = clap::value_parser!(u64).range(ranges::BACKUP_KEEP))]
    pub backup_keep: u64,

    /// Days audit events are kept (older ones are removed every 10 minutes).
    #[arg(long, env = "TODO_JWT_AUDIT_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u64).range(ranges::AUDIT_RETENTION_DAYS))]
    pub audit_retention_days: u64,

    /// Audit events one account keeps at most: each new one removes the account's oldest
    /// beyond this many.
    #[arg(long, env = "TODO_JWT_MAX_EVENTS_PER_ACCOUNT", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(ranges::EVENTS_PER_ACCOUNT))]
    pub max_events_per_account: u64,

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
          value_parser = clap::value_parser!(u64).range(ranges::KEYS_RELOAD_INTERVAL))]
    pub keys_reload_interval: u64,

    /// Seconds between a rotation (`todo-jwt rotate-keys`, `SIGUSR2`) and the first token the
    /// new key signs: it is published at once, so every instance and every verifier caching
    /// the JWK Set (for up to 300 s) knows it first.
    #[arg(
        long,
        global = true,
        env = "TODO_JWT_KEY_ACTIVATION_DELAY",
        default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(ranges::KEY_ACTIVATION_DELAY))]
    pub key_activation_delay: u64,

    /// Verified access tokens remembered (0: none), so a token presented again is not
    /// verified again; never past its expiry, and the session is still checked each time.
    #[arg(long, env = "TODO_JWT_TOKEN_CACHE_SIZE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(ranges::TOKEN_CACHE_SIZE))]
    pub token_cache_size: u64,

    /// The service secret, at least 32 bytes: the HS256 key, and what refresh tokens are
    /// derived with and private signing keys sealed with. Prefer the environment variable over the
    /// flag (flags show in `ps`). When unset, a random secret is generated once and kept in
    /// `<data-dir>/jwt-secret` (mode 0600).
    #[arg(long, global = true, env = "TODO_JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub secret: Option<SecretString>,

    /// Use a configured secret even though it looks chosen by a person (mostly dictionary
    /// words, or a pattern): refused at start otherwise, since anyone holding a token or a
    /// refresh token can test guesses of it offline.
    #[arg(long, global = true, env = "TODO_JWT_ALLOW_GUESSABLE_SECRET", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub allow_guessable_secret: bool,
}

/// `--db-pool-size`, within [`ranges::DB_POOL_SIZE`] like every other number.
fn parse_pool_size(value: &str) -> Result<usize, String> {
    let size: u64 = value.parse().map_err(|error| format!("{error}"))?;
    if ranges::DB_POOL_SIZE.contains(&size) {
        usize::try_from(size).map_err(|error| error.to_string())
    } else {
        Err(format!(
            "{size} is not in {}..={}",
            ranges::DB_POOL_SIZE.start(),
            ranges::DB_POOL_SIZE.end()
        ))
    }
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value.to_owned()))
}

impl Config {
    /// The configuration with every default, for tests and embedding: the data directory
    /// given and port 0. The defaults are the flag parser's (from no arguments and no
    /// environment), so they are written once, in the attributes above.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        let command = Defaults::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from(["todo-jwt"])
            .expect("every setting has a default");
        let mut config = Defaults::from_arg_matches(&matches)
            .expect("the defaults parse")
            .config;
        config.data_dir = data_dir.into();
        config.port = 0;
        config
    }
}

#[cfg(test)]
mod tests;

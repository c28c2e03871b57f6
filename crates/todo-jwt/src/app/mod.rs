//! Builds the service: state, router and listener; serves with graceful shutdown.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use authn::StrategyRegistry;
use authn_jwt::{BearerJwtStrategy, CachedUserDirectory, JwtService};
use axum::{Router, body::Body, extract::DefaultBodyLimit, http::Request, response::Response};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};

mod background;
mod routes;

use background::Background;
use routes::{FIRST_FACTOR_STRATEGY, router};

use crate::{
    accounts::{
        Accounts, Passwords, PasswordsError,
        mfa::{SecondFactor, SecretSeal},
    },
    config::{Config, ConfigError, SecretSource, Settings},
    http::{
        body,
        cors::{Cors, cors},
        error,
        middleware::{WithoutCorsLayer, without_trailing_slash},
        server::{self, ConnectionLimits},
    },
    keys::Keyring,
    mail::{Mailer, Transport},
    ops::{
        backup::Backups,
        health::{Draining, Health},
        metrics::{self, Metrics},
        tasks::{self, Tasks},
        telemetry,
    },
    sessions::{EndedFirst, EndedSessions, RefreshPolicy, Sessions, StoreDirectory},
    state::{AppState, Parts},
    store::{Store, StoreError},
    throttle::{
        Throttles,
        pace::{PaceRefusalsLayer, Pacer},
        shares::ClientShares,
    },
    todos::Revalidation,
};

/// How long an instance trusts that a token's user still exists.
pub const USER_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password hasher could not start.
    #[error(transparent)]
    Passwords(#[from] PasswordsError),
    /// The signing keys could not be loaded or created.
    #[error("cannot load the signing keys")]
    Keys(#[from] crate::keys::KeyError),
    /// The SMTP URL names no server lettre can reach (its text, which may hold a password, is
    /// not repeated).
    #[error("TODO_JWT_SMTP_URL: cannot use it")]
    Mail(#[source] crate::mail::SetupError),
    /// The authentication layer could not be built.
    #[error("cannot build the authentication layer")]
    Auth(#[from] authn::AuthError),
    /// The address could not be bound.
    #[error("cannot listen on {address}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// A built service, bound to its address and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    address: SocketAddr,
    limits: ConnectionLimits,
    draining: Draining,
    drain_period: Duration,
    cors_origins: Vec<axum::http::HeaderValue>,
    /// The front layer's refusals: the pacer and the shares of clients behind a proxy.
    front: PaceRefusalsLayer,
    background: Background,
}

impl Application {
    /// Checks the configuration, binds the listener, opens the store, resolves the secret and
    /// builds the router. Every setting is checked first, then the port is taken: a mistake in
    /// either fails before anything is created on disk.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let settings = Settings::new(&config)?;
        let address = settings.address;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        settings.ensure_data_dir()?;
        let (_, secret_source) = settings.service_secret()?;
        match secret_source {
            SecretSource::Configured => tracing::info!("using the configured JWT secret"),
            SecretSource::Stored => tracing::info!(
                path = %settings.data_dir.join("jwt-secret").display(),
                "using the JWT secret stored in the data directory"
            ),
            SecretSource::Generated => tracing::warn!(
                path = %settings.data_dir.join("jwt-secret").display(),
                "no JWT secret configured: generated one and stored it in the data directory; \
                 set TODO_JWT_SECRET to share one between instances"
            ),
        }
        let store = Store::open_with(&settings.database, settings.store).await?;
        let (keyring, keys) = Keyring::open(store.clone(), settings.key_options()?).await?;
        let jwt = Arc::new(JwtService::new(settings.jwt(keys)));
        if let Some(key) = jwt.keys().signing() {
            tracing::info!(algorithm = ?key.algorithm(), kid = key.id(), "signing access tokens");
        }
        let cores = crate::config::cores();
        let throttles = Throttles::new(store.clone(), settings.throttle.clone());
        let passwords = Passwords::new(cores, settings.max_hash_wait)?;
        let bound = listener
            .local_addr()
            .map_err(|source| StartError::Bind { address, source })?;
        let mailer = mailer(&settings, bound)?;
        let accounts = Accounts::new(
            store.clone(),
            passwords.clone(),
            throttles.clone(),
            mailer.clone(),
            SecondFactor::new(
                SecretSeal::from_secret(&settings.key_options()?.secret),
                settings.mail.totp_issuer.clone(),
            ),
        )
        .requiring_verified_email(settings.mail.require_verified_email);
        let ended = EndedSessions::new(settings.token_lifetime);
        let sessions = Sessions::new(
            accounts.clone(),
            store.clone(),
            jwt.clone(),
            settings.session_lifetime,
            RefreshPolicy {
                key: settings.refresh_key()?,
                rotation: settings.refresh_rotation,
                reuse_interval: settings.refresh_reuse_interval,
            },
            ended.clone(),
            settings.max_sessions,
        );
        // Deleted users' tokens are refused within a second, without a lookup per request;
        // sessions ended here, at once.
        let directory = EndedFirst {
            ended,
            inner: Arc::new(CachedUserDirectory::new(
                Arc::new(StoreDirectory(store.clone())),
                USER_CACHE_TTL,
                100_000,
            )),
        };
        let directory: Arc<dyn authn_jwt::UserDirectory> = Arc::new(directory);
        let strategies = StrategyRegistry::new()
            .with(BearerJwtStrategy::new(jwt.clone()).with_user_directory(directory.clone()))
            .with(
                BearerJwtStrategy::new(jwt.clone())
                    .with_user_directory(directory)
                    .accepting_first_factor(FIRST_FACTOR_STRATEGY),
            )
            .render_with(error::render_auth_error)
            .observe(telemetry::log_auth_outcome);
        let draining = Draining::default();
        let health_store = store.clone();
        let health = Health {
            store: store.clone(),
            draining: draining.clone(),
        };
        let queue = passwords.clone();
        let metrics = Metrics::new(
            metrics::Access::new(settings.metrics, settings.metrics_token.as_ref()),
            store.clone(),
            vec![Box::new(move || queue.report_queue_length())],
        );
        let backups = settings.is_sqlite().then(|| {
            let backups = settings.data_dir.join("backups");
            (
                Backups::new(store.clone(), backups, settings.backup_keep),
                settings.backup_interval,
            )
        });
        let state = AppState::new(Parts {
            health,
            metrics: metrics.clone(),
            keyring: keyring.clone(),
            store,
            accounts,
            sessions: sessions.clone(),
            bodies: settings.body_limits(),
            todo_limits: settings.todos,
            responses: settings.response_memory(),
            revalidation: Revalidation::new(
                &settings.key_options()?.secret,
                settings.list_cache,
                settings.require_if_match,
            ),
            throttles: throttles.clone(),
        });
        let router = router(state, &strategies)?;
        let pacer = Pacer::new(throttles.clone(), settings.throttle.refusals_per_second);
        // Behind a trusted proxy, the per-address connection share applies per forwarded client.
        let shares = ClientShares::new(throttles.clone(), settings.connections.per_address);

        let address = listener
            .local_addr()
            .map_err(|source| StartError::Bind { address, source })?;
        Ok(Self {
            listener,
            router,
            address,
            limits: settings.connections,
            draining,
            drain_period: settings.drain_period,
            cors_origins: settings.cors_origins.clone(),
            front: PaceRefusalsLayer {
                pacer: pacer.clone(),
                shares,
            },
            background: Background {
                mailer,
                sessions,
                throttles,
                pacer,
                passwords,
                metrics,
                store: health_store,
                audit_retention: settings.audit_retention,
                backups,
                keys: (keyring, jwt),
            },
        })
    }

    /// The bound address (with the real port when the configured one was 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight and stops the
    /// background tasks (each ends the step it is in).
    pub async fn run(self) -> std::io::Result<()> {
        let tasks = Tasks::new();
        self.background.start(&tasks);
        let service = with_middleware(self.router, cors(&self.cors_origins), self.front);
        let (draining, drain) = (self.draining.clone(), self.drain_period);
        let shutdown = async move {
            tasks::shutdown_signal().await;
            // Not ready from now on, still serving: a load balancer's next probe takes the
            // service out of rotation before the listener closes.
            draining.start();
            if !drain.is_zero() {
                tracing::info!(
                    seconds = drain.as_secs(),
                    "draining: /readyz answers 503 while requests are still served; \
                     a second signal stops now"
                );
                tokio::select! {
                    () = tokio::time::sleep(drain) => {}
                    () = tasks::shutdown_signal() => {}
                }
            }
        };
        let served = server::serve(self.listener, service, self.limits, shutdown).await;
        if !tasks.shutdown(TASKS_GRACE).await {
            tracing::warn!("a background task did not finish its step in time");
        }
        served
    }
}

/// How long shutdown waits for a background step in progress (a backup, say).
const TASKS_GRACE: Duration = Duration::from_secs(10);

/// `router` inside the layers every response goes through: request id, log line, the
/// security headers and panics to 500 ([`telemetry::front`]), refusals paced, CORS.
///
/// Wrapped around the router once rather than added with `Router::layer`, which wraps every
/// route in them: each request then cloned the whole stack (CORS settings included) inside a
/// boxed route service.
pub fn with_middleware(
    router: Router,
    cors: Cors,
    front: PaceRefusalsLayer,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    ServiceBuilder::new()
        // The request's id, log context and line, the security headers, a panic's 500.
        .layer(telemetry::front::FrontLayer)
        // Inside the request's log line (a refusal held back shows its wait); a head over
        // 64 KiB is refused here, before routing.
        .layer(front)
        .layer(WithoutCorsLayer)
        .layer(cors)
        .map_request(without_trailing_slash)
        // The extractors' body limit (the service reads bodies itself, within the same one).
        .layer(DefaultBodyLimit::max(body::BODY_LIMIT))
        .service(router)
}

/// The mailer of `settings` (links under the listen address `bound` unless a public URL is set),
/// and a line in the log that says where mail goes.
fn mailer(settings: &Settings, bound: SocketAddr) -> Result<Mailer, StartError> {
    let mail = &settings.mail;
    let transport = Transport::new(
        mail.smtp_url.as_deref(),
        mail.smtp_ca.as_deref(),
        &settings.data_dir,
    )
    .map_err(StartError::Mail)?;
    match &transport {
        Transport::Files(directory) => tracing::info!(
            directory = %directory.display(),
            "mail is written as .eml files (set TODO_JWT_SMTP_URL to send it)"
        ),
        Transport::Smtp(_) => tracing::info!("mail is sent through the SMTP server configured"),
    }
    let public_url = (mail.public_url.clone()).unwrap_or_else(|| format!("http://{bound}"));
    Ok(Mailer::new(mail.from.clone(), public_url, transport))
}

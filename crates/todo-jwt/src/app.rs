//! Builds the service: state, router and listener; serves with graceful shutdown.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use authn::StrategyRegistry;
use authn_jwt::{BearerJwtStrategy, CachedUserDirectory, JwtService};
use axum::{
    Router,
    body::Body,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Method, Request, header},
    response::{IntoResponse, Response},
};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, Any, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    accounts::{self, Accounts, Passwords, PasswordsError},
    audit,
    backup::Backups,
    body,
    config::{Config, ConfigError, SecretSource},
    error::{self, ApiError},
    health::{self, Draining, Health},
    keys::{self, Keyring},
    metrics::{self, Metrics},
    openapi,
    server::{self, ConnectionLimits},
    sessions,
    sessions::{RefreshPolicy, Sessions, StoreDirectory},
    state::{AppState, Parts},
    store::{Store, StoreError},
    telemetry,
    throttle::Throttles,
    todos,
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
    sessions: Sessions,
    throttles: Throttles,
    passwords: Passwords,
    draining: Draining,
    metrics: Metrics,
    store: crate::store::Store,
    /// How long audit events are kept.
    audit_retention: std::time::Duration,
    /// Backups of the SQLite database, and how often (`None`: on `SIGUSR1` only).
    backups: Option<(Backups, Option<std::time::Duration>)>,
    /// The signing keys, kept in step with the table, and the token service they feed.
    keys: (Keyring, Arc<JwtService>),
    cors_origins: Vec<HeaderValue>,
}

/// How often expired sessions are removed.
const SESSION_CLEANUP: std::time::Duration = std::time::Duration::from_secs(600);

/// How often idle memory is given back: the password threads' after this long without a hash,
/// then the allocator's freed pages to the system. RSS is back near its fresh level about 10 s
/// after a burst.
const MEMORY_RETURN: std::time::Duration = std::time::Duration::from_secs(5);

impl Application {
    /// Binds the listener, opens the store, resolves the secret and builds the router. The
    /// port is taken first: a port in use fails before anything is created on disk.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let address = config.address();
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        config.ensure_data_dir()?;
        let (_, secret_source) = config.service_secret()?;
        match secret_source {
            SecretSource::Configured => tracing::info!("using the configured JWT secret"),
            SecretSource::Stored => tracing::info!(
                path = %config.data_dir.join("jwt-secret").display(),
                "using the JWT secret stored in the data directory"
            ),
            SecretSource::Generated => tracing::warn!(
                path = %config.data_dir.join("jwt-secret").display(),
                "no JWT secret configured: generated one and stored it in the data directory; \
                 set TODO_JWT_SECRET to share one between instances"
            ),
        }
        let store = Store::open_with(&config.database(), config.store_limits()).await?;
        let (keyring, keys) = Keyring::open(store.clone(), config.key_options()?).await?;
        let jwt = Arc::new(JwtService::new(config.jwt(keys)));
        if let Some(key) = jwt.keys().signing() {
            tracing::info!(algorithm = ?key.algorithm(), kid = key.id(), "signing access tokens");
        }
        let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
        let throttles = Throttles::new(store.clone(), config.throttle_limits()?);
        let passwords = Passwords::new(
            cores,
            std::time::Duration::from_millis(config.max_hash_wait_ms),
        )?;
        let accounts = Accounts::new(store.clone(), passwords.clone(), throttles.clone());
        let sessions = Sessions::new(
            accounts.clone(),
            store.clone(),
            jwt.clone(),
            std::time::Duration::from_secs(config.session_lifetime),
            RefreshPolicy {
                key: config.refresh_key()?,
                rotation: config.refresh_rotation,
                reuse_interval: std::time::Duration::from_secs(config.refresh_reuse_interval),
            },
        );
        // Deleted users' tokens are refused within a second, without a lookup per request.
        let directory = CachedUserDirectory::new(
            Arc::new(StoreDirectory(store.clone())),
            USER_CACHE_TTL,
            100_000,
        );
        let strategies = StrategyRegistry::new()
            .with(BearerJwtStrategy::new(jwt.clone()).with_user_directory(Arc::new(directory)))
            .render_with(error::render_auth_error)
            .observe(telemetry::log_auth_outcome);
        let draining = Draining::default();
        let health_store = store.clone();
        let health = Health {
            store: store.clone(),
            draining: draining.clone(),
        };
        let metrics = Metrics::new(
            metrics::Access::new(config.metrics, config.metrics_token.as_ref()),
            passwords.clone(),
            store.clone(),
        );
        let backups = matches!(config.database(), crate::store::Database::Sqlite(_)).then(|| {
            let keep = usize::try_from(config.backup_keep).unwrap_or(usize::MAX);
            let every = (config.backup_interval > 0)
                .then(|| std::time::Duration::from_secs(config.backup_interval));
            (
                Backups::new(store.clone(), config.data_dir.join("backups"), keep),
                every,
            )
        });
        let state = AppState::new(Parts {
            health,
            metrics: metrics.clone(),
            keyring: keyring.clone(),
            store,
            accounts,
            sessions: sessions.clone(),
            bodies: config.body_limits(),
            todo_limits: config.todo_limits(),
            responses: config.response_memory(),
            throttles: throttles.clone(),
        });
        let router = router(state, &strategies)?;

        let address = listener
            .local_addr()
            .map_err(|source| StartError::Bind { address, source })?;
        Ok(Self {
            listener,
            router,
            address,
            limits: config.connection_limits(),
            sessions,
            throttles,
            passwords,
            draining,
            metrics,
            store: health_store,
            audit_retention: std::time::Duration::from_secs(
                config.audit_retention_days.saturating_mul(86_400),
            ),
            backups,
            keys: (keyring, jwt),
            cors_origins: config.cors_origins()?,
        })
    }

    /// The bound address (with the real port when the configured one was 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub async fn run(self) -> std::io::Result<()> {
        let cleanup = self.sessions.spawn_cleanup(SESSION_CLEANUP);
        let retention =
            audit::spawn_retention(self.store.clone(), self.audit_retention, SESSION_CLEANUP);
        let throttles = self.throttles.clone();
        let counters = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SESSION_CLEANUP);
            loop {
                ticks.tick().await;
                if let Err(error) = throttles.remove_expired().await {
                    tracing::warn!(cause = %error::chain(&error), "cannot remove old throttle counters");
                }
            }
        });
        let backups = self.backups.map(|(backups, every)| backups.spawn(every));
        let (keyring, jwt) = self.keys;
        let keys = keyring.spawn(jwt);
        let service = with_middleware(self.router, cors(&self.cors_origins));
        let passwords = self.passwords.clone();
        let metrics = self.metrics.clone();
        let memory = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(MEMORY_RETURN);
            loop {
                ticks.tick().await;
                if passwords.release_idle_memory(MEMORY_RETURN) {
                    tracing::debug!("password threads gave their memory back");
                }
                metrics.upkeep();
                crate::allocator::return_freed_memory();
            }
        });
        let draining = self.draining.clone();
        let shutdown = async move {
            shutdown_signal().await;
            draining.start();
        };
        let served = server::serve(self.listener, service, self.limits, shutdown).await;
        cleanup.abort();
        counters.abort();
        memory.abort();
        retention.abort();
        keys.abort();
        if let Some(backups) = backups {
            backups.abort();
        }
        served
    }
}

/// The routes: public ones, and those behind the `jwt` strategy. [`with_middleware`] adds what
/// every response goes through.
///
/// A new resource is a module with its routes (taking its part of [`AppState`] through
/// `FromRef`), merged here into the public or the protected router.
pub fn router(state: AppState, strategies: &StrategyRegistry) -> Result<Router, authn::AuthError> {
    let require_jwt = strategies.require([BearerJwtStrategy::NAME])?;
    // `route_layer`: the protected routes authenticate after routing, so unknown paths are 404.
    // The credential and session routes record audit events, with the request's context.
    let audited = || axum::middleware::from_fn(audit::with_context);
    let protected = accounts::protected_router()
        .merge(sessions::protected_router())
        .route_layer(audited())
        .merge(accounts::who_am_i_router())
        .merge(audit::router())
        .merge(todos::router())
        .route_layer(require_jwt);
    let public = accounts::public_router()
        .merge(sessions::public_router())
        .route_layer(audited());
    let (api, operations) = OpenApiRouter::new()
        .merge(public)
        .merge(health::router())
        .merge(keys::router())
        .merge(protected)
        .split_for_parts();
    let doc = openapi::document(operations);

    Ok(api
        .merge(openapi::router(doc))
        .route("/metrics", axum::routing::get(metrics::render))
        // After routing, so the route's template is known (the middleware is outside).
        .route_layer(axum::middleware::from_fn(metrics::track))
        .fallback(error::endpoint_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body::BODY_LIMIT))
        .with_state(state))
}

/// `router` inside the layers every response goes through: request id, tracing, the security
/// headers ([`security_headers`]), panics to 500, CORS. (The security headers are set here and
/// nowhere else, outside the panic catcher so that a panic's 500 has them too.)
///
/// Wrapped around the router once rather than added with `Router::layer`, which wraps every
/// route in them: each request then cloned the whole stack (CORS settings included) inside a
/// boxed route service.
pub fn with_middleware(
    router: Router,
    cors: CorsLayer,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let request_id = HeaderName::from_static(REQUEST_ID);
    ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .map_request(plain_request_id)
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::request_span)
                .on_request(())
                .on_response(telemetry::log_response)
                // A 5xx is in the request's line already (and a 500's cause where rendered).
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .map_response(security_headers)
        .layer(CatchPanicLayer::custom(|_| internal_error()))
        .layer(cors)
        .map_request(without_trailing_slash)
        .service(router)
}

/// The headers the OWASP REST Security Cheat Sheet recommends for an API, on every response
/// (the README says which are left out and why): no MIME sniffing; no caching of what is
/// private to a user (a route that can be cached sets its own `Cache-Control`); never
/// framed, which also keeps the explorer's Authorize dialog out of other sites' frames.
fn security_headers<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    ] {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

/// The header that carries a request's id, kept from the client or made here.
pub const REQUEST_ID: &str = "x-request-id";

/// The longest client-chosen request id kept.
const MAX_REQUEST_ID: usize = 64;

/// Keeps a client's request id only if it is one short, plain value (letters, digits, `-`,
/// `_`, `.`, `:`; at most [`MAX_REQUEST_ID`] bytes); otherwise it is dropped and a fresh one is
/// made, so a client cannot put kilobytes or raw bytes into the log and the response.
fn plain_request_id(mut request: Request<Body>) -> Request<Body> {
    let mut values = request.headers().get_all(REQUEST_ID).iter();
    let plain = |id: &HeaderValue| {
        (1..=MAX_REQUEST_ID).contains(&id.len())
            && id
                .as_bytes()
                .iter()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte))
    };
    let keep = match (values.next(), values.next()) {
        (Some(id), None) => plain(id),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// LoopBack's router ignores a trailing slash (its own tests call `POST /refresh/`): every
/// route answers the same with and without one. The explorer keeps its own (`/explorer/` is
/// its page, and `/explorer` redirects there).
fn without_trailing_slash(mut request: Request<Body>) -> Request<Body> {
    let path = request.uri().path();
    let explorer = path == "/explorer" || path.starts_with("/explorer/");
    if path.len() <= 1 || !path.ends_with('/') || explorer {
        return request;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

fn internal_error() -> Response {
    ApiError::internal("a handler panicked").into_response()
}

/// LoopBack's CORS defaults: any origin, the API's methods, preflight cached for a day.
/// CORS: the origins allowed (`*` by default, as LoopBack), with `Authorization` and
/// `Content-Type` allowed by name. (`Access-Control-Allow-Headers: *` does not cover
/// `Authorization` in the Fetch standard, so a browser app on another origin could not send
/// its token.)
pub fn cors(origins: &[HeaderValue]) -> CorsLayer {
    let layer = if origins.is_empty() {
        // Every CORS header is the same whatever the request's origin and preflight headers,
        // so no response varies by them: no `Vary` (tower-http adds three by default).
        CorsLayer::new().allow_origin(Any).vary([])
    } else {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .vary([header::ORIGIN])
    };
    layer
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID),
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
        ])
        .max_age(std::time::Duration::from_secs(86_400))
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

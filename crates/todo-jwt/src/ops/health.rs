//! Health for load balancers and orchestrators: `GET /healthz` (the process answers) and
//! `GET /readyz` (it can serve: the database answers and it is not shutting down). Both are
//! public and never rate-limited.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    http::error::{ApiError, Result},
    http::openapi::ServiceUnavailable,
    store::{Store, StoreError},
};

/// How long readiness waits for the database before calling it unavailable.
const PING_BUDGET: Duration = Duration::from_secs(1);

/// Whether the service is draining (shutting down): set once, when the shutdown signal comes.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Marks the service as shutting down: readiness answers 503 from now on.
    pub fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether the service is shutting down.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What readiness needs: the store to ping, and whether the service is draining.
#[derive(Clone, Debug)]
pub struct Health {
    /// The database, pinged on each readiness check.
    pub store: Store,
    /// Set when shutdown starts.
    pub draining: Draining,
}

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` (alive) or `ready`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Alive: the process answers HTTP. Depends on nothing else.
#[utoipa::path(
    get, path = "/healthz", tag = "HealthController", operation_id = "HealthController.live",
    responses((status = 200, description = "The process is alive", body = Status)),
)]
pub async fn live() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Ready: the database answers within a second and the service is not shutting down; else
/// 503 in the envelope (`SHUTTING_DOWN` or `DATABASE_UNAVAILABLE`), with `Retry-After`.
#[utoipa::path(
    get, path = "/readyz", tag = "HealthController", operation_id = "HealthController.ready",
    responses(
        (status = 200, description = "Ready to serve", body = Status),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn ready(State(health): State<Health>) -> Result<Json<Status>> {
    if health.draining.is_draining() {
        return Err(ApiError::ShuttingDown);
    }
    match tokio::time::timeout(PING_BUDGET, health.store.ping()).await {
        Ok(Ok(())) => Ok(Json(Status { status: "ready" })),
        Ok(Err(error @ StoreError::StorageFull(_))) => Err(ApiError::CannotWrite(Box::new(error))),
        Ok(Err(error)) => Err(ApiError::database_unavailable(error)),
        Err(elapsed) => Err(ApiError::database_unavailable(elapsed)),
    }
}

/// The health routes, over any state that holds [`Health`].
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Health: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;
    use crate::store::Database;

    /// Ready until shutdown starts; then 503 `SHUTTING_DOWN` with `Retry-After`, so a load
    /// balancer stops sending new requests while the ones in flight finish.
    #[tokio::test]
    async fn readiness_ends_when_shutdown_starts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&Database::Sqlite(dir.path().join("todo.db")))
            .await
            .expect("store");
        let health = Health {
            store,
            draining: Draining::default(),
        };
        let answer = ready(State(health.clone())).await.expect("ready");
        assert_eq!(answer.status, "ready");
        health.draining.start();
        let refused = ready(State(health)).await.expect_err("draining");
        assert!(matches!(refused, ApiError::ShuttingDown), "{refused:?}");
        let response = refused.into_response();
        assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
    }
}

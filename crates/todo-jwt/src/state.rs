//! What the handlers share, and how each resource takes only its part (axum's `FromRef`): the
//! todo routes see the [`Store`], the account routes [`Accounts`], the login routes
//! [`Sessions`], the JWK Set route the
//! [`Keyring`](crate::keys::Keyring). No resource module names this type: each
//! router is generic over any state its parts can be taken from.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::{
    accounts::Accounts,
    http::body::BodyLimits,
    http::response::ResponseMemory,
    ops::health::Health,
    ops::metrics::Metrics,
    sessions::Sessions,
    store::Store,
    throttle::Throttles,
    todos::{Revalidation, TodoLimits},
};

/// The application's state. axum clones it for every request before a handler takes its part,
/// so it is one `Arc`: one reference count per request, however many parts it holds.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Parts>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Parts {
    /// The storage handle.
    pub store: Store,
    /// Signup and password checks.
    pub accounts: Accounts,
    /// Login and tokens.
    pub sessions: Sessions,
    /// How request bodies may be received.
    pub bodies: BodyLimits,
    /// What one user may store.
    pub todo_limits: TodoLimits,
    /// The memory large responses may hold.
    pub responses: ResponseMemory,
    /// Entity tags, kept list answers, and whether writes must be conditional.
    pub revalidation: Revalidation,
    /// The rate limits of the credential endpoints.
    pub throttles: Throttles,
    /// What readiness checks.
    pub health: Health,
    /// The metrics endpoint.
    pub metrics: Metrics,
    /// The signing keys, for the JWK Set.
    pub keyring: crate::keys::Keyring,
}

impl AppState {
    /// The state over its parts.
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.0.store.clone()
    }
}

impl FromRef<AppState> for Accounts {
    fn from_ref(state: &AppState) -> Self {
        state.0.accounts.clone()
    }
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.0.sessions.clone()
    }
}

impl FromRef<AppState> for BodyLimits {
    fn from_ref(state: &AppState) -> Self {
        state.0.bodies.clone()
    }
}

impl FromRef<AppState> for ResponseMemory {
    fn from_ref(state: &AppState) -> Self {
        state.0.responses.clone()
    }
}

impl FromRef<AppState> for Revalidation {
    fn from_ref(state: &AppState) -> Self {
        state.0.revalidation.clone()
    }
}

impl FromRef<AppState> for Throttles {
    fn from_ref(state: &AppState) -> Self {
        state.0.throttles.clone()
    }
}

impl FromRef<AppState> for TodoLimits {
    fn from_ref(state: &AppState) -> Self {
        state.0.todo_limits
    }
}

impl FromRef<AppState> for Health {
    fn from_ref(state: &AppState) -> Self {
        state.0.health.clone()
    }
}

impl FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Self {
        state.0.metrics.clone()
    }
}

impl FromRef<AppState> for crate::keys::Keyring {
    fn from_ref(state: &AppState) -> Self {
        state.0.keyring.clone()
    }
}

//! What the handlers share, and how each resource takes only its part (axum's `FromRef`): the
//! todo routes see the [`Store`], the account routes [`Accounts`], the login routes
//! [`Sessions`]. No resource module names this type.

use axum::extract::FromRef;

use crate::{accounts::Accounts, sessions::Sessions, store::Store};

/// The application's state: cloned per request through `FromRef`, each part behind `Arc`s.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The storage handle.
    pub store: Store,
    /// Signup and password checks.
    pub accounts: Accounts,
    /// Login and tokens.
    pub sessions: Sessions,
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}

impl FromRef<AppState> for Accounts {
    fn from_ref(state: &AppState) -> Self {
        state.accounts.clone()
    }
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// Who the caller is, as a strategy established it (LoopBack's `UserProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// The stable user id (LoopBack's `securityId` / `id`).
    pub id: String,
    /// A display name, when the user has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's email, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl UserProfile {
    /// A profile with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            email: None,
        }
    }
}

/// The authenticated caller, extracted in a handler behind an [`crate::AuthLayer`].
///
/// Handlers that take `CurrentUser` never look at headers or tokens. Without an authenticated
/// user (a route the layer does not cover, or one it skips) the extractor answers 401;
/// use `Option<CurrentUser>` where anonymous callers are welcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser(pub UserProfile);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<UserProfile>()
            .cloned()
            .map(CurrentUser)
            .ok_or_else(|| AuthError::unauthorized("Authentication required."))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<UserProfile>()
            .cloned()
            .map(CurrentUser))
    }
}

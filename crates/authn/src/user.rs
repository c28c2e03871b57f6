use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::{AuthError, Renderer};

/// Who the caller is, as a strategy established it (LoopBack's `UserProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserProfile {
    /// The stable user id (LoopBack's `securityId` / `id`).
    pub id: String,
    /// A display name, when the user has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's email, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The session this request belongs to, when the strategy tracks sessions (a JWT's `sid`
    /// claim): what logout ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl UserProfile {
    /// A profile with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
}

/// The authenticated caller, extracted in a handler behind an [`crate::AuthLayer`].
///
/// Handlers that take `CurrentUser` never look at headers or tokens. Without an authenticated
/// user (a route the layer skips, or an anonymous caller of an optional layer) the extractor
/// refuses with a 401, rendered like the layer's own failures; use `Option<CurrentUser>` where
/// anonymous callers are welcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser(pub UserProfile);

/// Why [`CurrentUser`] found no user: a 401 in the application's format (the layer's
/// [`Renderer`]), or in [`Renderer::plain`] on a route no layer covers.
#[derive(Debug)]
pub struct Unauthenticated {
    renderer: Option<Renderer>,
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        self.renderer
            .unwrap_or_default()
            .render(AuthError::unauthorized("Authentication required."))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<UserProfile>() {
            Some(user) => Ok(CurrentUser(user.clone())),
            None => Err(Unauthenticated {
                renderer: parts.extensions.get::<Renderer>().cloned(),
            }),
        }
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

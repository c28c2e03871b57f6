//! The authenticated caller as a handler's extractor.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use http::request::Parts;

use crate::{
    error::{AuthError, FailureReason},
    hooks::Renderer,
    profile::UserProfile,
};

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
            .render(AuthError::unauthorized(
                FailureReason::Missing,
                "Authentication required.",
            ))
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

/// The authenticated caller's id alone, for a handler that needs nothing else of the
/// profile: it copies one string where [`CurrentUser`] copies the whole profile. Refuses
/// without a user exactly as [`CurrentUser`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUserId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUserId {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<UserProfile>() {
            Some(user) => Ok(CurrentUserId(user.id.clone())),
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

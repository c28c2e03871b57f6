//! What the application plugs into the layer: how a failure is rendered, and who hears about
//! each authentication outcome.

use std::{error::Error as _, sync::Arc};

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header, request::Parts};

use crate::{error::AuthError, profile::UserProfile};

/// Turns an [`AuthError`] into the response the client sees.
///
/// The application chooses its wire format here (an error envelope, problem+json, ...); without
/// one, [`Renderer::plain`] answers the status, the challenge and the message as plain text.
#[derive(Clone)]
pub struct Renderer(Arc<dyn Fn(AuthError) -> Response + Send + Sync>);

impl Renderer {
    /// A renderer from a function.
    pub fn new(render: impl Fn(AuthError) -> Response + Send + Sync + 'static) -> Self {
        Self(Arc::new(render))
    }

    /// The default: the error's status, `WWW-Authenticate` when the strategy named a scheme, and
    /// the message as `text/plain` (a generic one for internal failures, whose cause is logged).
    pub fn plain() -> Self {
        Self::new(plain_response)
    }

    /// Renders `error`.
    pub fn render(&self, error: AuthError) -> Response {
        (self.0)(error)
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Self::plain()
    }
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Renderer")
    }
}

fn plain_response(error: AuthError) -> Response {
    let status = error.status();
    match error {
        AuthError::Unauthorized {
            message, challenge, ..
        } => {
            let mut response = (status, message).into_response();
            if let Some(scheme) = challenge {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
            }
            response
        }
        internal => {
            tracing::error!(
                error = %internal,
                cause = internal.source().map(tracing::field::display),
                "authentication could not complete"
            );
            (status, "Internal Server Error").into_response()
        }
    }
}

/// How the authentication of one request ended, as an [`AuthObserver`] hears it.
#[derive(Debug, Clone, Copy)]
pub enum AuthOutcome<'a> {
    /// A strategy accepted the caller.
    Authenticated {
        /// The strategy's name.
        strategy: &'a str,
        /// Who the caller is.
        user: &'a UserProfile,
    },
    /// The request was refused with this error (a 401, whose [`AuthError::reason`] says why,
    /// or an internal failure).
    Refused(&'a AuthError),
    /// No strategy accepted the caller, and the layer is optional: the request goes on
    /// anonymously. The error is the first strategy's reason.
    Anonymous(&'a AuthError),
}

/// Hears every authentication outcome of the layers built from a registry, with the request
/// it concerns (for throttling, metrics or an audit log), without the handlers knowing.
///
/// Called on the request's task, before the handler runs: keep it quick, and hand slow work
/// (a database write) to a task of its own. Routes the layer skips are not reported.
pub trait AuthObserver: Send + Sync + 'static {
    /// Called once per request the layer authenticates, refuses or lets through anonymously.
    fn observe(&self, request: &Parts, outcome: AuthOutcome<'_>);
}

impl<F> AuthObserver for F
where
    F: Fn(&Parts, AuthOutcome<'_>) + Send + Sync + 'static,
{
    fn observe(&self, request: &Parts, outcome: AuthOutcome<'_>) {
        self(request, outcome);
    }
}

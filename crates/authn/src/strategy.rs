//! What a strategy is: a named way to turn a request head into a caller.

use http::request::Parts;

use crate::{error::AuthError, profile::UserProfile};

/// A named way to authenticate a request.
///
/// A strategy reads what it needs from the request head (headers, URI, extensions) and either
/// returns the caller's profile or says why not. It never sees the body: authentication runs
/// before the body is read, so an unauthenticated caller cannot make the server parse anything.
#[async_trait::async_trait]
pub trait AuthenticationStrategy: Send + Sync + 'static {
    /// The name routers use to require this strategy, e.g. `jwt`.
    fn name(&self) -> &str;

    /// Authenticates the request, or explains (as a 401) why it is not.
    async fn authenticate(&self, request: &Parts) -> Result<UserProfile, AuthError>;
}

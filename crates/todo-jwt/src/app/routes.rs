//! The route table: public routes, those behind the `jwt` strategy, and the few a token of
//! the password alone may call.

use authn::StrategyRegistry;
use authn_jwt::BearerJwtStrategy;
use axum::{
    Router,
    extract::FromRef,
    middleware::{from_fn, from_fn_with_state},
};
use tower::ServiceBuilder;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    accounts, audit,
    http::openapi,
    keys, mail,
    ops::{
        health,
        metrics::{self, TrackLayer},
    },
    sessions,
    state::AppState,
    throttle::{self, Throttles},
    todos,
};

/// The strategy of the routes a token of the password alone may call (an account with a
/// second factor, before it is given).
pub(super) const FIRST_FACTOR_STRATEGY: &str = "jwt-first-factor";

/// The routes: public ones, and those behind the `jwt` strategy. [`with_middleware`] adds what
/// every response goes through.
///
/// A new resource is a module with its routes (taking its part of [`AppState`] through
/// `FromRef`), merged here into the public or the protected router.
pub(super) fn router(
    state: AppState,
    strategies: &StrategyRegistry,
) -> Result<Router, authn::AuthError> {
    let require_jwt = strategies.require([BearerJwtStrategy::NAME])?;
    let require_first_factor = strategies.require([FIRST_FACTOR_STRATEGY])?;
    // `route_layer`: the protected routes authenticate after routing, so unknown paths are 404.
    // Credential and session routes know the request's context and client bucket (audit log).
    let identify = from_fn_with_state(Throttles::from_ref(&state), throttle::identify_client);
    let audited = ServiceBuilder::new()
        .layer(identify)
        .layer(from_fn(audit::with_context));
    // Each group's route layers are one (a `ServiceBuilder`): axum boxes and clones a route
    // on every request for each `route_layer`. `TrackLayer` counts and times every routed
    // request, and runs after routing, where the route's template is known.
    let protected = accounts::protected_router()
        .merge(sessions::protected_router())
        .route_layer(audited.clone())
        .merge(accounts::who_am_i_router())
        .merge(audit::router())
        .merge(todos::router())
        .route_layer(ServiceBuilder::new().layer(TrackLayer).layer(require_jwt));
    // What a token of the password alone (an account with a second factor) may call.
    let first_factor = accounts::first_factor_router()
        .merge(sessions::first_factor_router())
        .route_layer(audited.clone())
        .route_layer(
            ServiceBuilder::new()
                .layer(TrackLayer)
                .layer(require_first_factor),
        );
    let public = accounts::public_router()
        .merge(sessions::public_router())
        .route_layer(ServiceBuilder::new().layer(TrackLayer).layer(audited));
    let (api, operations) = OpenApiRouter::new()
        .merge(public)
        .merge(health::router().route_layer(TrackLayer))
        .merge(keys::router().route_layer(TrackLayer))
        .merge(protected)
        .merge(first_factor)
        .split_for_parts();
    let doc = openapi::document(operations);
    let documents_and_pages = openapi::router(doc)
        .merge(mail::pages::router())
        .route("/metrics", axum::routing::get(metrics::render))
        .route_layer(TrackLayer);

    // The body limit is set outside the router (`with_middleware`), once per request rather
    // than in every route.
    Ok(api
        .merge(documents_and_pages)
        .fallback(metrics::endpoint_not_found)
        .method_not_allowed_fallback(metrics::method_not_allowed)
        .with_state(state))
}

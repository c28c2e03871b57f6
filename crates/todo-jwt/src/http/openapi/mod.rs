//! The OpenAPI document, the API explorer and the home page.
//!
//! The document is generated from the route table (utoipa-axum): a route cannot exist without
//! its operation, and request-body schemas are the very schemas bodies are validated against.
//! Operation ids are LoopBack's (`TodoController.find`), so clients generated from either
//! document call the same methods. Protected operations require `jwt` (or `password`); public
//! ones say so with an empty `security`. Each operation lists the error statuses it can answer
//! ([`errors`]).

mod conditional;
mod errors;
mod finish;
pub mod v30;

pub use conditional::{IfMatch, IfNoneMatch, NotModified};
pub use errors::{
    BadRequest, Conflict, ErrorEnvelope, Forbidden, JsonBodyErrors, NotFound, PayloadTooLarge,
    PreconditionFailed, PreconditionRequired, RequestTimeout, ServiceUnavailable, TooManyRequests,
    Unauthorized, UnprocessableEntity, UnsupportedMediaType,
};

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self,
        security::{Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme},
    },
};
use utoipa_swagger_ui::SwaggerUi;

/// The parts of the document that do not come from a route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "todo-jwt",
        description = "A Todo REST API secured with JWT, wire-compatible with LoopBack 4's todo-jwt \
                       example. Sign up, log in, then Authorize (paste the token, or log in with \
                       email and password) to manage your todos. The same document in OpenAPI \
                       3.0.3, for tools that read no 3.1: `/openapi-3.0.json`.",
        contact(name = "The todo-jwt maintainers"),
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "UserController", description = "Accounts, sessions and tokens"),
        (name = "TodoController", description = "The caller's todos"),
        (name = "KeysController", description = "The public keys that verify access tokens"),
        (name = "HealthController", description = "Liveness and readiness, for load balancers"),
        (name = "MetricsController", description = "Metrics, for Prometheus"),
    ),
    servers((url = "/", description = "The server that serves this document")),
    components(
        schemas(ErrorEnvelope),
        responses(
            NotModified, BadRequest, Unauthorized, Forbidden, NotFound, RequestTimeout, Conflict,
            PreconditionFailed, PayloadTooLarge, UnsupportedMediaType, UnprocessableEntity,
            PreconditionRequired, TooManyRequests, ServiceUnavailable,
        ),
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// `jwt` (paste a token) and `password` (log in from the explorer) security schemes.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The token from `POST /users/login`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "password",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::Password(Password::new("/users/token", Scopes::new()))],
                "Log in with your email (as username) and password",
            )),
        );
        components.add_security_scheme(
            "metrics",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`TODO_JWT_METRICS_TOKEN`, when the operator set one"))
                    .build(),
            ),
        );
    }
}

/// The finished document, from the routes' operations.
pub fn document(routes: openapi::OpenApi) -> openapi::OpenApi {
    let mut doc = ApiDoc::openapi().merge_from(routes);
    finish::metrics_operation(&mut doc);
    finish::operations(&mut doc);
    finish::token_errors(&mut doc);
    doc
}

/// `/openapi.json`, its 3.0.3 rendering `/openapi-3.0.json`, `/explorer/` (Swagger UI from the
/// binary) and `/`.
pub fn router<S: Clone + Send + Sync + 'static>(doc: openapi::OpenApi) -> Router<S> {
    let older = serde_json::to_value(&doc)
        .map(|document| v30::render(&document).to_string())
        .unwrap_or_default();
    let older = axum::body::Bytes::from(older);
    // The redirect fix-up wraps the explorer's routes only, not every request.
    Router::from(SwaggerUi::new("/explorer").url("/openapi.json", doc))
        .route(
            "/explorer/swagger-initializer.js",
            get(explorer_initializer),
        )
        .layer(axum::middleware::from_fn(explorer_redirect))
        .route(
            "/openapi-3.0.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], older) }),
        )
        .route("/", get(home))
}

/// Swagger UI's start-up with the plugin that keeps `filter` and `where` text boxes (see the
/// file's comment).
async fn explorer_initializer() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("explorer.js"),
    )
}

/// LoopBack answers `GET /explorer` with a 301 to `./explorer/` (Swagger UI's own is a 303).
pub async fn explorer_redirect(request: Request, next: Next) -> Response {
    if request.uri().path() == "/explorer" {
        let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
        response
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("./explorer/"));
        return response;
    }
    next.run(request).await
}

async fn home() -> Html<&'static str> {
    Html(include_str!("home.html"))
}

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
                       email and password) to manage your todos.",
    ),
    tags(
        (name = "UserController", description = "Accounts and tokens"),
        (name = "TodoController", description = "The caller's todos"),
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
    }
}

/// Gives every operation the envelope as its `default` response (what it does not list), and
/// an explicit empty `security` when it has none: public, rather than unspecified.
fn finish_operations(doc: &mut openapi::OpenApi) {
    let default = errors::default_response();
    let forbidden = openapi::Ref::from_response_name("Forbidden");
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| default.clone().into());
            let security = operation.security.get_or_insert_with(Vec::new);
            // A token of the password alone (an account with a second factor) is 403
            // `MFA_REQUIRED` everywhere but on the routes that complete or inspect its login.
            let first_factor = operation
                .operation_id
                .as_deref()
                .is_some_and(|id| FIRST_FACTOR_OPERATIONS.contains(&id));
            if !security.is_empty() && !first_factor {
                operation
                    .responses
                    .responses
                    .entry("403".to_owned())
                    .or_insert_with(|| forbidden.clone().into());
            }
        }
    }
}

/// The operations a token of the password alone may call.
const FIRST_FACTOR_OPERATIONS: [&str; 3] = [
    "UserController.findFactors",
    "UserController.completeLogin",
    "UserController.logout",
];

/// The finished document, from the routes' operations.
pub fn document(routes: openapi::OpenApi) -> openapi::OpenApi {
    let mut doc = ApiDoc::openapi().merge_from(routes);
    finish_operations(&mut doc);
    doc
}

/// `/openapi.json`, `/explorer/` (Swagger UI from the binary) and `/`.
pub fn router<S: Clone + Send + Sync + 'static>(doc: openapi::OpenApi) -> Router<S> {
    // The redirect fix-up wraps the explorer's routes only, not every request.
    Router::from(SwaggerUi::new("/explorer").url("/openapi.json", doc))
        .route(
            "/explorer/swagger-initializer.js",
            get(explorer_initializer),
        )
        .layer(axum::middleware::from_fn(explorer_redirect))
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

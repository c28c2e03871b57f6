//! The OpenAPI document, the API explorer and the home page.
//!
//! The document is generated from the route table (utoipa-axum): a route cannot exist without
//! its operation, and request-body schemas are the very schemas bodies are validated against.
//! Only the protected operations carry security requirements; signup and login are public.

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use serde_json::Value;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self, Content, RefOr, ResponseBuilder,
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
    components(schemas(ErrorEnvelope)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Every error: LoopBack's envelope.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documents the JSON that `ApiError` writes")]
pub struct ErrorEnvelope {
    error: ErrorBody,
}

/// The inside of the error envelope.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documents the JSON that `ApiError` writes")]
struct ErrorBody {
    /// The HTTP status again.
    #[schema(rename = "statusCode")]
    status_code: u16,
    /// The error class, e.g. `UnauthorizedError` (absent on 500).
    #[schema(nullable = false)]
    name: Option<String>,
    message: String,
    /// A machine-readable code, e.g. `VALIDATION_FAILED`, `ENTITY_NOT_FOUND`.
    #[schema(nullable = false)]
    code: Option<String>,
    /// One entry per problem (422: `path`, `code`, `message`, `info`; 400: `path`, `message`).
    #[schema(nullable = false)]
    details: Option<Vec<Value>>,
}

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

/// Adds the error envelope as every operation's `default` response: any status an operation
/// does not list (400, 401, 404, 409, 413, 415, 422, 500) has that body.
fn document_errors(doc: &mut openapi::OpenApi) {
    let default = ResponseBuilder::new()
        .description("An error, in LoopBack's envelope")
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(openapi::Ref::from_schema_name(
                "ErrorEnvelope",
            )))),
        )
        .build();
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
        }
    }
}

/// The finished document, from the routes' operations.
pub fn document(routes: openapi::OpenApi) -> openapi::OpenApi {
    let mut doc = ApiDoc::openapi().merge_from(routes);
    document_errors(&mut doc);
    doc
}

/// `/openapi.json`, `/explorer/` (Swagger UI from the binary) and `/`.
pub fn router<S: Clone + Send + Sync + 'static>(doc: openapi::OpenApi) -> Router<S> {
    // The redirect fix-up wraps the explorer's routes only, not every request.
    Router::from(SwaggerUi::new("/explorer").url("/openapi.json", doc))
        .layer(axum::middleware::from_fn(explorer_redirect))
        .route("/", get(home))
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

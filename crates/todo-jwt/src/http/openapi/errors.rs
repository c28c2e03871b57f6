//! Errors in the document: the envelope's schema, and one named response per error status
//! (`#/components/responses/<Name>`), which each operation lists for the statuses it can
//! really answer. What no operation lists is under `4XX` (the 404/405/414/431 of the router
//! and the HTTP layer) and `5XX` (500), with the same envelope: generators take those as error
//! types, where some took `default` for a second success type.

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::{
    IntoResponses, ToResponse, ToSchema,
    openapi::{
        Content, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder, Type, schema::ObjectBuilder,
    },
};

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
    /// One entry per problem: a body that breaks its schema (422), a `filter` or `where` that
    /// breaks the filter language (400).
    #[schema(nullable = false)]
    details: Option<Vec<ErrorDetail>>,
}

/// One problem, where it is and what is wrong (`ValidationDetail` for bodies, in AJV's shape;
/// the filter parser's problems have only `path` and `message`).
#[derive(ToSchema)]
#[expect(dead_code, reason = "documents the JSON that `ApiError` writes")]
struct ErrorDetail {
    /// A JSON pointer into the body or the parameter (`""` for the whole of it), e.g. `/title`.
    path: String,
    /// What is wrong, e.g. `must NOT have fewer than 8 characters`.
    message: String,
    /// Bodies only: the JSON Schema keyword that failed, e.g. `required`, `minLength`.
    #[schema(nullable = false)]
    code: Option<String>,
    /// Bodies only: the keyword's parameters, e.g. `{"limit":8}`, `{"missingProperty":"title"}`.
    #[schema(nullable = false, value_type = Option<Object>)]
    info: Option<Value>,
}

/// The envelope under `description`, with the headers it comes with.
fn envelope(description: &str, headers: &[(&str, &str)]) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(RefOr::Ref(Ref::from_schema_name("ErrorEnvelope")))),
    );
    for (name, about) in headers {
        // `Retry-After` is always a number of seconds here, never an HTTP date.
        let schema = ObjectBuilder::new().schema_type(if *name == "Retry-After" {
            Type::Integer
        } else {
            Type::String
        });
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(Some(schema))
                .description(Some(*about))
                .build(),
        );
    }
    response.build()
}

/// Declares a named error response: the envelope, with a description and headers.
macro_rules! error_response {
    ($(#[$meta:meta])* $name:ident, $description:literal $(, $header:literal: $about:literal)*) => {
        $(#[$meta])*
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), envelope($description, &[$(($header, $about)),*]).into())
            }
        }
    };
}

error_response!(
    /// 400.
    BadRequest,
    "The request is malformed: a body that is not JSON or is missing, a path id that is not \
     an integer, a `filter` or `where` outside the filter language (`INVALID_PARAMETER_VALUE`, \
     with `details`), a patch that changes nothing or an `id` that differs from the path's \
     (`INVALID_BODY_DEFINITION`), an `If-Match` or `If-None-Match` that is not `*` or a list \
     of quoted entity tags (`INVALID_PRECONDITION`)"
);
error_response!(
    /// 401.
    Unauthorized,
    "No valid credentials: no or a bad `Authorization` header, a token that is expired or \
     malformed, a token whose session has ended (`SESSION_ENDED`: log in again) or whose user \
     is gone; or a wrong email or password",
    "WWW-Authenticate": "`Bearer`"
);
error_response!(
    /// 403.
    Forbidden,
    "The password given to confirm the change is wrong; or the token has the password only, \
     for an account with a second factor (`MFA_REQUIRED`: complete the login with \
     `POST /users/login/mfa`); or, at login, the account's address is not proven and the \
     service requires it (`EMAIL_NOT_VERIFIED`, with `TODO_JWT_REQUIRE_VERIFIED_EMAIL=true`: \
     open the signup message's link, or ask for a new one)"
);
error_response!(
    /// 404.
    NotFound,
    "No such record among the caller's (`ENTITY_NOT_FOUND`): another user's is not found either"
);
error_response!(
    /// 408.
    RequestTimeout,
    "The body did not arrive within the body timeout"
);
error_response!(
    /// 409.
    Conflict,
    "The email is already registered (in any letter case)"
);
error_response!(
    /// 412.
    PreconditionFailed,
    "`If-Match` names no current version (or `If-None-Match` names the current one, or is `*`): \
     the todo or the list changed since that tag was sent, and nothing was changed \
     (`PRECONDITION_FAILED`). `ETag` carries the current tag: read again, merge, retry",
    "ETag": "The current entity tag"
);
error_response!(
    /// 428.
    PreconditionRequired,
    "The service requires `If-Match` on writes (`TODO_JWT_REQUIRE_IF_MATCH=true`) and the \
     request had none (`PRECONDITION_REQUIRED`): send the `ETag` of your last read"
);
error_response!(
    /// 413.
    PayloadTooLarge,
    "The body is over 1 MB"
);
error_response!(
    /// 415.
    UnsupportedMediaType,
    "The body is not declared as `application/json`"
);
error_response!(
    /// 422.
    UnprocessableEntity,
    "The body breaks its schema (`VALIDATION_FAILED`): every problem is listed in `details` \
     (at most 20), in AJV's shape; also a text over its configured length, or a user over \
     their number of todos"
);
error_response!(
    /// 429.
    TooManyRequests,
    "A rate limit: too many failed password checks for this email, or too many requests from \
     this address to the credential endpoints (`TOO_MANY_REQUESTS`)",
    "Retry-After": "Seconds until the limit allows another attempt"
);
error_response!(
    /// 503.
    ServiceUnavailable,
    "Busy: the database work ran out of its time budget (`QUERY_TIMEOUT`; narrow the filter), \
     collided with concurrent work (`CONTENTION`), too many bodies or large lists at once \
     (`BUSY`; page a list with `limit`/`skip`), too many password checks queued \
     (`OVERLOADED`), the database unreachable (`DATABASE_UNAVAILABLE`, on every route that \
     needs it, authentication included), or the service shutting down (`SHUTTING_DOWN`, \
     readiness only); retry later",
    "Retry-After": "Seconds to wait before retrying (1; 2 for `DATABASE_UNAVAILABLE`)"
);

/// The refs to named responses, by status.
fn refs(named: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    named
        .iter()
        .map(|(status, name)| {
            (
                (*status).to_owned(),
                RefOr::Ref(Ref::from_response_name(*name)),
            )
        })
        .collect()
}

/// What the JSON body extractor (`body::JsonBody`) answers for a body it refuses: list it in
/// the `responses` of every operation that takes one.
pub struct JsonBodyErrors;

impl IntoResponses for JsonBodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[
            ("400", "BadRequest"),
            ("408", "RequestTimeout"),
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
            ("422", "UnprocessableEntity"),
            ("503", "ServiceUnavailable"),
        ])
    }
}

/// The `4XX` response of every operation: a client error it does not list.
pub fn client_error_response() -> Response {
    envelope(
        "Any other client error, in LoopBack's envelope: what the router and the HTTP layer \
         answer (404 for an unknown route, 405 with `Allow`, 414 or 431 for a request line or \
         head over 64 KiB)",
        &[],
    )
}

/// The `5XX` response of every operation: a server error it does not list.
pub fn server_error_response() -> Response {
    envelope(
        "A fault of ours (500, with a generic message; the cause is in the service's log), in \
         LoopBack's envelope",
        &[],
    )
}

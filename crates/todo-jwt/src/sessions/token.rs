//! `POST /users/token`: the OAuth 2.0 password grant (RFC 6749, section 4.3), so the API
//! explorer's Authorize dialog can log in with an email and a password.

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Sessions, mfa::SecondStep};
use crate::audit::ClientInfo;
use crate::{
    accounts::Credentials,
    http::body::{BodyLimits, BodySchema, read_body, validate},
    http::error::ApiError,
    http::openapi::{PayloadTooLarge, RequestTimeout, ServiceUnavailable, TooManyRequests},
    throttle::Throttles,
};

/// The form `POST /users/token` takes (documentation only: the handler reads the form itself
/// so that every refusal is an RFC 6749 error).
#[derive(ToSchema)]
#[expect(dead_code, reason = "documents the form `issue_token` parses")]
pub struct TokenRequest {
    /// `password` (with `username` and `password`) or `refresh_token` (with `refresh_token`).
    #[schema(example = "password")]
    grant_type: GrantType,
    /// The account's email (password grant).
    #[schema(example = "ann@example.com", nullable = false)]
    username: Option<String>,
    /// The account's password (password grant).
    #[schema(format = Password, nullable = false)]
    password: Option<String>,
    /// A refresh token (refresh grant).
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    /// For an account with a second factor, its code (the app's, or a recovery code), with
    /// the password: required for such an account (else `invalid_grant`), ignored for others.
    #[schema(example = "123456", nullable = false)]
    mfa_code: Option<String>,
}

/// The grants `POST /users/token` takes (documentation only: another value is refused with
/// `unsupported_grant_type`).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(dead_code, reason = "documents the values `issue_token` accepts")]
pub enum GrantType {
    /// An email (`username`) and password.
    Password,
    /// A refresh token.
    RefreshToken,
}

/// A successful token response (RFC 6749, section 5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token: the same JWT `POST /users/login` gives.
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
    /// The session's refresh token, for `grant_type=refresh_token` (absent when rotation is
    /// off and a refresh token was presented: it stays valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    refresh_token: Option<String>,
}

/// An error response (RFC 6749, section 5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_grant` or `unsupported_grant_type`.
    error: &'static str,
    /// What went wrong, for people.
    error_description: String,
}

fn refuse(error: &'static str, description: impl Into<String>) -> Response {
    let body = OAuthError {
        error,
        error_description: description.into(),
    };
    with_no_store((StatusCode::BAD_REQUEST, Json(body)).into_response())
}

/// The one content type the token endpoint takes.
const FORM: &str = "application/x-www-form-urlencoded";

/// Checks an email and a password against the login body's schema (email format and length,
/// password length, no NUL); the problems, in the form's words, if any.
fn check_credentials(email: &str, password: &str) -> Result<(), String> {
    let value = json!({"email": email, "password": password});
    let error = match crate::json::nul_path(&value) {
        Some(_) => Some("`username` and `password` must not contain NUL characters".to_owned()),
        None => validate(<Credentials as BodySchema>::validator(), &value)
            .err()
            .map(|error| match error {
                ApiError::Validation(details) => details
                    .iter()
                    .map(|detail| {
                        let field = match detail.path.as_str() {
                            "/email" => "username",
                            _ => "password",
                        };
                        format!("`{field}` {}", detail.message)
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            }),
    };
    error.map_or(Ok(()), Err)
}

/// Tokens must not be cached by anything between server and client (RFC 6749, 5.1).
pub(super) fn with_no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Issues an access token for an email (`username`) and password, OAuth 2.0 style.
#[utoipa::path(
    post, path = "/users/token", tag = "UserController",
    operation_id = "UserController.issueToken",
    request_body(content_type = "application/x-www-form-urlencoded", content = TokenRequest),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "Refused (RFC 6749, 5.2)", body = OAuthError),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn issue_token(
    State(sessions): State<Sessions>,
    State(bodies): State<BodyLimits>,
    State(throttles): State<Throttles>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let client = ClientInfo::of(&headers, request.extensions());
    let bucket = throttles.client_bucket(&headers, request.extensions());
    if let Err(error) = throttles.hit_address(bucket.as_deref()).await {
        return error.into_response();
    }
    let received = match read_body(&bodies, request).await {
        Ok(received) => received,
        Err(error) => return error.into_response(),
    };
    let body = &received.bytes;
    // Only a form: a `text/plain` body is what a cross-site HTML form can send without a
    // preflight, and it must not log a browser in.
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM));
    if !form {
        return refuse("invalid_request", format!("the body must be {FORM}"));
    }
    let (mut grant_type, mut username, mut password, mut refresh_token, mut mfa_code) =
        (None, None, None, None, None);
    for (key, value) in form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "grant_type" => &mut grant_type,
            "username" => &mut username,
            "password" => &mut password,
            "refresh_token" => &mut refresh_token,
            "mfa_code" => &mut mfa_code,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return refuse("invalid_request", format!("`{key}` is given twice"));
        }
    }
    match grant_type.as_deref() {
        Some("password") => {}
        // RFC 6749, section 6.
        Some("refresh_token") => {
            let Some(presented) = refresh_token.filter(|token| (1..=512).contains(&token.len()))
            else {
                return refuse("invalid_request", "`refresh_token` is required");
            };
            return match sessions.refresh(&presented).await {
                Ok(tokens) => answer(&sessions, tokens),
                Err(ApiError::Unauthorized(message) | ApiError::Denied { message, .. }) => {
                    refuse("invalid_grant", message)
                }
                Err(other) => other.into_response(),
            };
        }
        Some(_) => {
            return refuse(
                "unsupported_grant_type",
                "only `password` and `refresh_token` are supported",
            );
        }
        None => return refuse("invalid_request", "`grant_type` is required"),
    }
    let (Some(email), Some(password)) = (username, password) else {
        return refuse("invalid_request", "`username` and `password` are required");
    };
    // The same rules as `/users/login`'s body, before any password is hashed.
    if let Err(problems) = check_credentials(&email, &password) {
        return refuse("invalid_request", problems);
    }
    let credentials = Credentials {
        email,
        password: SecretString::from(password),
    };
    if mfa_code
        .as_ref()
        .is_some_and(|code| !(6..=32).contains(&code.len()))
    {
        return refuse("invalid_request", "`mfa_code` is 6 to 32 characters");
    }
    // No `aal1` session from here: a client of this grant could not complete it.
    let second = match &mfa_code {
        Some(code) => SecondStep::Code(code),
        None => SecondStep::Required,
    };
    match sessions.start(credentials, client, true, second).await {
        Ok(tokens) => answer(&sessions, tokens),
        Err(
            ApiError::Unauthorized(message)
            | ApiError::Denied { message, .. }
            | ApiError::BadRequest { message, .. },
        ) => refuse("invalid_grant", message),
        Err(other) => other.into_response(),
    }
}

/// A successful token response.
fn answer(sessions: &Sessions, tokens: super::Tokens) -> Response {
    let body = TokenResponse {
        access_token: tokens.access_token,
        token_type: "bearer",
        expires_in: sessions.token_lifetime().as_secs(),
        refresh_token: tokens.refresh_token,
    };
    with_no_store(Json(body).into_response())
}

//! The second factor's routes: enrol, activate, inspect, regenerate the recovery codes, remove.

use authn::CurrentUser;
use axum::{Json, extract::State, http::StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::Enrolment;
use crate::{
    accounts::Accounts,
    http::{
        body::{JsonBody, json_body_schema},
        error::Result,
        openapi::{
            Conflict, Forbidden, JsonBodyErrors, ServiceUnavailable, TooManyRequests, Unauthorized,
        },
    },
    throttle::AddressLimited,
};

/// A code from the app, or a recovery code.
#[derive(Debug, Deserialize)]
pub struct FactorCode {
    pub code: String,
}

/// A code's schema: 6 digits, or a recovery code (`xxxx-xxxx-xxxx-xxxx`).
pub(crate) fn code_schema() -> serde_json::Value {
    json!({"type": "string", "minLength": 6, "maxLength": 32, "example": "123456"})
}

json_body_schema!(
    FactorCode,
    json!({
        "type": "object",
        "required": ["code"],
        "additionalProperties": false,
        "properties": {"code": code_schema()},
    })
);

/// `POST /users/me/mfa/recovery-codes`.
#[derive(Debug, Deserialize)]
pub struct PasswordOnly {
    pub password: SecretString,
}

json_body_schema!(
    PasswordOnly,
    json!({
        "type": "object",
        "required": ["password"],
        "additionalProperties": false,
        "properties": {"password": {"type": "string", "minLength": 1, "maxLength": 256}},
    })
);

/// `DELETE /users/me/mfa/totp`.
#[derive(Debug, Deserialize)]
pub struct FactorRemoval {
    pub password: SecretString,
    pub code: String,
}

json_body_schema!(
    FactorRemoval,
    json!({
        "type": "object",
        "required": ["password", "code"],
        "additionalProperties": false,
        "properties": {
            "password": {"type": "string", "minLength": 1, "maxLength": 256},
            "code": code_schema(),
        },
    })
);

/// Recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// Ten codes, each usable once instead of the app's code. Keep them somewhere safe.
    pub recovery_codes: Vec<String>,
}

/// What factors the caller has.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Factors {
    /// Whether an authenticator app is active.
    pub totp: bool,
    /// How many recovery codes are left.
    pub recovery_codes_left: i64,
}

/// Starts enrolling an authenticator app: a new secret, inactive until a code of it is
/// verified.
#[utoipa::path(
    post, path = "/users/me/mfa/totp", tag = "UserController",
    operation_id = "UserController.enrolTotp",
    security(("jwt" = [])),
    responses(
        (status = 200, description = "The secret: base32, as an `otpauth://` URI, and as a QR \
            code (SVG). Nothing changes until a code of it is verified", body = Enrolment),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn enrol_totp(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
) -> Result<Json<Enrolment>> {
    Ok(Json(accounts.enrol_totp(&caller).await?))
}

/// Activates the enrolled app with one of its codes; answers the recovery codes, once.
#[utoipa::path(
    post, path = "/users/me/mfa/totp/verify", tag = "UserController",
    operation_id = "UserController.verifyTotp",
    security(("jwt" = [])),
    request_body = FactorCode,
    responses(
        (status = 200, description = "Active: logins now need a code. The caller's other \
            sessions have ended. A wrong code is 400 `INVALID_CODE`", body = RecoveryCodes),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn verify_totp(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    JsonBody(body): JsonBody<FactorCode>,
) -> Result<Json<RecoveryCodes>> {
    let recovery_codes = accounts.activate_totp(&caller, &body.code).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// What second factors the caller has (also with a token of the password alone).
#[utoipa::path(
    get, path = "/users/me/mfa", tag = "UserController",
    operation_id = "UserController.findFactors",
    security(("jwt" = [])),
    responses(
        (status = 200, description = "The caller's factors", body = Factors),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn find_factors(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
) -> Result<Json<Factors>> {
    let (totp, recovery_codes_left) = accounts.factors_of(&caller).await?;
    Ok(Json(Factors {
        totp,
        recovery_codes_left,
    }))
}

/// New recovery codes; the old ones stop working.
#[utoipa::path(
    post, path = "/users/me/mfa/recovery-codes", tag = "UserController",
    operation_id = "UserController.newRecoveryCodes",
    security(("jwt" = [])),
    request_body = PasswordOnly,
    responses(
        (status = 200, description = "Ten new codes, shown once", body = RecoveryCodes),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn new_recovery_codes(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    JsonBody(body): JsonBody<PasswordOnly>,
) -> Result<Json<RecoveryCodes>> {
    let recovery_codes = accounts.regenerate_codes(&caller, body.password).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Removes the authenticator app and the recovery codes (the password and a fresh code).
#[utoipa::path(
    delete, path = "/users/me/mfa/totp", tag = "UserController",
    operation_id = "UserController.disableTotp",
    security(("jwt" = [])),
    request_body = FactorRemoval,
    responses(
        (status = 204, description = "Removed: logins need the password only. A wrong code \
            is 400 `INVALID_CODE`"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn disable_totp(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    JsonBody(body): JsonBody<FactorRemoval>,
) -> Result<StatusCode> {
    accounts
        .disable_totp(&caller, body.password, &body.code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

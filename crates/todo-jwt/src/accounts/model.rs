//! The account DTOs and their schemas.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::{http::body::json_body_schema, store::User};

/// Email and password rules shared by signup and login (LoopBack validates them only at login).
pub(super) fn credential_properties() -> serde_json::Value {
    json!({
        "email": {"type": "string", "format": "email", "maxLength": 254},
        "password": {"type": "string", "minLength": 8, "maxLength": 256},
    })
}

/// `POST /signup`.
#[derive(Debug, Deserialize)]
pub struct NewUser {
    pub email: String,
    pub password: SecretString,
    pub username: Option<String>,
    pub realm: Option<String>,
}

json_body_schema!(NewUser, {
    let mut properties = credential_properties();
    properties["username"] = json!({"type": "string", "minLength": 1, "maxLength": 256});
    properties["realm"] = json!({"type": "string", "maxLength": 256});
    // Unknown and server-owned fields (`id`, `emailVerified`, ...) are refused, not ignored.
    json!({
        "type": "object",
        "required": ["email", "password"],
        "additionalProperties": false,
        "properties": properties,
        "example": {"email": "ann@example.com", "password": "correct horse", "username": "ann"},
    })
});

/// An email and a password: `POST /users/login`'s body, and what every password check takes.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: SecretString,
}

json_body_schema!(
    Credentials,
    json!({
        "type": "object",
        "required": ["email", "password"],
        "additionalProperties": false,
        "properties": credential_properties(),
        "example": {"email": "ann@example.com", "password": "correct horse"},
    })
);

/// `PUT /users/me/password`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    pub current_password: SecretString,
    pub new_password: SecretString,
}

json_body_schema!(
    PasswordChange,
    json!({
        "type": "object",
        "required": ["currentPassword", "newPassword"],
        "additionalProperties": false,
        "properties": {
            "currentPassword": {"type": "string", "minLength": 1, "maxLength": 256},
            // Signup's rule.
            "newPassword": credential_properties()["password"].clone(),
        },
    })
);

/// `DELETE /users/me`.
#[derive(Debug, Deserialize)]
pub struct AccountDeletion {
    pub password: SecretString,
}

json_body_schema!(
    AccountDeletion,
    json!({
        "type": "object",
        "required": ["password"],
        "additionalProperties": false,
        "properties": {
            "password": {"type": "string", "minLength": 1, "maxLength": 256},
        },
    })
);

/// A user as the API shows it: never with a password.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    /// UUID v4.
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub realm: Option<String>,
    /// Whether the owner proved the address (the link of the message sent at signup, or of
    /// an address change).
    pub email_verified: bool,
}

impl UserBody {
    /// `user` as the API shows it; `email_verified`: whether the address is proven.
    pub fn new(
        User {
            id,
            email,
            username,
            realm,
        }: User,
        email_verified: bool,
    ) -> Self {
        Self {
            id,
            email,
            username,
            realm,
            email_verified,
        }
    }
}

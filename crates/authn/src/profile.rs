//! Who the caller is: the profile a strategy establishes and handlers read.

use serde::{Deserialize, Serialize};

/// Who the caller is, as a strategy established it (LoopBack's `UserProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserProfile {
    /// The stable user id (LoopBack's `securityId` / `id`).
    pub id: String,
    /// A display name, when the user has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's email, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The session this request belongs to, when the strategy tracks sessions (a JWT's `sid`
    /// claim): what logout ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The authentication assurance level the credentials reached, when the strategy tells
    /// (`aal1`: the password alone where the account has a second factor; `aal2`: both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aal: Option<String>,
    /// How the caller authenticated, in RFC 8176's words (`pwd`, `otp`), when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

impl UserProfile {
    /// A profile with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
}

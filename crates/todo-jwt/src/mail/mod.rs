//! Mail: what the service tells an account's owner, and how it reaches them.
//!
//! A message is written to the store's outbox in the transaction of the change that causes it
//! ([`Mailer::enqueue`]): no mail for a change that rolled back, no change without its mail. The
//! sender ([`sender`]) delivers the outbox in the background, through the configured
//! [`Transport`]: SMTP (`TODO_JWT_SMTP_URL`), or by default `.eml` files in the data directory,
//! so that a newcomer without a mail server can open the links. A failed attempt is retried
//! with a growing delay; after [`sender::MAX_ATTEMPTS`] the message is given up, kept in the
//! table, counted and logged. Each message carries its token twice: in a link under
//! `TODO_JWT_PUBLIC_URL`, and on a line of its own for clients without a browser.

pub mod pages;
pub mod sender;
mod transport;

use std::sync::Arc;

use lettre::message::Mailbox;
use tokio::sync::Notify;

pub use transport::{SetupError, Transport, TransportError};

use crate::store::{Mail, StoreError};

/// What a message says: its subject and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    /// The subject line.
    pub subject: String,
    /// The plain text.
    pub body: String,
}

/// How long an address verification link works.
pub const VERIFY_EMAIL_LIFETIME: i64 = 24 * 3600;

/// The purpose an address verification token is stored under.
pub const VERIFY_EMAIL: &str = "verify-email";

/// How long a password reset link works (OWASP's Forgot Password cheat sheet).
pub const PASSWORD_RESET_LIFETIME: i64 = 30 * 60;

/// The purpose a password reset token is stored under.
pub const PASSWORD_RESET: &str = "password-reset";

/// How long a link confirming a new address works.
pub const CHANGE_EMAIL_LIFETIME: i64 = 24 * 3600;

/// The purpose an address change token is stored under.
pub const CHANGE_EMAIL: &str = "change-email";

/// `address` with its local part hidden but for its first character (`a***@example.org`): a
/// notice says which address without handing it to whoever reads the old mailbox.
pub fn masked(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// Writes messages and wakes their sender.
#[derive(Clone, Debug)]
pub struct Mailer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    from: Mailbox,
    public_url: String,
    transport: Transport,
    wake: Notify,
}

impl Mailer {
    /// Messages from `from`, with links under `public_url` (an origin, without a trailing
    /// slash), delivered through `transport`.
    pub fn new(from: Mailbox, public_url: String, transport: Transport) -> Self {
        Self(Arc::new(Inner {
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
            transport,
            wake: Notify::new(),
        }))
    }

    /// The address verification message for `token`.
    pub fn verification(&self, token: &str) -> Letter {
        let link = format!("{}/verify-email#token={token}", self.0.public_url);
        Letter {
            subject: "Confirm your email address".to_owned(),
            body: format!(
                "Someone, hopefully you, signed up with this address.\r\n\r\n\
                 To confirm it is yours, open this link within {hours} hours:\r\n\r\n\
                 {link}\r\n\r\n\
                 or send this token to POST /users/verify-email:\r\n\r\n\
                 token={token}\r\n\r\n\
                 If it was not you, ignore this message: nothing happens without the link.\r\n",
                hours = VERIFY_EMAIL_LIFETIME / 3600,
            ),
        }
    }

    /// The password reset message for `token`.
    pub fn password_reset(&self, token: &str) -> Letter {
        let link = format!("{}/reset-password#token={token}", self.0.public_url);
        Letter {
            subject: "Reset your password".to_owned(),
            body: format!(
                "Someone, hopefully you, asked to reset the password of the account with this \
                 address.\r\n\r\n\
                 To choose a new password, open this link within {minutes} minutes:\r\n\r\n\
                 {link}\r\n\r\n\
                 or send this token, with the new password, to \
                 POST /users/password-reset/confirm:\r\n\r\n\
                 token={token}\r\n\r\n\
                 If it was not you, ignore this message: your password stays as it is.\r\n",
                minutes = PASSWORD_RESET_LIFETIME / 60,
            ),
        }
    }

    /// The message to a new address, for `token`: opening its link moves the account there.
    pub fn email_change(&self, token: &str) -> Letter {
        let link = format!("{}/confirm-email#token={token}", self.0.public_url);
        Letter {
            subject: "Confirm your new email address".to_owned(),
            body: format!(
                "Someone, hopefully you, asked to move their account to this address.\r\n\r\n\
                 To confirm it is yours and make the change, open this link within {hours} \
                 hours:\r\n\r\n\
                 {link}\r\n\r\n\
                 or send this token to POST /users/me/email/confirm:\r\n\r\n\
                 token={token}\r\n\r\n\
                 If it was not you, ignore this message: nothing changes without the link.\r\n",
                hours = CHANGE_EMAIL_LIFETIME / 3600,
            ),
        }
    }

    /// The notice to the current address that a move to `new` was asked (it happens only if
    /// the link sent to `new` is opened). The new address is shown masked.
    pub fn email_change_requested(&self, new: &str) -> Letter {
        Letter {
            subject: "A change of your email address was asked".to_owned(),
            body: format!(
                "Someone who knew the password of the account with this address asked to move \
                 it to {masked}.\r\n\r\n\
                 Nothing changes until the link sent to that address is opened. If it was not \
                 you, reset your password now at {url}/reset-password: that also cancels the \
                 change. Then tell whoever runs this service.\r\n",
                masked = masked(new),
                url = self.0.public_url
            ),
        }
    }

    /// The notice to the former address that the account moved to `new` (shown masked).
    pub fn email_changed(&self, new: &str) -> Letter {
        Letter {
            subject: "Your email address was changed".to_owned(),
            body: format!(
                "The account that had this address now has {}: its owner confirmed it from \
                 that mailbox. This address no longer logs in.\r\n\r\n\
                 If it was not you, tell whoever runs this service.\r\n",
                masked(new)
            ),
        }
    }

    /// The notice that the account's second factor was turned on or off (`what`).
    pub fn second_factor_changed(&self, what: &str) -> Letter {
        Letter {
            subject: format!("Your second factor was {what}"),
            body: format!(
                "The authenticator-app factor of the account with this address was {what}.\r\n\r\n\
                 If it was not you, reset your password now at {}/reset-password and tell \
                 whoever runs this service.\r\n",
                self.0.public_url
            ),
        }
    }

    /// The notice that `count` wrong app codes in a row were given: only recovery codes work
    /// until one is used.
    pub fn codes_guessed(&self, count: i64) -> Letter {
        Letter {
            subject: "Someone is guessing your codes".to_owned(),
            body: format!(
                "{count} wrong authenticator-app codes in a row were given for the account with \
                 this address, after its password. Until a recovery code is used, app codes \
                 are refused.\r\n\r\n\
                 Someone knows your password: change it now at {}/reset-password.\r\n",
                self.0.public_url
            ),
        }
    }

    /// The notice that a recovery code was used to log in.
    pub fn recovery_code_used(&self) -> Letter {
        Letter {
            subject: "A recovery code was used".to_owned(),
            body: format!(
                "A recovery code of the account with this address was used in place of the \
                 authenticator app's code. It cannot be used again.\r\n\r\n\
                 If it was not you, reset your password now at {}/reset-password and tell \
                 whoever runs this service.\r\n",
                self.0.public_url
            ),
        }
    }

    /// The notice that the account's password changed (`how`: by the owner, or by a reset).
    pub fn password_changed(&self, how: &str) -> Letter {
        Letter {
            subject: "Your password was changed".to_owned(),
            body: format!(
                "The password of the account with this address was changed {how}.\r\n\r\n\
                 If it was you, there is nothing to do. If it was not, reset your password now \
                 at {}/reset-password and tell whoever runs this service.\r\n",
                self.0.public_url
            ),
        }
    }

    /// The notice that the account was deleted.
    pub fn account_deleted(&self) -> Letter {
        Letter {
            subject: "Your account was deleted".to_owned(),
            body: "The account with this address was deleted, with its todos and sessions.\r\n\r\n\
                   If it was not you, tell whoever runs this service.\r\n"
                .to_owned(),
        }
    }

    /// Writes `letter` for `recipient` to the outbox of `mail` (in the caller's transaction);
    /// after the commit, [`Mailer::wake`] sends it at once.
    pub async fn enqueue(
        &self,
        mail: Mail<'_>,
        recipient: &str,
        letter: &Letter,
        now: i64,
    ) -> Result<(), StoreError> {
        mail.outbox_add(recipient, &letter.subject, &letter.body, now)
            .await
    }

    /// Tells the sender that a message is waiting.
    pub fn wake(&self) {
        self.0.wake.notify_one();
    }

    /// The sender of these messages.
    pub fn from(&self) -> &Mailbox {
        &self.0.from
    }

    /// How messages leave.
    pub fn transport(&self) -> &Transport {
        &self.0.transport
    }

    /// Waits until [`Mailer::wake`] is called.
    pub(crate) async fn woken(&self) {
        self.0.wake.notified().await;
    }
}

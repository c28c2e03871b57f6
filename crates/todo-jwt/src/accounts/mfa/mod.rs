//! A second factor: authenticator-app codes (TOTP, RFC 6238: 6 digits, SHA-1, 30 s, what every
//! app reads) and recovery codes.
//!
//! Enrolment stores a new secret (sealed, [`seal`]) that does nothing until a first code proves
//! the app has it; activation answers ten recovery codes, shown once and stored as hashes. A
//! code is accepted once: the time step of the last one accepted is stored, and a code of that
//! step or an earlier one is refused, on every instance (one conditional `UPDATE`). A window
//! of one step either side. Wrong codes count toward the account's lockout like wrong
//! passwords, and for an account with a factor a right password does not clear that count:
//! only a right code does (else logging in again would buy more guesses).

mod codes;
pub mod handlers;
mod manage;
mod seal;

pub use handlers::FactorCode;
pub use seal::SecretSeal;

use authn::UserProfile;
use serde::Serialize;
use totp_rs::{Builder, Secret, Totp};
use utoipa::ToSchema;

use super::Accounts;
use crate::{
    audit::{self, AuthEvent},
    clock,
    http::error::{ApiError, Result},
    store::{Transaction, User},
};
use codes::{is_app_code, recovery_codes, recovery_hash};

/// The code of a code that is wrong, already used, or for a factor that is not there.
pub const INVALID_CODE: &str = "INVALID_CODE";

/// The code of an app's code refused unchecked: too many wrong ones in a row.
pub const USE_RECOVERY_CODE: &str = "USE_RECOVERY_CODE";

/// Wrong app codes in a row after which only a recovery code works (NIST SP 800-63B asks for
/// at most 100): the lockout's window limits the pace, this the total.
pub const MAX_CODE_FAILURES: i64 = 100;

/// The factors of the service: how secrets are sealed, and the issuer apps show.
#[derive(Clone, Debug)]
pub struct SecondFactor {
    seal: SecretSeal,
    issuer: String,
}

impl SecondFactor {
    /// Secrets sealed with `seal`; apps show `issuer` (no `:` in it).
    pub fn new(seal: SecretSeal, issuer: String) -> Self {
        Self { seal, issuer }
    }
}

/// What enrolment answers: the secret three ways.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enrolment {
    /// The secret, base32, for typing into an app.
    pub secret: String,
    /// The `otpauth://totp/...` URI (issuer, account, secret).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// How a second factor was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A code from the authenticator app.
    Totp,
    /// A recovery code (now used up).
    Recovery,
}

/// The 400 of a code that does not work.
fn invalid_code() -> ApiError {
    ApiError::bad_request(
        INVALID_CODE,
        "The code is wrong, was already used, or there is no such factor.",
    )
}

impl Accounts {
    /// The app's view of `secret` for `email` (the label without `:`, which an address may
    /// hold in a domain literal and an `otpauth` label may not).
    fn totp(&self, secret: Vec<u8>, email: &str) -> Result<Totp> {
        Builder::new()
            .with_secret(Secret::from(secret))
            .with_issuer(Some(self.factors().issuer.as_str()))
            .with_account_name(email.replace(':', "_"))
            .build()
            .map_err(ApiError::internal)
    }

    /// Whether `user_id` has an active authenticator factor.
    pub async fn second_factor_active(&self, user_id: &str) -> Result<bool> {
        let found = self.store().mfa().totp_find(user_id).await?;
        Ok(found.is_some_and(|factor| factor.activated_at.is_some()))
    }

    /// Starts (or starts over) the caller's enrolment: a new secret, inactive until a code
    /// of it is verified. 409 while a factor is active.
    pub async fn enrol_totp(&self, caller: &UserProfile) -> Result<Enrolment> {
        let user = self.current(caller).await?;
        let secret: [u8; 20] = rand::random();
        let sealed = self.factors().seal.seal(&user.id, &secret);
        let transaction = self.store().transaction().await?;
        if !transaction
            .mfa()
            .totp_enrol(&user.id, &sealed, clock::now())
            .await?
        {
            return Err(ApiError::Conflict(
                "A second factor is active: remove it first (DELETE /users/me/mfa/totp)."
                    .to_owned(),
            ));
        }
        audit::record(
            transaction.audit(),
            AuthEvent::MfaEnrolled { user: &user.id },
        )
        .await?;
        transaction.commit().await?;
        let totp = self.totp(secret.to_vec(), &user.email)?;
        let otpauth_uri = totp.to_url().map_err(ApiError::internal)?;
        let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
            .map_err(ApiError::internal)?
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .build();
        Ok(Enrolment {
            secret: totp.secret().to_base32(),
            otpauth_uri,
            qr_svg,
        })
    }

    /// Activates the caller's waiting enrolment with a code of its app: ten recovery codes,
    /// shown this once. Every other session of the caller ends (they began with the password
    /// alone).
    pub async fn activate_totp(&self, caller: &UserProfile, code: &str) -> Result<Vec<String>> {
        let user = self.current(caller).await?;
        let Some(factor) = self.store().mfa().totp_find(&user.id).await? else {
            return Err(invalid_code());
        };
        if factor.activated_at.is_some() {
            return Err(ApiError::Conflict(
                "The second factor is active already.".to_owned(),
            ));
        }
        let attempt = self.throttles().reserve(&user.email).await?;
        let checked = async {
            let transaction = self.store().transaction().await?;
            // The account's row, so that a login starting a session now either finishes first
            // (and its session is ended below) or waits and finds the factor active.
            transaction.mfa().user_lock(&user.id).await?;
            let accepted = match self.matching_step(&user, &factor.secret, code)? {
                Some(step) => {
                    let secret = Some(factor.secret.as_slice());
                    transaction
                        .mfa()
                        .totp_accept(&user.id, step, secret, clock::now())
                        .await?
                }
                None => false,
            };
            Ok::<_, ApiError>(accepted.then_some(transaction))
        };
        let transaction = match checked.await {
            Ok(Some(transaction)) => transaction,
            Ok(None) => return Err(self.wrong_code(&user, attempt, None).await),
            Err(error) => {
                self.throttles().release(&user.email).await;
                return Err(error);
            }
        };
        let (codes, hashes) = recovery_codes();
        transaction.mfa().codes_replace(&user.id, &hashes).await?;
        match &caller.session {
            Some(session) => {
                transaction.sessions().end_others(&user.id, session).await?;
                // This session proved both: its refreshed tokens say so.
                transaction.mfa().session_set_aal(session, "aal2").await?;
            }
            None => {
                transaction.sessions().end_all(&user.id).await?;
            }
        }
        audit::record(
            transaction.audit(),
            AuthEvent::MfaActivated { user: &user.id },
        )
        .await?;
        let notice = self.mailer().second_factor_changed("turned on");
        self.mailer()
            .enqueue(transaction.mail(), &user.email, &notice, clock::now())
            .await?;
        transaction.commit().await?;
        self.mailer().wake();
        self.throttles().succeeded(&user.email).await?;
        Ok(codes)
    }

    /// Checks `code` (an app's code or a recovery code) as `user`'s second factor, using it
    /// up: counted toward the account's lockout when wrong, the lockout cleared when right.
    pub async fn check_second_factor(&self, user: &User, code: &str) -> Result<Proof> {
        let attempt = self.throttles().reserve(&user.email).await?;
        let transaction = match self.store().transaction().await {
            Ok(transaction) => transaction,
            Err(error) => {
                self.throttles().release(&user.email).await;
                return Err(error.into());
            }
        };
        let proof = match self.proof(&transaction, user, code).await {
            Ok(Ok(proof)) => proof,
            Ok(Err(failures)) => {
                // Rolled back before the failure is written (one writer at a time).
                drop(transaction);
                return Err(self.wrong_code(user, attempt, failures).await);
            }
            Err(error) => {
                drop(transaction);
                self.throttles().release(&user.email).await;
                return Err(error);
            }
        };
        let event = match proof {
            Proof::Totp => AuthEvent::MfaVerified { user: &user.id },
            Proof::Recovery => AuthEvent::RecoveryCodeUsed { user: &user.id },
        };
        audit::record(transaction.audit(), event).await?;
        if proof == Proof::Recovery {
            transaction.mfa().totp_failed(&user.id, false).await?;
            let notice = self.mailer().recovery_code_used();
            self.mailer()
                .enqueue(transaction.mail(), &user.email, &notice, clock::now())
                .await?;
        }
        transaction.commit().await?;
        self.mailer().wake();
        self.throttles().succeeded(&user.email).await?;
        Ok(proof)
    }

    /// What `code` proves for `user`, using it up; when it proves nothing, the wrong app codes
    /// in a row so far if it was one (`None`: a recovery code, or no factor).
    async fn proof(
        &self,
        transaction: &Transaction,
        user: &User,
        code: &str,
    ) -> Result<std::result::Result<Proof, Option<i64>>> {
        let Some(factor) = transaction.mfa().totp_find(&user.id).await? else {
            return Ok(Err(None));
        };
        if factor.activated_at.is_none() {
            return Ok(Err(None));
        }
        if !is_app_code(code) {
            let used = transaction
                .mfa()
                .code_use(&user.id, &recovery_hash(code), clock::now())
                .await?;
            return Ok(if used { Ok(Proof::Recovery) } else { Err(None) });
        }
        if factor.failures >= MAX_CODE_FAILURES {
            return Err(ApiError::bad_request(
                USE_RECOVERY_CODE,
                "Too many wrong codes in a row: only a recovery code works now (it clears the \
                 count).",
            ));
        }
        let accepted = match self.matching_step(user, &factor.secret, code)? {
            Some(step) => {
                transaction
                    .mfa()
                    .totp_accept(&user.id, step, None, clock::now())
                    .await?
            }
            None => false,
        };
        Ok(if accepted {
            Ok(Proof::Totp)
        } else {
            Err(Some(factor.failures))
        })
    }

    /// The time step `code` is of, within a step of now, if it is the app's for `sealed`.
    fn matching_step(&self, user: &User, sealed: &[u8], code: &str) -> Result<Option<i64>> {
        let Some(secret) = self.factors().seal.open(&user.id, sealed) else {
            // Not the caller's mistake (the service secret changed, or the row was altered):
            // no code can be checked, and none is counted against them.
            return Err(ApiError::internal(std::io::Error::other(
                "an authenticator secret does not open with the service secret",
            )));
        };
        let totp = self.totp(secret.to_vec(), &user.email)?;
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let now = u64::try_from(clock::now()).unwrap_or(0);
        Ok(totp
            .check(&digits, now)
            .and_then(|step| i64::try_from(step).ok()))
    }

    /// A wrong code: recorded, counted toward the lockout (and, for an app's code, toward the
    /// factor's cap: `failures` before this one; the owner is told when it is reached); the
    /// 400 to answer.
    async fn wrong_code(
        &self,
        user: &User,
        attempt: crate::throttle::Attempt,
        failures: Option<i64>,
    ) -> ApiError {
        let recorded = async {
            audit::record(
                self.store().audit(),
                AuthEvent::MfaFailed { user: &user.id },
            )
            .await?;
            if let Some(failures) = failures {
                self.store().mfa().totp_failed(&user.id, true).await?;
                if failures + 1 == MAX_CODE_FAILURES {
                    let transaction = self.store().transaction().await?;
                    let notice = self.mailer().codes_guessed(MAX_CODE_FAILURES);
                    self.mailer()
                        .enqueue(transaction.mail(), &user.email, &notice, clock::now())
                        .await?;
                    transaction.commit().await?;
                    self.mailer().wake();
                }
            }
            self.throttles()
                .failed(&user.email, Some(&user.id), attempt)
                .await
        };
        match recorded.await {
            Ok(()) => invalid_code(),
            Err(error) => error,
        }
    }
}

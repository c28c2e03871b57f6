//! The account service: what signing up and checking a password mean, independent of HTTP.

use authn::UserProfile;
use secrecy::SecretString;

use super::{
    Passwords,
    mfa::SecondFactor,
    model::{Credentials, NewUser},
    tokens::VERIFICATION,
};
use crate::{
    audit::{self, AuthEvent},
    clock,
    http::error::{ApiError, Result},
    mail::{CHANGE_EMAIL, Mailer},
    store::{Store, StoreError, User, UserRecord},
    throttle::Throttles,
};

/// A store error as the API's: the 409 of an address another account has (in any letter
/// case), or what the error is.
pub(super) fn taken(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict => ApiError::Conflict("Email is already registered.".to_owned()),
        other => other.into(),
    }
}

/// The code of a login refused until the address is proven.
pub const EMAIL_NOT_VERIFIED: &str = "EMAIL_NOT_VERIFIED";

/// What a failed password check says, whichever part was wrong.
pub const INVALID_CREDENTIALS: &str = "Invalid email or password.";

/// Signup and password checks over the store.
#[derive(Clone, Debug)]
pub struct Accounts {
    store: Store,
    passwords: Passwords,
    throttles: Throttles,
    mailer: Mailer,
    /// Second factors.
    factors: SecondFactor,
    /// Whether a login needs a proven address (`TODO_JWT_REQUIRE_VERIFIED_EMAIL`).
    require_verified_email: bool,
}

impl Accounts {
    /// The service over its parts.
    pub fn new(
        store: Store,
        passwords: Passwords,
        throttles: Throttles,
        mailer: Mailer,
        factors: SecondFactor,
    ) -> Self {
        Self {
            store,
            passwords,
            throttles,
            mailer,
            factors,
            require_verified_email: false,
        }
    }

    /// The service refusing logins (403 `EMAIL_NOT_VERIFIED`) until the account's address is
    /// proven, when `required`.
    pub fn requiring_verified_email(mut self, required: bool) -> Self {
        self.require_verified_email = required;
        self
    }

    /// The caller's stored account: 401 if it is gone since its token was checked.
    pub async fn current(&self, caller: &UserProfile) -> Result<User> {
        self.store.users().find(&caller.id).await?.ok_or_else(|| {
            ApiError::Unauthorized("Error verifying token : user not found".to_owned())
        })
    }

    /// [`Accounts::current`], and whether its address is proven.
    pub async fn current_verified(&self, caller: &UserProfile) -> Result<(User, bool)> {
        let user = self.current(caller).await?;
        let verified = self.store.mail().user_verified_at(&user.id).await?;
        Ok((user, verified.flatten().is_some()))
    }

    /// Refuses a login whose password was just checked right, if the service requires a
    /// proven address and `user`'s is not (403 `EMAIL_NOT_VERIFIED`); nothing otherwise.
    pub async fn may_log_in(&self, user: &User) -> Result<()> {
        if !self.require_verified_email {
            return Ok(());
        }
        let verified = self.store.mail().user_verified_at(&user.id).await?;
        if verified.flatten().is_some() {
            return Ok(());
        }
        Err(ApiError::Denied {
            code: EMAIL_NOT_VERIFIED,
            message: "The email address is not verified yet: open the link in the message sent \
                      at signup, or ask for a new one (POST /users/verify-email/resend)."
                .to_owned(),
        })
    }

    /// The store the accounts live in.
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// The password hashing pool.
    pub(super) fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// Where the accounts' mail goes.
    pub(super) fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// The rate limits of password (and code) checks.
    pub(super) fn throttles(&self) -> &Throttles {
        &self.throttles
    }

    /// Second factors.
    pub(super) fn factors(&self) -> &SecondFactor {
        &self.factors
    }

    /// Creates the account with a fresh UUID v4 and an argon2id hash of the password.
    pub async fn sign_up(&self, new_user: NewUser) -> Result<User> {
        let NewUser {
            email,
            password,
            username,
            realm,
        } = new_user;
        let password_hash = self.passwords.hash(password).await?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            email,
            username,
            realm,
        };
        let transaction = self.store.transaction().await?;
        let user = transaction
            .users()
            .insert(UserRecord {
                user,
                password_hash,
            })
            .await
            .map_err(taken)?;
        audit::record(
            transaction.audit(),
            AuthEvent::SignedUp {
                user: &user.id,
                email: &user.email,
            },
        )
        .await?;
        // The verification message, with the account: neither without the other.
        self.mail_token(&transaction, &user, &VERIFICATION).await?;
        transaction.commit().await.map_err(taken)?;
        self.mailer.wake();
        Ok(user)
    }

    /// Replaces the caller's password (403 if `current` is wrong); every other session of the
    /// caller ends, theirs stays.
    pub async fn change_password(
        &self,
        caller: &UserProfile,
        current: SecretString,
        new: SecretString,
    ) -> Result<()> {
        let user = self.confirm(caller, current).await?;
        let hash = self.passwords.hash(new).await?;
        let transaction = self.store.transaction().await?;
        if !transaction
            .users()
            .set_password_hash(&caller.id, hash)
            .await?
        {
            return Err(ApiError::Unauthorized(INVALID_CREDENTIALS.to_owned()));
        }
        // An address change asked before (perhaps by whoever knew the old password) is
        // cancelled with it.
        transaction
            .mail()
            .token_drop(&caller.id, CHANGE_EMAIL)
            .await?;
        let ended = match &caller.session {
            Some(session) => {
                transaction
                    .sessions()
                    .end_others(&caller.id, session)
                    .await?
            }
            None => transaction.sessions().end_all(&caller.id).await?,
        };
        audit::record(
            transaction.audit(),
            AuthEvent::PasswordChanged {
                user: &caller.id,
                ended,
            },
        )
        .await?;
        let notice = self
            .mailer
            .password_changed("by its owner, who knew the old one");
        self.mailer
            .enqueue(transaction.mail(), &user.email, &notice, clock::now())
            .await?;
        transaction.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// Deletes the caller's account, todos and sessions (403 if the password is wrong); the
    /// email can sign up again.
    pub async fn delete_account(&self, caller: &UserProfile, password: SecretString) -> Result<()> {
        let user = self.confirm(caller, password).await?;
        let transaction = self.store.transaction().await?;
        transaction.users().delete(&caller.id).await?;
        audit::record(
            transaction.audit(),
            AuthEvent::AccountDeleted { user: &caller.id },
        )
        .await?;
        // The outbox keeps the notice: it belongs to no account.
        let notice = self.mailer.account_deleted();
        self.mailer
            .enqueue(transaction.mail(), &user.email, &notice, clock::now())
            .await?;
        transaction.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// Checks the caller's own password: 403 when it is wrong (the caller is known). The
    /// address is the stored one (a token may be older than an address change).
    pub(super) async fn confirm(
        &self,
        caller: &UserProfile,
        password: SecretString,
    ) -> Result<User> {
        let wrong = || ApiError::Forbidden("The password is wrong.".to_owned());
        let user = self
            .store
            .users()
            .find(&caller.id)
            .await?
            .ok_or_else(wrong)?;
        let email = user.email;
        match self.check_password(Credentials { email, password }).await {
            Ok(user) if user.id == caller.id => Ok(user),
            Ok(_) | Err(ApiError::Unauthorized(_)) => Err(wrong()),
            Err(other) => Err(other),
        }
    }

    /// The user whose email and password these are; an unknown email and a wrong password give
    /// the same 401 after the same work.
    pub async fn check_password(&self, credentials: Credentials) -> Result<User> {
        // The caller is already known (a session of theirs asks): a right password clears
        // the count, second factor or not.
        Ok(self.check(credentials, true).await?.0)
    }

    /// [`Accounts::check_password`] for a login: with the hash the password was checked
    /// against (a session is started only while the user still has it), and whether the
    /// account has an active second factor.
    pub async fn check_password_hash(
        &self,
        credentials: Credentials,
    ) -> Result<(User, String, bool)> {
        self.check(credentials, false).await
    }

    /// [`Accounts::check_password_hash`]; `known`: the caller's session asks (then a right
    /// password clears the failures even with a second factor, which is not looked up).
    async fn check(&self, credentials: Credentials, known: bool) -> Result<(User, String, bool)> {
        let Credentials { email, password } = credentials;
        // Counted before any hashing; a locked account is refused, the right password included.
        let attempt = self.throttles.reserve(&email).await?;
        let (user, hash, valid) = match self.verify(&email, password.clone()).await {
            Ok(checked) => checked,
            Err(error) => {
                // No verdict (hashing shed, the database failed): the attempt is given back.
                self.throttles.release(&email).await;
                return Err(error);
            }
        };
        match (user, hash) {
            (Some(user), Some(hash)) if valid => {
                // With a second factor the lockout is cleared by a right code only: else each
                // login with the password would buy another round of code guesses.
                let second_factor = !known && self.second_factor_active(&user.id).await?;
                if !second_factor {
                    self.throttles.succeeded(&email).await?;
                }
                // An outdated hash is replaced now that the password is known right.
                let hash = if Passwords::is_outdated(&hash) {
                    self.upgrade(&user.id, password, hash).await
                } else {
                    hash
                };
                Ok((user, hash, second_factor))
            }
            (user, _) => {
                let user = user.as_ref().map(|user| user.id.as_str());
                audit::record(
                    self.store.audit(),
                    AuthEvent::LoginFailed {
                        user,
                        email: &email,
                    },
                )
                .await?;
                self.throttles.failed(&email, user, attempt).await?;
                Err(ApiError::Unauthorized(INVALID_CREDENTIALS.to_owned()))
            }
        }
    }

    /// Checks `password` against `email`'s stored hash (against a dummy one for an unknown
    /// email, so that timing tells nothing): the user, their hash, and whether it matched.
    async fn verify(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<(Option<User>, Option<String>, bool)> {
        let found = self.store.users().find_by_email(email).await?;
        let (user, hash) = match found {
            Some(found) => (Some(found.user), Some(found.password_hash)),
            None => (None, None),
        };
        let valid = self.passwords.verify(password, hash.clone()).await?;
        Ok((user, hash, valid))
    }

    /// Replaces `checked`, an outdated hash (bcrypt, imported from LoopBack) that `password`
    /// just matched, by an argon2id hash of it, only while the user still has `checked`;
    /// returns the hash the user has now as far as this check knows (the new one, or
    /// `checked` when it changed meanwhile, so that no session starts). Best effort: when
    /// hashing is shed or the write fails, the login goes on and the next one upgrades.
    async fn upgrade(&self, user: &str, password: SecretString, checked: String) -> String {
        let upgraded = async {
            let new = self.passwords.hash(password).await?;
            let transaction = self.store.transaction().await?;
            let replaced = transaction
                .users()
                .replace_password_hash(user, &checked, new.clone())
                .await?;
            if replaced {
                audit::record(transaction.audit(), AuthEvent::PasswordUpgraded { user }).await?;
            }
            transaction.commit().await?;
            Ok::<_, ApiError>(replaced.then_some(new))
        }
        .await;
        match upgraded {
            Ok(Some(new)) => new,
            Ok(None) => checked,
            Err(error) => {
                tracing::warn!(
                    %user,
                    error = %crate::http::error::chain(&error),
                    "cannot replace an imported bcrypt hash yet; the next login will"
                );
                checked
            }
        }
    }
}

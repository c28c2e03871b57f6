//! Password hashing: argon2id for new hashes, off the async runtime and bounded.
//!
//! Each argon2id hash takes ~19 MiB and tens of milliseconds of CPU. Run on the runtime it would
//! stall every other request; run without a bound, a burst of logins exhausts memory (measured:
//! 9 GB RSS). So hashing happens on the blocking pool, at most `concurrency` at a time.

use std::sync::Arc;

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::{ApiError, Result};

/// Hashes and verifies passwords.
#[derive(Clone, Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Checked when the email is unknown, so both login failures cost the same time.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// A hasher allowing `concurrency` hashes at once (about the core count).
    pub fn new(concurrency: usize) -> Self {
        let dummy = SecretString::from(uuid::Uuid::new_v4().to_string());
        let dummy_hash = hash_now(&dummy).unwrap_or_else(|error| panic!("argon2 failed: {error}"));
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        }
    }

    /// The argon2id PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        self.run(move || hash_now(&password).map_err(ApiError::internal))
            .await?
    }

    /// Whether `password` matches `hash`; with no hash (an unknown user) a dummy hash is checked,
    /// and the answer is `false`.
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self.run(move || verify_now(&password, &hash)).await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)
    }
}

fn hash_now(password: &SecretString) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    // `Argon2::default()` is argon2id, m = 19 MiB, t = 2, p = 1: OWASP's recommendation.
    let hash = Argon2::default().hash_password(password.expose_secret().as_bytes(), &salt)?;
    Ok(hash.to_string())
}

fn verify_now(password: &SecretString, hash: &str) -> bool {
    // A stored hash that does not parse can never match; it is not the caller's fault.
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let passwords = Passwords::new(2);
        let hash = passwords.hash(secret("correct horse")).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            passwords
                .verify(secret("correct horse"), Some(hash.clone()))
                .await
                .expect("ok")
        );
        assert!(
            !passwords
                .verify(secret("wrong horse"), Some(hash))
                .await
                .expect("ok")
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new(1);
        assert!(passwords.dummy_hash.starts_with("$argon2id$"));
        assert!(
            !passwords
                .verify(secret("anything"), None)
                .await
                .expect("ok")
        );
    }
}

//! What a password thread computes: argon2id hashes and checks in the thread's own reused
//! memory, and checks of the bcrypt hashes imported from LoopBack.
//!
//! Apart from the pool in [`super`] (threads, queue, load shedding, giving memory back), which
//! decides when and where this runs; everything here runs synchronously, on a password thread.

use std::cell::RefCell;

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{self, Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};

thread_local! {
    /// Each password thread keeps its argon2 working memory from one hash to the next: with a
    /// fresh 19 MiB allocation per hash, malloc kept up to 190 MB under a login load (measured).
    pub(super) static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Frees this thread's argon2 memory, and gives what its heap holds free back to the system.
pub(super) fn release_memory() {
    MEMORY.take();
    crate::ops::allocator::collect_this_thread();
}

/// Runs `work` with this thread's argon2 memory sized to `blocks`.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with_borrow_mut(|memory| {
        memory.resize(blocks, Block::default());
        work(memory)
    })
}

/// The `length`-byte argon2 output for `password` and `salt`, computed in this thread's memory.
fn derive(
    argon2: &Argon2<'_>,
    password: &SecretString,
    salt: password_hash::Salt<'_>,
    length: usize,
) -> password_hash::Result<Output> {
    let mut salt_buffer = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
    Output::init_with(length, |out| {
        with_memory(argon2.params().block_count(), |memory| {
            let password = password.expose_secret().as_bytes();
            argon2.hash_password_into_with_memory(password, salt_bytes, out, memory)
        })
        .map_err(Into::into)
    })
}

/// argon2id with `Argon2::default()` parameters (m = 19 MiB, t = 2, p = 1: OWASP's
/// recommendation) and a fresh salt, as a PHC string.
pub(super) fn hash_now(password: &SecretString) -> password_hash::Result<String> {
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let salt = SaltString::generate(&mut OsRng);
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = derive(&argon2, password, salt.as_salt(), length)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `hash` is a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`): not a PHC string, and
/// what bcryptjs (LoopBack) writes.
pub(super) fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
}

/// The cost of `hash` if it is a bcrypt hash [`super::Passwords::verify`] can check, `None` if
/// it is not one.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    if !is_bcrypt(hash) {
        return None;
    }
    hash.parse::<bcrypt::HashParts>()
        .ok()
        .map(|parts| parts.get_cost())
}

/// Whether `password` matches `hash`: a PHC string, checked with the parameters it names, or
/// a bcrypt hash. A stored hash that does not parse can never match; it is not the caller's
/// fault.
pub(super) fn verify_now(password: &SecretString, hash: &str) -> bool {
    if is_bcrypt(hash) {
        // Passwords beyond 72 bytes are cut there, as bcryptjs did when it made the hash; the
        // comparison is constant-time.
        return bcrypt::verify(password.expose_secret(), hash).unwrap_or(false);
    }
    let check = || -> password_hash::Result<bool> {
        let parsed = PasswordHash::new(hash)?;
        let expected = parsed.hash.ok_or(password_hash::Error::Password)?;
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let stored = Params::try_from(&parsed)?;
        let params = Params::new(
            stored.m_cost(),
            stored.t_cost(),
            stored.p_cost(),
            Some(expected.len()),
        )?;
        let salt = parsed.salt.ok_or(password_hash::Error::SaltInvalid(
            password_hash::errors::InvalidValue::TooShort,
        ))?;
        let argon2 = Argon2::new(algorithm, version, params);
        let computed = derive(&argon2, password, salt, expected.len())?;
        // `Output`'s equality is constant-time.
        Ok(computed == expected)
    };
    check().unwrap_or(false)
}

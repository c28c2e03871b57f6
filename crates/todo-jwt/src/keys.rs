//! The keys access tokens are signed with: stored in the database, shared by every instance,
//! rotated without a restart, and published at `GET /.well-known/jwks.json`.
//!
//! - A key is a row of `signing_keys` ([`crate::store::KeyRecord`]). An Ed25519 key (EdDSA)
//!   keeps its public half in the clear and its private seed sealed with ChaCha20-Poly1305
//!   under a key derived from the service secret ([`Sealer`]), its id bound in as associated
//!   data: reading the table (a dump, a replica, a backup) does not let anyone sign tokens
//!   without the secret too. An HS256 row holds nothing: its key is the service secret itself,
//!   and its tokens carry no `kid`, as LoopBack's do.
//! - The first start of an installation adds its first key: EdDSA unless `--jwt-algorithm`
//!   says otherwise. (An installation from before keys were stored, whose clients hold HS256
//!   tokens, got an HS256 row from the migration that made the table.) Starting with another
//!   `--jwt-algorithm` than the newest key's adds a key of that algorithm.
//! - Only rows this secret opens are trusted, to verify as to sign: someone who can write to
//!   the table but has not the secret cannot add a key of their own.
//! - A rotation ([`rotate`]: `todo-jwt rotate-keys`, or `SIGUSR2`) adds an Ed25519 key that is
//!   published at once and signs only from `signs_from` on, so every instance (which reload
//!   the table every few seconds) and every verifier caching the JWK Set knows it before the
//!   first token it signs. The key added last whose time has come signs. Older keys verify
//!   until the tokens they signed have expired: a key is removed once a key added after it
//!   has signed for longer than the token lifetime. [`revoke`] removes one at once.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use authn_jwt::{JwtService, Key, KeySet};
use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::{
    sessions::now,
    store::{KeyRecord, Store, StoreError},
};

/// The algorithm new access tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwtAlgorithm {
    /// Ed25519 signatures: others verify tokens with the public keys alone.
    #[value(name = "EdDSA", alias = "eddsa")]
    EdDsa,
    /// HMAC-SHA256 with the service secret: only holders of the secret can verify (LoopBack's).
    #[value(name = "HS256", alias = "hs256")]
    Hs256,
}

impl JwtAlgorithm {
    /// The name stored in `signing_keys.algorithm` (and written in tokens' `alg`).
    pub fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Hs256 => "HS256",
        }
    }

    fn of(record: &KeyRecord) -> Option<Self> {
        match record.algorithm.as_str() {
            "EdDSA" => Some(Self::EdDsa),
            "HS256" => Some(Self::Hs256),
            _ => None,
        }
    }
}

/// How long a verifier may cache the JWK Set (`Cache-Control: public, max-age=300`): a
/// rotation should publish a key longer than this before it signs (`--key-activation-delay`
/// defaults to 600 s).
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// Why the keys could not be loaded or rotated.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another rotation took the same generation at the same moment.
    #[error("another instance added a signing key at the same moment; try again")]
    Concurrent,
    /// A key of the table does not open with this secret.
    #[error(
        "signing key {0} cannot be opened with this service secret (TODO_JWT_SECRET when set, \
         else <data-dir>/jwt-secret): it was sealed with another one, or its row was altered; \
         use the secret the keys were made with, or see \"Changing the secret\" in the README"
    )]
    Unopenable(String),
    /// A row of an algorithm this version does not know.
    #[error("signing key {0} has an unknown algorithm")]
    UnknownAlgorithm(String),
    /// No key of the table can sign.
    #[error("no signing key can sign")]
    NoSigningKey,
    /// `revoke-key` of a key that is not in the table.
    #[error("there is no signing key {0}")]
    UnknownKey(String),
    /// `revoke-key` of the newest key: nothing would take over.
    #[error(
        "{0} is the newest signing key: add another first (todo-jwt rotate-keys \
         --key-activation-delay 0), then revoke this one"
    )]
    NewestKey(String),
    /// A key could not be built.
    #[error("a signing key is unusable")]
    Key(#[from] authn_jwt::JwtError),
}

/// Seals private keys at rest: ChaCha20-Poly1305 under a key derived from the service secret
/// for this purpose only, a random nonce per key, and the key's id as associated data (a
/// sealed seed moved to another row does not open).
#[derive(Clone)]
pub struct Sealer(ChaCha20Poly1305);

const NONCE_BYTES: usize = 12;

impl Sealer {
    /// The sealer of `secret`.
    pub fn from_secret(secret: &SecretString) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"todo-jwt signing keys v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self(ChaCha20Poly1305::new(&key.into()))
    }

    fn seal(&self, kid: &str, seed: &[u8; 32]) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: seed,
                    aad: kid.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals 32 bytes");
        [nonce.as_slice(), &sealed].concat()
    }

    fn open(&self, kid: &str, sealed: &[u8]) -> Option<zeroize::Zeroizing<[u8; 32]>> {
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let seed = self
            .0
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: kid.as_bytes(),
                },
            )
            .ok()?;
        let seed = zeroize::Zeroizing::new(seed);
        let bytes: [u8; 32] = seed.as_slice().try_into().ok()?;
        Some(zeroize::Zeroizing::new(bytes))
    }
}

/// Unix seconds `delay` from now.
fn from_now(delay: Duration) -> i64 {
    now().saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX))
}

/// A new key row of `algorithm`, generation `generation`, signing from `signs_from`.
fn new_record(
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    generation: i64,
    signs_from: i64,
) -> Result<KeyRecord, KeyError> {
    let (kid, public_key, sealed_private_key) = match algorithm {
        JwtAlgorithm::Hs256 => (format!("hs256-{generation}"), None, None),
        JwtAlgorithm::EdDsa => {
            let seed = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
            let key = Key::ed25519(&seed)?;
            let kid = key.thumbprint().expect("an Ed25519 key has a thumbprint");
            let public = key.public_key().expect("an Ed25519 key has a public half");
            let sealed = sealer.seal(&kid, &seed);
            (kid, Some(public.to_vec()), Some(sealed))
        }
    };
    Ok(KeyRecord {
        kid,
        generation,
        algorithm: algorithm.name().to_owned(),
        public_key,
        sealed_private_key,
        created_at: now(),
        signs_from,
    })
}

/// Adds an Ed25519 key that signs `delay` from now on, after the newest key; the record
/// added. What `todo-jwt rotate-keys` and `SIGUSR2` do.
pub async fn rotate(
    store: &Store,
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    delay: Duration,
) -> Result<KeyRecord, KeyError> {
    let records = store.signing_keys().list().await?;
    // A key sealed with another secret than the instances' would be refused by all of them.
    let newest = all_trusted(sealer, records)?
        .last()
        .map_or(0, |newest| newest.record.generation);
    add_after(store, sealer, algorithm, from_now(delay), newest).await
}

/// Removes the key `kid` at once, for a key that may have leaked: the tokens it signed are
/// refused by every instance within its reload interval. The newest key cannot be removed
/// (nothing would take over): rotate first. What `todo-jwt revoke-key` does.
pub async fn revoke(store: &Store, kid: &str) -> Result<KeyRecord, KeyError> {
    let records = store.signing_keys().list().await?;
    let record = records
        .iter()
        .find(|record| record.kid == kid)
        .ok_or_else(|| KeyError::UnknownKey(kid.to_owned()))?;
    if records.last() == Some(record) {
        return Err(KeyError::NewestKey(kid.to_owned()));
    }
    store.signing_keys().remove(kid).await?;
    Ok(record.clone())
}

/// Adds a key of `algorithm` right after generation `newest`; [`KeyError::Concurrent`] when
/// another key took that place first.
async fn add_after(
    store: &Store,
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    signs_from: i64,
    newest: i64,
) -> Result<KeyRecord, KeyError> {
    let record = new_record(sealer, algorithm, newest + 1, signs_from)?;
    if store.signing_keys().add(record.clone()).await? {
        Ok(record)
    } else {
        Err(KeyError::Concurrent)
    }
}

/// What the running service needs of its configuration to manage its keys.
#[derive(Clone)]
pub struct KeyOptions {
    /// The service secret: HS256's key, and what private keys are sealed with.
    pub secret: SecretString,
    /// `--jwt-algorithm`, when given.
    pub algorithm: Option<JwtAlgorithm>,
    /// The longest token lifetime (a key is removed this long after its successor signs).
    pub lifetime: Duration,
    /// The clock skew tolerated, added to the lifetime before a key is removed.
    pub leeway: Duration,
    /// How long before it signs a key added by `SIGUSR2` is published.
    pub activation_delay: Duration,
    /// How often the table is read again (other instances' rotations).
    pub reload_interval: Duration,
    /// Whether other instances may share the table (PostgreSQL): a key added at start then
    /// signs only after they have all read it.
    pub shared: bool,
}

/// The signing keys of a running service: what it signs and verifies with, kept in step with
/// the table, and the JWK Set it publishes.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

struct Inner {
    store: Store,
    sealer: Sealer,
    options: KeyOptions,
    /// The rows the keys in force were built from.
    loaded: RwLock<Vec<KeyRecord>>,
    /// The JWK Set, serialised.
    jwks: RwLock<Bytes>,
    /// What was said about keys left out (each said once).
    left_out: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Keyring {
    /// Reads the keys, adding the installation's first key (or, with another
    /// `--jwt-algorithm` than the newest key's, a key of that algorithm), and returns the
    /// keyring and the key set to build the token service with.
    pub async fn open(store: Store, options: KeyOptions) -> Result<(Self, KeySet), KeyError> {
        let sealer = Sealer::from_secret(&options.secret);
        let keys = store.signing_keys();
        let mut records = keys.list().await?;
        if records.is_empty() {
            // (An installation from before keys were stored got an HS256 row from the
            // migration that made the table: its clients hold HS256 tokens.)
            let algorithm = options.algorithm.unwrap_or(JwtAlgorithm::EdDsa);
            // Generation 1 once: instances starting together on an empty table agree on it.
            if keys.add(new_record(&sealer, algorithm, 1, now())?).await? {
                tracing::info!(algorithm = algorithm.name(), "added the first signing key");
            }
            records = keys.list().await?;
        } else if let Some(algorithm) = options.algorithm {
            // This secret must open the keys before this instance adds one.
            all_trusted(&sealer, records.clone())?;
            records = switch(&store, &sealer, &options, algorithm, records).await?;
        }
        let set = key_set(&options.secret, &all_trusted(&sealer, records.clone())?)?;
        let keyring = Self {
            inner: Arc::new(Inner {
                store,
                sealer,
                options,
                loaded: RwLock::new(records),
                jwks: RwLock::new(jwks_body(&set)),
                left_out: std::sync::Mutex::default(),
            }),
        };
        Ok((keyring, set))
    }

    /// The JWK Set, serialised.
    pub fn jwks(&self) -> Bytes {
        self.inner
            .jwks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the table again: removes the keys whose tokens have all expired, and when the
    /// keys changed (a rotation here or on another instance), gives `jwt` the new set.
    pub async fn reload(&self, jwt: &JwtService) -> Result<(), KeyError> {
        let inner = &self.inner;
        let keys = inner.store.signing_keys();
        // Only keys this secret opens count, for removal too: a row written by someone
        // without the secret must not retire the keys in force.
        let (mut opened, left_out) = trusted(&inner.sealer, keys.list().await?);
        {
            let mut warned = inner
                .left_out
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for error in left_out {
                if warned.insert(error.to_string()) {
                    tracing::error!(cause = %error, "a signing key is left out");
                }
            }
        }
        let records: Vec<_> = opened.iter().map(|row| row.record.clone()).collect();
        let expired = expired(
            &records,
            now(),
            inner.options.lifetime + inner.options.leeway,
        );
        opened.retain(|row| !expired.contains(&row.record.kid));
        let records: Vec<_> = opened.iter().map(|row| row.record.clone()).collect();
        if *inner
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            == records
        {
            return Ok(());
        }
        // Built before anything is removed: when no key can sign, nothing changes.
        let set = key_set(&inner.options.secret, &opened)?;
        for kid in &expired {
            keys.remove(kid).await?;
            tracing::info!(%kid, "removed a signing key: the tokens it signed have expired");
        }
        *inner
            .jwks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = jwks_body(&set);
        jwt.set_keys(set);
        *inner
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = records;
        tracing::info!("signing keys reloaded");
        Ok(())
    }

    /// Adds an Ed25519 key that signs after the activation delay, and reloads.
    pub async fn rotate(&self, jwt: &JwtService) -> Result<KeyRecord, KeyError> {
        let record = rotate(
            &self.inner.store,
            &self.inner.sealer,
            JwtAlgorithm::EdDsa,
            self.inner.options.activation_delay,
        )
        .await?;
        self.reload(jwt).await?;
        Ok(record)
    }

    /// Reloads every reload interval, and rotates on `SIGUSR2`, for as long as the service
    /// runs; failures are logged (the keys in force stay).
    pub fn spawn(self, jwt: Arc<JwtService>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut signals =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2()).ok();
            let every = self.inner.options.reload_interval;
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let signal = async {
                    #[cfg(unix)]
                    if let Some(signals) = signals.as_mut() {
                        signals.recv().await;
                        return true;
                    }
                    std::future::pending::<bool>().await
                };
                let rotation = tokio::select! {
                    rotation = signal => rotation,
                    _ = ticks.tick() => false,
                };
                if rotation {
                    match self.rotate(&jwt).await {
                        Ok(record) => tracing::info!(
                            kid = %record.kid,
                            in_seconds = self.inner.options.activation_delay.as_secs(),
                            "SIGUSR2: added a signing key, which signs new tokens in_seconds from now"
                        ),
                        Err(error) => tracing::error!(
                            cause = %crate::error::chain(&error),
                            "SIGUSR2: cannot add a signing key"
                        ),
                    }
                } else if let Err(error) = self.reload(&jwt).await {
                    tracing::warn!(
                        cause = %crate::error::chain(&error),
                        "cannot reload the signing keys; the ones in force stay"
                    );
                }
            }
        })
    }
}

/// Makes `algorithm` the newest key's (`--jwt-algorithm` changed): adds a key of it after the
/// newest one, unless another instance started with the same setting did first; the rows then.
async fn switch(
    store: &Store,
    sealer: &Sealer,
    options: &KeyOptions,
    algorithm: JwtAlgorithm,
    mut records: Vec<KeyRecord>,
) -> Result<Vec<KeyRecord>, KeyError> {
    let keys = store.signing_keys();
    // Instances started together with the new setting: one adds the key, the others find it
    // there. Bounded: instances configured with different algorithms would take turns.
    for _ in 0..4 {
        let Some(newest) = records
            .last()
            .filter(|newest| JwtAlgorithm::of(newest) != Some(algorithm))
        else {
            break;
        };
        // Other instances learn of the key within their reload interval.
        let delay = if options.shared {
            2 * options.reload_interval.as_secs() + 1
        } else {
            0
        };
        let signs_from = from_now(Duration::from_secs(delay));
        // Only right after the key just read: if another instance added one since,
        // read again and see whether it is of this algorithm.
        match add_after(store, sealer, algorithm, signs_from, newest.generation).await {
            Ok(record) => tracing::warn!(
                algorithm = algorithm.name(),
                kid = %record.kid,
                in_seconds = delay,
                "--jwt-algorithm differs from the newest signing key's: added a key; \
                 tokens signed before stay valid until they expire"
            ),
            Err(KeyError::Concurrent) => {}
            Err(error) => return Err(error),
        }
        records = keys.list().await?;
    }
    if records.last().and_then(JwtAlgorithm::of) != Some(algorithm) {
        tracing::warn!(
            algorithm = algorithm.name(),
            "other instances keep adding keys of another algorithm: give every instance the \
             same --jwt-algorithm; signing with the newest key meanwhile"
        );
    }
    Ok(records)
}

/// The ids of the keys whose tokens have all expired: those a later key took over from more
/// than `lifetime` (the token lifetime and the clock skew) ago.
fn expired(records: &[KeyRecord], now: i64, lifetime: Duration) -> Vec<String> {
    let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    records
        .iter()
        .filter(|record| {
            records.iter().any(|later| {
                later.generation > record.generation
                    && later.signs_from.saturating_add(lifetime) < now
            })
        })
        .map(|record| record.kid.clone())
        .collect()
}

/// The Ed25519 key of `record`, when its seed opens with this secret and matches its public
/// half (a row altered in the database, or sealed with another secret, does not).
fn open_ed25519(sealer: &Sealer, record: &KeyRecord) -> Result<Key, KeyError> {
    let unopenable = || KeyError::Unopenable(record.kid.clone());
    let seed = record
        .sealed_private_key
        .as_deref()
        .and_then(|sealed| sealer.open(&record.kid, sealed))
        .ok_or_else(unopenable)?;
    let key = Key::ed25519(&seed)?;
    if key.public_key().map(|public| public.to_vec()) != record.public_key {
        return Err(unopenable());
    }
    Ok(key.with_id(record.kid.clone()))
}

/// A row this secret opens, with its key: an Ed25519 key whose seed opens and matches, or an
/// HS256 row (`None`: its key is the secret).
struct Opened {
    record: KeyRecord,
    key: Option<Key>,
}

/// The rows this secret opens, and why the others are left out. A key that does not open is
/// never trusted, not even to verify: anyone who can write to the table could otherwise add a
/// public key of their own.
fn trusted(sealer: &Sealer, records: Vec<KeyRecord>) -> (Vec<Opened>, Vec<KeyError>) {
    let mut left_out = Vec::new();
    let opened = records
        .into_iter()
        .filter_map(|record| {
            let key = match JwtAlgorithm::of(&record) {
                Some(JwtAlgorithm::Hs256) => None,
                Some(JwtAlgorithm::EdDsa) => match open_ed25519(sealer, &record) {
                    Ok(key) => Some(key),
                    Err(error) => {
                        left_out.push(error);
                        return None;
                    }
                },
                None => {
                    left_out.push(KeyError::UnknownAlgorithm(record.kid.clone()));
                    return None;
                }
            };
            Some(Opened { record, key })
        })
        .collect();
    (opened, left_out)
}

/// The rows, all of which this secret must open (at start, and before adding a key).
fn all_trusted(sealer: &Sealer, records: Vec<KeyRecord>) -> Result<Vec<Opened>, KeyError> {
    let (opened, left_out) = trusted(sealer, records);
    left_out.into_iter().next().map_or(Ok(opened), Err)
}

/// The key set of the opened rows: each Ed25519 key, and the newest HS256 row as the
/// secret's key (one is enough: they are all the same key).
fn key_set(secret: &SecretString, rows: &[Opened]) -> Result<KeySet, KeyError> {
    let newest_hs256 = rows
        .iter()
        .rfind(|row| row.key.is_none())
        .map(|row| row.record.generation);
    let mut set: Option<KeySet> = None;
    for row in rows {
        let key = match &row.key {
            Some(key) => key.clone(),
            None if Some(row.record.generation) == newest_hs256 => Key::hs256(secret)?,
            None => continue,
        };
        let signs_from = u64::try_from(row.record.signs_from).unwrap_or(0);
        set = Some(match set {
            None => KeySet::starting(key, signs_from),
            Some(set) => set.with_key(key, signs_from)?,
        });
    }
    set.ok_or(KeyError::NoSigningKey)
}

fn jwks_body(set: &KeySet) -> Bytes {
    Bytes::from(set.jwks().to_string())
}

/// A public key as the JWK Set lists it (RFC 8037).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the key set writes")]
pub struct PublicJwk {
    /// `OKP`.
    #[schema(example = "OKP")]
    kty: String,
    /// `Ed25519`.
    #[schema(example = "Ed25519")]
    crv: String,
    /// The public key, base64url.
    #[schema(example = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")]
    x: String,
    /// The key id: tokens it signs carry it as their header's `kid`.
    #[schema(example = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")]
    kid: String,
    /// `EdDSA`.
    #[schema(example = "EdDSA")]
    alg: String,
    /// `sig`.
    #[schema(rename = "use", example = "sig")]
    use_: String,
}

/// The JWK Set (RFC 7517).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the key set writes")]
pub struct Jwks {
    /// The keys tokens may be signed with: the one signing now, the next one (published
    /// before it signs) and the previous ones (until their tokens expire). Empty while the
    /// service signs with HS256, whose key is secret.
    keys: Vec<PublicJwk>,
}

/// The public keys access tokens are verified with (a JWK Set): fetch it, pick the key named
/// by a token's `kid`, and verify the EdDSA signature, with any JWT library. Cacheable for 5
/// minutes; a new key is listed at least 10 minutes (by default) before it signs.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "KeysController",
    operation_id = "KeysController.jwks",
    responses((status = 200, description = "The JWK Set", body = Jwks)),
)]
pub async fn jwks(State(keyring): State<Keyring>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(JWKS_CACHE_CONTROL),
            ),
        ],
        keyring.jwks(),
    )
        .into_response()
}

/// The JWK Set's route.
pub fn router() -> utoipa_axum::router::OpenApiRouter<crate::state::AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(jwks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(generation: i64, signs_from: i64) -> KeyRecord {
        KeyRecord {
            kid: format!("k{generation}"),
            generation,
            algorithm: "EdDSA".to_owned(),
            public_key: None,
            sealed_private_key: None,
            created_at: 0,
            signs_from,
        }
    }

    /// A key goes once its successor has signed for longer than the token lifetime; the
    /// newest key, and one whose successor is still pending, stay.
    #[test]
    fn a_key_expires_a_lifetime_after_its_successor_signs() {
        let records = [record(1, 0), record(2, 100), record(3, 1_000)];
        let lifetime = Duration::from_secs(50);
        assert!(expired(&records, 150, lifetime).is_empty());
        assert_eq!(expired(&records, 151, lifetime), ["k1"]);
        assert_eq!(expired(&records, 1_051, lifetime), ["k1", "k2"]);
    }

    /// A sealed seed opens with its secret and id only.
    #[test]
    fn a_sealed_seed_opens_with_its_secret_and_id_only() {
        let sealer = Sealer::from_secret(&SecretString::from("one secret, long enough for it"));
        let sealed = sealer.seal("kid", &[9; 32]);
        assert_eq!(sealer.open("kid", &sealed).as_deref(), Some(&[9; 32]));
        assert!(sealer.open("other", &sealed).is_none());
        assert!(sealer.open("kid", &sealed[..5]).is_none());
        let other = Sealer::from_secret(&SecretString::from("another secret, as long as it"));
        assert!(other.open("kid", &sealed).is_none());
    }
}

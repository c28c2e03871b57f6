//! Whether a verified token still speaks for someone, and a cache of the answers.

use std::{
    cell::RefCell,
    collections::HashMap,
    hash::BuildHasher,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use thread_local::ThreadLocal;

use authn::{AuthError, UserProfile};

use crate::{claims::VerifiedToken, near::NearCopies};

/// Where the bearer strategy confirms that a verified token still speaks for someone.
///
/// A signed token outlives a deleted account (or an ended session); asking the directory closes
/// that gap. It receives the whole verified token (user, `jti`, `sid`, `iat`, `exp`), so it can
/// also refuse a token whose session has ended or that was issued before a password change.
/// Returning the stored profile keeps `name` and `email` current rather than as they were at
/// login; the strategy keeps the token's session on it.
#[async_trait::async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// What the token's user and session are now: the user's current profile, or why the
    /// token must be refused.
    async fn find_user(&self, token: &VerifiedToken) -> Result<Standing, AuthError>;

    /// The answer [`UserDirectory::find_user`] would give, when it is known without waiting
    /// (a cache's answer): the bearer strategy asks this first, so a cached answer costs no
    /// future of its own. `None` (the default) means: ask `find_user`.
    fn known(&self, _token: &VerifiedToken) -> Option<Standing> {
        None
    }
}

/// A directory's answer for a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The token speaks for this user, as stored now.
    Current(UserProfile),
    /// Its user no longer exists.
    UserGone,
    /// Its user exists but the token's session has ended (logged out, ended from another
    /// device, replaced by a password change): the client should log in again.
    SessionEnded,
}

impl Standing {
    /// [`Standing::Current`] for `Some`, [`Standing::UserGone`] for `None`.
    pub fn from_user(user: Option<UserProfile>) -> Self {
        user.map_or(Self::UserGone, Self::Current)
    }

    /// The profile, when the token speaks for someone.
    pub fn user(&self) -> Option<&UserProfile> {
        match self {
            Self::Current(user) => Some(user),
            Self::UserGone | Self::SessionEnded => None,
        }
    }
}

/// A [`UserDirectory`] that remembers answers for a short time, by session (the token's `sid`)
/// or, for a token without one, by user id.
///
/// Asking the store on every request costs a database round trip, often more than the rest of
/// the request. With this cache a deleted user's tokens are refused within `ttl` (on every
/// instance, since each forgets on its own), and the store sees one lookup per user per `ttl`.
/// An ended session's tokens are refused within `ttl` the same way.
pub struct CachedUserDirectory {
    inner: Arc<dyn UserDirectory>,
    ttl: Duration,
    capacity: usize,
    /// By key, hashed with foldhash: the keys are ids in tokens this service signed, so no
    /// client chooses them, and SipHash was a fifth of a cached lookup (callgrind).
    entries: Mutex<HashMap<String, (Instant, Standing), foldhash::fast::RandomState>>,
    /// Each thread's copies of the entries it uses again ([`crate::near`]): a copy is the
    /// entry as it was (its time too), so it expires with it.
    near: ThreadLocal<RefCell<NearCopies<(String, Instant, Standing)>>>,
    /// The copies' keys' hashes.
    near_hasher: foldhash::fast::RandomState,
}

impl CachedUserDirectory {
    /// Caches `inner`'s answers for `ttl`, for at most `capacity` users at a time.
    pub fn new(inner: Arc<dyn UserDirectory>, ttl: Duration, capacity: usize) -> Self {
        Self {
            inner,
            ttl,
            capacity,
            entries: Mutex::default(),
            near: ThreadLocal::new(),
            near_hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn cached(&self, key: &str) -> Option<Standing> {
        let live = |at: &Instant| at.elapsed() < self.ttl;
        let shared = || {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries
                .get(key)
                .filter(|(at, _)| live(at))
                .map(|(at, standing)| (*at, standing.clone()))
        };
        // (Never borrowed already: nothing below calls back into the directory.)
        let Ok(mut near) = self.near.get_or(RefCell::default).try_borrow_mut() else {
            return shared().map(|(_, standing)| standing);
        };
        let hash = self.near_hasher.hash_one(key);
        let is = |(kept, _, _): &(String, Instant, Standing)| kept == key;
        if let Some((_, at, standing)) = near.get(hash, is)
            && live(at)
        {
            return Some(standing.clone());
        }
        let (at, standing) = shared()?;
        near.used(hash, is, || (key.to_owned(), at, standing.clone()));
        Some(standing)
    }
}

#[async_trait::async_trait]
impl UserDirectory for CachedUserDirectory {
    async fn find_user(&self, token: &VerifiedToken) -> Result<Standing, AuthError> {
        if let Some(standing) = self.known(token) {
            return Ok(standing);
        }
        let key = token.user.session.as_deref().unwrap_or(&token.user.id);
        let user = self.inner.find_user(token).await?;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            // Simple and bounded: at worst the next `capacity` requests each ask the store.
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (Instant::now(), user.clone()));
        Ok(user)
    }

    fn known(&self, token: &VerifiedToken) -> Option<Standing> {
        // A session id is a UUID of its own: it never names a user. A cached profile is used
        // only for the user it was given for.
        let key = token.user.session.as_deref().unwrap_or(&token.user.id);
        self.cached(key)
            .filter(|standing| standing.user().is_none_or(|user| user.id == token.user.id))
    }
}

impl std::fmt::Debug for CachedUserDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedUserDirectory")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

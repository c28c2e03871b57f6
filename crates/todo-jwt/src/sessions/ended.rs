//! Sessions this instance has ended, remembered while their access tokens can still be
//! presented, so that this instance refuses them at once: the user directory's cache would
//! otherwise keep vouching for a session for up to its TTL (a second) after the logout, and a
//! logout whose write failed (a full disk) would not end it at all. Other instances learn of
//! an ended session from the database, within the cache's TTL.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use authn::AuthError;
use authn_jwt::{Standing, UserDirectory, VerifiedToken};

/// The most ended sessions remembered (about 100 bytes each): past it, the oldest are
/// forgotten first, and the database (behind the directory's short cache) still refuses them.
const CAPACITY: usize = 100_000;

/// The sessions ended here, each until `keep` after it ended (the access tokens' lifetime).
#[derive(Debug)]
pub struct EndedSessions {
    ended: Mutex<HashMap<String, Instant>>,
    /// Whether `ended` holds anything: the request path then skips the lock.
    any: AtomicBool,
    keep: Duration,
}

impl EndedSessions {
    /// Remembers each ended session for `keep`.
    pub fn new(keep: Duration) -> Arc<Self> {
        Arc::new(Self {
            ended: Mutex::default(),
            any: AtomicBool::new(false),
            keep,
        })
    }

    /// Remembers that session `id` ended now.
    pub fn end(&self, id: &str) {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        if ended.len() >= CAPACITY {
            let now = Instant::now();
            ended.retain(|_, at| now.duration_since(*at) < self.keep);
            if ended.len() >= CAPACITY
                && let Some(oldest) = ended
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(id, _)| id.clone())
            {
                ended.remove(&oldest);
            }
        }
        ended.insert(id.to_owned(), Instant::now());
        self.any.store(true, Ordering::Release);
    }

    /// Whether session `id` ended here within `keep`.
    pub fn contains(&self, id: &str) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        ended.get(id).is_some_and(|at| at.elapsed() < self.keep)
    }
}

/// A user directory that refuses the sessions ended here before asking `inner` (which may
/// answer from its cache).
pub struct EndedFirst {
    /// The sessions ended here.
    pub ended: Arc<EndedSessions>,
    /// The directory asked otherwise.
    pub inner: Arc<dyn UserDirectory>,
}

#[async_trait::async_trait]
impl UserDirectory for EndedFirst {
    async fn find_user(&self, token: &VerifiedToken) -> Result<Standing, AuthError> {
        if let Some(session) = token.user.session.as_deref()
            && self.ended.contains(session)
        {
            return Ok(Standing::SessionEnded);
        }
        self.inner.find_user(token).await
    }

    fn known(&self, token: &VerifiedToken) -> Option<Standing> {
        if let Some(session) = token.user.session.as_deref()
            && self.ended.contains(session)
        {
            return Some(Standing::SessionEnded);
        }
        self.inner.known(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory that always knows its one user, without waiting.
    struct Knows;

    #[async_trait::async_trait]
    impl UserDirectory for Knows {
        async fn find_user(&self, token: &VerifiedToken) -> Result<Standing, AuthError> {
            Ok(self.known(token).expect("always known"))
        }

        fn known(&self, token: &VerifiedToken) -> Option<Standing> {
            Some(Standing::Current(token.user.clone()))
        }
    }

    #[tokio::test]
    async fn an_ended_session_is_refused_first_whether_or_not_the_answer_is_cached() {
        let ended = EndedSessions::new(Duration::from_secs(60));
        let directory = EndedFirst {
            ended: ended.clone(),
            inner: Arc::new(Knows),
        };
        let mut token = VerifiedToken {
            user: authn::UserProfile::new("u1"),
            token_id: None,
            issued_at: None,
            expires_at: 0,
        };
        token.user.session = Some("s1".into());
        assert!(matches!(
            directory.known(&token),
            Some(Standing::Current(_))
        ));
        ended.end("s1");
        assert_eq!(directory.known(&token), Some(Standing::SessionEnded));
        assert_eq!(
            directory.find_user(&token).await.expect("answered"),
            Standing::SessionEnded
        );
    }

    #[test]
    fn an_ended_session_is_remembered_for_its_tokens_lifetime_only() {
        let ended = EndedSessions::new(Duration::from_millis(50));
        assert!(!ended.contains("a"));
        ended.end("a");
        assert!(ended.contains("a") && !ended.contains("b"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!ended.contains("a"));
    }

    #[test]
    fn past_its_capacity_the_oldest_is_forgotten_first() {
        let ended = EndedSessions::new(Duration::from_secs(3_600));
        for index in 0..=CAPACITY {
            ended.end(&index.to_string());
        }
        assert!(!ended.contains("0"));
        assert!(ended.contains("1") && ended.contains(&CAPACITY.to_string()));
    }
}

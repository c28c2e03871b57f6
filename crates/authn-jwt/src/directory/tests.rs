use super::*;

fn token_for(id: &str) -> VerifiedToken {
    VerifiedToken {
        user: UserProfile::new(id),
        token_id: None,
        issued_at: None,
        expires_at: 0,
    }
}

/// Counts lookups; answers from a switchable profile.
struct Counting {
    calls: std::sync::atomic::AtomicUsize,
    user: Mutex<Option<UserProfile>>,
}

#[async_trait::async_trait]
impl UserDirectory for Counting {
    async fn find_user(&self, _: &VerifiedToken) -> Result<Standing, AuthError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Standing::from_user(self.user.lock().expect("lock").clone()))
    }
}

#[tokio::test]
async fn the_cached_directory_asks_once_per_ttl_and_sees_deletions_after_it() {
    let inner = Arc::new(Counting {
        calls: 0.into(),
        user: Mutex::new(Some(UserProfile::new("u1"))),
    });
    let cached = CachedUserDirectory::new(inner.clone(), Duration::from_millis(200), 10);
    for _ in 0..5 {
        assert!(
            cached
                .find_user(&token_for("u1"))
                .await
                .expect("ok")
                .user()
                .is_some()
        );
    }
    assert_eq!(inner.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    *inner.user.lock().expect("lock") = None;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        cached.find_user(&token_for("u1")).await.expect("ok"),
        Standing::UserGone,
        "deleted user seen after the ttl"
    );
    assert_eq!(inner.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// Answers depend on the token's session: a cached answer for one session never serves
/// another session of the same user, nor the same session id presented for another user.
#[tokio::test]
async fn the_cached_directory_keys_by_session() {
    let inner = Arc::new(Counting {
        calls: 0.into(),
        user: Mutex::new(Some(UserProfile::new("u1"))),
    });
    let cached = CachedUserDirectory::new(inner.clone(), Duration::from_secs(60), 10);
    let in_session = |user: &str, session: &str| {
        let mut token = token_for(user);
        token.user.session = Some(session.into());
        token
    };
    let calls = || inner.calls.load(std::sync::atomic::Ordering::SeqCst);
    cached.find_user(&in_session("u1", "s1")).await.expect("ok");
    cached.find_user(&in_session("u1", "s1")).await.expect("ok");
    assert_eq!(calls(), 1, "one lookup per session and ttl");
    cached.find_user(&in_session("u1", "s2")).await.expect("ok");
    assert_eq!(calls(), 2, "another session is looked up");
    cached.find_user(&in_session("u2", "s1")).await.expect("ok");
    assert_eq!(calls(), 3, "another user's claim to s1 is looked up");
}

/// A cache of three keeps three answers, never a fourth: the directory is asked again for a
/// key exactly when its answer is no longer kept, and the latest answer always is.
#[tokio::test]
async fn the_cached_directory_keeps_answers_up_to_its_capacity_and_no_more() {
    let inner = Arc::new(Counting {
        calls: 0.into(),
        user: Mutex::new(None),
    });
    let calls = || inner.calls.load(std::sync::atomic::Ordering::SeqCst);
    let cached = CachedUserDirectory::new(inner.clone(), Duration::from_secs(60), 3);
    let kept = |key: &str| cached.entries.lock().expect("lock").contains_key(key);
    for _ in 0..2 {
        for id in ["0", "1", "2"] {
            cached.find_user(&token_for(id)).await.expect("ok");
        }
    }
    assert_eq!(calls(), 3, "three answers are kept by a cache of three");
    let mut forgotten = 0;
    for id in (3..10).chain(0..10) {
        let key = id.to_string();
        let was_kept = kept(&key);
        let before = calls();
        cached.find_user(&token_for(&key)).await.expect("ok");
        assert_eq!(
            calls() - before,
            usize::from(!was_kept),
            "asked again for {key}"
        );
        assert!(kept(&key), "the answer for {key} is kept");
        assert!(cached.entries.lock().expect("lock").len() <= 3);
        forgotten += usize::from(!was_kept && id < 3);
    }
    assert!(
        forgotten > 0,
        "a fourth answer cost one of the first three its place"
    );
}

/// What the cache knows without waiting is what `find_user` answered, for the same user only,
/// and only within the TTL; before any lookup it knows nothing (the strategy then asks).
#[tokio::test]
async fn the_cached_directory_knows_only_what_it_was_told_lately() {
    let inner = Arc::new(Counting {
        calls: 0.into(),
        user: Mutex::new(Some(UserProfile::new("u1"))),
    });
    let cached = CachedUserDirectory::new(inner.clone(), Duration::from_millis(200), 10);
    assert_eq!(cached.known(&token_for("u1")), None);
    cached.find_user(&token_for("u1")).await.expect("ok");
    assert_eq!(
        cached.known(&token_for("u1")),
        Some(Standing::Current(UserProfile::new("u1")))
    );
    // The same key (a session) presented for another user is not answered from the cache.
    let mut session = token_for("u1");
    session.user.session = Some("s1".into());
    cached.find_user(&session).await.expect("ok");
    let mut other = token_for("u2");
    other.user.session = Some("s1".into());
    assert_eq!(cached.known(&other), None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(cached.known(&token_for("u1")), None, "past the TTL");
}

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use authn::{AuthError, AuthenticationStrategy, UserProfile};
use http::{header, request::Parts};

use crate::{JwtService, VerifiedToken};

/// Where the bearer strategy confirms that a verified token still speaks for someone.
///
/// A signed token outlives a deleted account (or an ended session); asking the directory closes
/// that gap. It receives the whole verified token (user, `jti`, `sid`, `iat`, `exp`), so it can
/// also refuse a token whose session has ended or that was issued before a password change.
/// Returning the stored profile keeps `name` and `email` current rather than as they were at
/// login; the strategy keeps the token's session on it.
#[async_trait::async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// The current profile of the token's user, or `None` when the token must be refused.
    async fn find_user(&self, token: &VerifiedToken) -> Result<Option<UserProfile>, AuthError>;
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
    entries: Mutex<HashMap<String, (Instant, Option<UserProfile>)>>,
}

impl CachedUserDirectory {
    /// Caches `inner`'s answers for `ttl`, for at most `capacity` users at a time.
    pub fn new(inner: Arc<dyn UserDirectory>, ttl: Duration, capacity: usize) -> Self {
        Self {
            inner,
            ttl,
            capacity,
            entries: Mutex::default(),
        }
    }

    fn cached(&self, key: &str) -> Option<Option<UserProfile>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, user)| user.clone())
    }
}

#[async_trait::async_trait]
impl UserDirectory for CachedUserDirectory {
    async fn find_user(&self, token: &VerifiedToken) -> Result<Option<UserProfile>, AuthError> {
        // A session id is a UUID of its own: it never names a user. A cached answer is used
        // only for the user it was given for.
        let key = token.user.session.as_deref().unwrap_or(&token.user.id);
        if let Some(user) = self.cached(key)
            && user.as_ref().is_none_or(|user| user.id == token.user.id)
        {
            return Ok(user);
        }
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
}

impl std::fmt::Debug for CachedUserDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedUserDirectory")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// The `jwt` strategy: `Authorization: Bearer <jwt>`, verified by a [`JwtService`].
pub struct BearerJwtStrategy {
    jwt: Arc<JwtService>,
    users: Option<Arc<dyn UserDirectory>>,
}

impl BearerJwtStrategy {
    /// The name routers require: `jwt`, as in LoopBack.
    pub const NAME: &'static str = "jwt";

    /// A strategy that trusts any valid token.
    pub fn new(jwt: Arc<JwtService>) -> Self {
        Self { jwt, users: None }
    }

    /// Also refuses valid tokens whose user is no longer in `users`.
    pub fn with_user_directory(mut self, users: Arc<dyn UserDirectory>) -> Self {
        self.users = Some(users);
        self
    }

    /// The token from the `Authorization` header, or LoopBack's message for why there is none.
    fn bearer_token(request: &Parts) -> Result<&str, AuthError> {
        let value = request
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("Authorization header not found."))?;
        // `to_str` admits visible ASCII, spaces and tabs only, so spaces and tabs are all the
        // whitespace there is. (Scanned bytewise: `split_whitespace` decoded the ~300-character
        // token char by char three times over, a measurable part of every request.)
        let value = value
            .to_str()
            .map_err(|_| unauthorized(NOT_BEARER))?
            .trim_ascii();
        let (scheme, token) = value
            .split_once([' ', '\t'])
            .map_or((value, ""), |(scheme, rest)| {
                (scheme, rest.trim_ascii_start())
            });
        // The scheme is case-insensitive (RFC 7235), but must be the whole word: `BearerX` is not.
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unauthorized(NOT_BEARER));
        }
        // A fold rather than `any`: without the early exit the scan is vectorised.
        let spaced = token.bytes().fold(false, |found, byte| {
            found | (byte == b' ') | (byte == b'\t')
        });
        if token.is_empty() || spaced {
            return Err(unauthorized(TOO_MANY_PARTS));
        }
        Ok(token)
    }
}

const NOT_BEARER: &str = "Authorization header is not of type 'Bearer'.";
const TOO_MANY_PARTS: &str = "Authorization header value has too many parts. It must follow the \
                              pattern: 'Bearer xx.yy.zz' where xx.yy.zz is a valid JWT token.";

fn unauthorized(message: impl Into<String>) -> AuthError {
    AuthError::challenge("Bearer", message)
}

#[async_trait::async_trait]
impl AuthenticationStrategy for BearerJwtStrategy {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn authenticate(&self, request: &Parts) -> Result<UserProfile, AuthError> {
        let token = Self::bearer_token(request)?;
        let verified = self
            .jwt
            .verify(token)
            .map_err(|reason| unauthorized(format!("Error verifying token : {reason}")))?;
        let Some(users) = &self.users else {
            return Ok(verified.user);
        };
        let mut user = users
            .find_user(&verified)
            .await?
            .ok_or_else(|| unauthorized("Error verifying token : user not found"))?;
        user.session = verified.user.session;
        Ok(user)
    }
}

impl std::fmt::Debug for BearerJwtStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerJwtStrategy")
            .field("checks_users", &self.users.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::Request;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
    use secrecy::SecretString;
    use serde_json::{Value, json};

    use super::*;
    use crate::{JwtConfig, Key, KeySet};

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn key(secret: &str) -> Key {
        Key::hs256(&SecretString::from(secret)).expect("long enough")
    }

    fn config() -> JwtConfig {
        JwtConfig::new(KeySet::single(key(SECRET)), "todo-jwt", "todo-jwt")
    }

    fn service() -> Arc<JwtService> {
        Arc::new(JwtService::new(config()))
    }

    fn claims() -> Value {
        let now = get_current_timestamp();
        json!({"id": "u1", "email": "a@b.co", "iat": now, "exp": now + 600, "sub": "u1",
               "iss": "todo-jwt", "aud": "todo-jwt", "jti": "j1"})
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        claims[key] = value;
        claims
    }

    fn without(mut claims: Value, key: &str) -> Value {
        claims.as_object_mut().expect("object").remove(key);
        claims
    }

    fn signed(claims: &Value) -> String {
        service().sign_claims(claims).expect("signed")
    }

    async fn authenticate(
        strategy: &BearerJwtStrategy,
        header: Option<&str>,
    ) -> Result<UserProfile, String> {
        let mut request = Request::get("/");
        if let Some(value) = header {
            request = request.header(header::AUTHORIZATION, value);
        }
        let (parts, ()) = request.body(()).expect("request").into_parts();
        strategy
            .authenticate(&parts)
            .await
            .map_err(|error| match error {
                AuthError::Unauthorized {
                    message,
                    challenge: Some("Bearer"),
                } => message,
                other => format!("expected a Bearer 401, got {other:?}"),
            })
    }

    async fn message_for(header: Option<&str>) -> String {
        authenticate(&BearerJwtStrategy::new(service()), header)
            .await
            .expect_err("refused")
    }

    async fn reason_for(token: &str) -> String {
        message_for(Some(&format!("Bearer {token}"))).await
    }

    #[tokio::test]
    async fn a_token_signed_by_the_service_authenticates_its_user() {
        let strategy = BearerJwtStrategy::new(service());
        let user = UserProfile {
            id: "u1".into(),
            name: Some("Ann".into()),
            email: Some("a@b.co".into()),
            session: Some("s1".into()),
        };
        let token = service().sign(&user).expect("signed");
        assert_eq!(
            authenticate(&strategy, Some(&format!("Bearer {token}"))).await,
            Ok(user)
        );
    }

    #[tokio::test]
    async fn the_scheme_is_matched_case_insensitively() {
        let token = signed(&claims());
        let strategy = BearerJwtStrategy::new(service());
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            let user = authenticate(&strategy, Some(&format!("{scheme} {token}"))).await;
            assert_eq!(user.expect("accepted").id, "u1");
        }
    }

    #[tokio::test]
    async fn spaces_and_tabs_around_the_parts_are_allowed() {
        let token = signed(&claims());
        let strategy = BearerJwtStrategy::new(service());
        for header in [
            format!("Bearer   {token}"),
            format!("Bearer\t{token}"),
            format!(" \tBearer {token}\t "),
        ] {
            let user = authenticate(&strategy, Some(&header)).await;
            assert_eq!(user.expect("accepted").id, "u1", "{header:?}");
        }
    }

    #[tokio::test]
    async fn no_header_is_refused() {
        assert_eq!(message_for(None).await, "Authorization header not found.");
    }

    #[tokio::test]
    async fn another_scheme_is_refused() {
        let token = signed(&claims());
        for header in [
            "Basic dXNlcjpwYXNz".to_owned(),
            format!("BearerX {token}"),
            token,
        ] {
            assert_eq!(message_for(Some(&header)).await, NOT_BEARER, "{header}");
        }
    }

    #[tokio::test]
    async fn bearer_alone_or_with_extra_parts_is_refused() {
        for header in [
            "Bearer",
            "Bearer  ",
            "Bearer a.b.c extra",
            "Bearer a.b.c\textra",
        ] {
            assert_eq!(
                message_for(Some(header)).await,
                TOO_MANY_PARTS,
                "{header:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_malformed_token_is_refused() {
        for token in ["not-a-jwt", "a.b", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30"] {
            assert_eq!(
                reason_for(token).await,
                "Error verifying token : jwt malformed",
                "{token}"
            );
        }
    }

    #[tokio::test]
    async fn a_bad_signature_is_refused() {
        let other = EncodingKey::from_secret(b"another secret that is long enough!!");
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &other)
            .expect("signed");
        assert_eq!(
            reason_for(&token).await,
            "Error verifying token : invalid signature"
        );
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        let token = signed(&claims());
        let payload = token.split('.').nth(1).expect("payload");
        // {"alg":"none","typ":"JWT"}, with an empty signature.
        let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(
            reason_for(&forged)
                .await
                .starts_with("Error verifying token : ")
        );
    }

    #[tokio::test]
    async fn another_hmac_algorithm_with_the_same_secret_is_refused() {
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = jsonwebtoken::encode(&Header::new(alg), &claims(), &key).expect("signed");
            assert_eq!(
                reason_for(&token).await,
                "Error verifying token : invalid token"
            );
        }
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let past = get_current_timestamp() - 120;
        let token = signed(&with(claims(), "exp", json!(past)));
        assert_eq!(
            reason_for(&token).await,
            "Error verifying token : jwt expired"
        );
    }

    #[tokio::test]
    async fn a_token_not_yet_valid_is_refused() {
        let future = get_current_timestamp() + 120;
        let token = signed(&with(claims(), "nbf", json!(future)));
        assert_eq!(
            reason_for(&token).await,
            "Error verifying token : jwt not active"
        );
    }

    #[tokio::test]
    async fn fractional_times_are_accepted_as_the_validator_reads_them() {
        let now = get_current_timestamp() as f64;
        let claims = with(
            with(claims(), "exp", json!(now + 600.4)),
            "iat",
            json!(now + 0.6),
        );
        let verified = service().verify(&signed(&claims)).expect("valid");
        assert_eq!(verified.expires_at, (now + 600.4).round() as u64);
        assert_eq!(verified.issued_at, Some((now + 0.6).round() as u64));
    }

    #[tokio::test]
    async fn a_token_issued_in_the_future_is_refused() {
        let now = get_current_timestamp();
        let claims = with(
            with(claims(), "iat", json!(now + 120)),
            "exp",
            json!(now + 600),
        );
        assert_eq!(
            reason_for(&signed(&claims)).await,
            "Error verifying token : invalid token"
        );
    }

    #[tokio::test]
    async fn a_token_living_longer_than_the_configured_lifetime_is_refused() {
        let now = get_current_timestamp();
        // The configured lifetime is 21600 s (6 hours), with 5 s of leeway.
        let too_long = with(claims(), "exp", json!(now + 21_600 + 60));
        assert_eq!(
            reason_for(&signed(&too_long)).await,
            "Error verifying token : invalid token"
        );
        let without_iat = with(without(claims(), "iat"), "exp", json!(now + 21_600 + 60));
        assert_eq!(
            reason_for(&signed(&without_iat)).await,
            "Error verifying token : invalid token"
        );
        // Exactly the lifetime is fine, as the service signs it.
        let exact = with(claims(), "exp", json!(now + 21_600));
        assert_eq!(
            service()
                .verify(&signed(&exact))
                .map(|token| token.expires_at),
            Ok(now + 21_600)
        );
    }

    #[tokio::test]
    async fn a_token_without_exp_is_refused() {
        let token = signed(&without(claims(), "exp"));
        assert_eq!(
            reason_for(&token).await,
            "Error verifying token : invalid token"
        );
    }

    #[tokio::test]
    async fn a_token_without_id_is_refused() {
        for claims in [without(claims(), "id"), with(claims(), "id", json!(""))] {
            let token = signed(&claims);
            assert_eq!(
                reason_for(&token).await,
                "Error verifying token : invalid token"
            );
        }
    }

    #[tokio::test]
    async fn a_token_for_another_issuer_or_audience_is_refused() {
        for claims in [
            with(claims(), "iss", json!("evil")),
            without(claims(), "aud"),
        ] {
            let token = signed(&claims);
            assert_eq!(
                reason_for(&token).await,
                "Error verifying token : invalid token"
            );
        }
    }

    struct Directory(Option<UserProfile>);

    #[async_trait::async_trait]
    impl UserDirectory for Directory {
        async fn find_user(&self, _: &VerifiedToken) -> Result<Option<UserProfile>, AuthError> {
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn a_token_whose_user_is_gone_is_refused_and_a_known_user_is_read_fresh() {
        let header = format!("Bearer {}", signed(&claims()));
        let gone = BearerJwtStrategy::new(service()).with_user_directory(Arc::new(Directory(None)));
        assert_eq!(
            authenticate(&gone, Some(&header)).await,
            Err("Error verifying token : user not found".into())
        );
        let renamed = UserProfile {
            id: "u1".into(),
            name: Some("New".into()),
            ..UserProfile::default()
        };
        let known = BearerJwtStrategy::new(service())
            .with_user_directory(Arc::new(Directory(Some(renamed.clone()))));
        assert_eq!(authenticate(&known, Some(&header)).await, Ok(renamed));
    }

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
        async fn find_user(&self, _: &VerifiedToken) -> Result<Option<UserProfile>, AuthError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.user.lock().expect("lock").clone())
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
                    .is_some()
            );
        }
        assert_eq!(inner.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        *inner.user.lock().expect("lock") = None;
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            cached.find_user(&token_for("u1")).await.expect("ok"),
            None,
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

    #[tokio::test]
    async fn the_cached_directory_stays_within_its_capacity() {
        let inner = Arc::new(Counting {
            calls: 0.into(),
            user: Mutex::new(None),
        });
        let cached = CachedUserDirectory::new(inner, Duration::from_secs(60), 3);
        for id in 0..10 {
            cached
                .find_user(&token_for(&id.to_string()))
                .await
                .expect("ok");
        }
        assert!(cached.entries.lock().expect("lock").len() <= 3);
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(matches!(
            Key::hs256(&SecretString::from("too short")),
            Err(crate::JwtError::SecretTooShort(9))
        ));
    }

    #[test]
    fn signed_tokens_carry_loopback_claims_and_the_configured_lifetime() {
        let mut config = config();
        config.lifetime = Duration::from_secs(60);
        let jwt = JwtService::new(config);
        let user = UserProfile {
            id: "u1".into(),
            email: Some("a@b.co".into()),
            ..UserProfile::default()
        };
        let token = jwt.sign(&user).expect("signed");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.set_audience(&["todo-jwt"]);
        let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
        let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("valid");
        let claims = data.claims;
        assert_eq!(data.header.kid, None, "a key without an id writes no kid");
        assert_eq!(claims["id"], "u1");
        assert_eq!(claims["sub"], "u1");
        assert_eq!(claims["email"], "a@b.co");
        assert!(claims.get("name").is_none(), "absent name is omitted");
        assert!(claims.get("sid").is_none(), "no session, no sid");
        assert_eq!(
            claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
            60
        );
        assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    }

    #[test]
    fn verify_returns_the_token_id_session_and_times() {
        let jwt = service();
        let user = UserProfile {
            session: Some("s1".into()),
            ..UserProfile::new("u1")
        };
        let token = jwt.sign(&user).expect("signed");
        let verified = jwt.verify(&token).expect("valid");
        assert_eq!(verified.user, user);
        let now = get_current_timestamp();
        let issued = verified.issued_at.expect("iat");
        assert!(issued <= now && issued + 5 >= now, "{issued} vs {now}");
        assert_eq!(verified.expires_at, issued + 21_600);
        let jti = verified.token_id.expect("jti");
        assert_ne!(
            jwt.verify(&jwt.sign(&user).expect("signed"))
                .expect("valid")
                .token_id,
            Some(jti)
        );
    }

    #[test]
    fn a_key_set_verifies_by_key_id_and_signs_with_its_first_key() {
        let old = key("the old secret, at least thirty-two bytes").with_id("old");
        let new = key("the new secret, at least thirty-two bytes").with_id("new");
        let before = JwtService::new(JwtConfig::new(KeySet::single(old.clone()), "i", "a"));
        let old_token = before.sign(&UserProfile::new("u1")).expect("signed");
        let keys = KeySet::single(new).with_verify_only(old).expect("ids");
        let after = JwtService::new(JwtConfig::new(keys, "i", "a"));
        assert_eq!(
            after
                .verify(&old_token)
                .expect("old key still verifies")
                .user
                .id,
            "u1"
        );
        let new_token = after.sign(&UserProfile::new("u2")).expect("signed");
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .expect("header")
                .kid
                .as_deref(),
            Some("new")
        );
        assert_eq!(
            before.verify(&new_token),
            Err(crate::TokenError::BadSignature)
        );
        // A token naming no key, or an unknown one, is refused.
        let stranger = JwtService::new(JwtConfig::new(
            KeySet::single(key("a third secret that is long enough!!!").with_id("x")),
            "i",
            "a",
        ));
        let unknown = stranger.sign(&UserProfile::new("u3")).expect("signed");
        assert_eq!(after.verify(&unknown), Err(crate::TokenError::Invalid));
        // One key of several may go without an id (tokens without `kid` are its); two may not.
        assert!(
            KeySet::single(key(SECRET))
                .with_verify_only(key(SECRET).with_id("b"))
                .is_ok()
        );
        assert!(
            KeySet::single(key(SECRET))
                .with_verify_only(key(SECRET))
                .is_err()
        );
    }
}

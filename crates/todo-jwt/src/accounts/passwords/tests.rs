//! The password hasher's tests: hashing and checking (argon2id, bcrypt from LoopBack), load
//! shedding, and the idle threads' memory. In their own file because they are as long as the
//! pool they test.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, SaltString, rand_core::OsRng},
};

use super::{hashing::MEMORY, *};

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

/// Load shedding: with one thread and a wait bound shorter than one hash, a burst gets
/// some answers and some immediate 503s, never anything else, and leaves the queue empty.
#[tokio::test]
async fn a_burst_beyond_the_wait_bound_is_refused_at_once() {
    let passwords = Passwords::new(1, Duration::from_millis(1)).expect("threads");
    let hash = passwords.hash(secret("correct horse")).await.expect("hash");
    let checks = (0..8).map(|_| {
        let (passwords, hash) = (passwords.clone(), hash.clone());
        tokio::spawn(async move { passwords.verify(secret("correct horse"), Some(hash)).await })
    });
    let (mut answered, mut refused) = (0, 0);
    for check in checks.collect::<Vec<_>>() {
        match check.await.expect("task") {
            Ok(true) => answered += 1,
            Err(ApiError::HashingBusy) => refused += 1,
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert!(
        answered >= 1 && refused >= 1,
        "{answered} answered, {refused} refused"
    );
    assert_eq!(passwords.queued(), 0);
    let unbounded = Passwords::new(1, Duration::ZERO).expect("threads");
    let hash = unbounded.hash(secret("x")).await.expect("hash");
    let all = (0..4).map(|_| unbounded.verify(secret("x"), Some(hash.clone())));
    for check in all {
        assert!(check.await.expect("no shedding without a bound"));
    }
}

/// Idle memory is given back only when no job has run for the idle time, once, and hashing
/// works after it; the threads run at the lowered priority.
#[tokio::test]
async fn idle_threads_give_their_memory_back_and_run_at_low_priority() {
    let passwords = Passwords::new(2, Duration::ZERO).expect("threads");
    let hash = passwords.hash(secret("correct horse")).await.expect("hash");
    assert!(
        !passwords.release_idle_memory(Duration::from_secs(3600)),
        "not idle yet"
    );
    assert!(passwords.release_idle_memory(Duration::ZERO));
    assert!(
        !passwords.release_idle_memory(Duration::ZERO),
        "nothing held any more"
    );
    assert!(
        passwords
            .verify(secret("correct horse"), Some(hash))
            .await
            .expect("ok")
    );
    let held = passwords
        .workers
        .broadcast(|_| MEMORY.with_borrow(Vec::len));
    assert!(held.iter().any(|&blocks| blocks > 0), "{held:?}");
    assert!(passwords.release_idle_memory(Duration::ZERO));
    // The broadcast runs after the release queued before it on every thread.
    let held = passwords
        .workers
        .broadcast(|_| MEMORY.with_borrow(Vec::len));
    assert_eq!(held, vec![0, 0]);
    let niceness = passwords
        .workers
        .broadcast(|_| rustix::process::getpriority_process(None).expect("priority"));
    assert_eq!(niceness, vec![NICENESS, NICENESS]);
}

#[tokio::test]
async fn a_hash_is_argon2id_and_verifies_only_its_password() {
    let passwords = Passwords::new(2, Duration::ZERO).expect("threads");
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
async fn hashes_made_by_the_reference_implementation_verify() {
    use argon2::{PasswordHasher, PasswordVerifier};
    let salt = SaltString::generate(&mut OsRng);
    let reference = Argon2::default()
        .hash_password(b"hunter42 hunter42", &salt)
        .expect("hash");
    let passwords = Passwords::new(1, Duration::ZERO).expect("threads");
    let stored = Some(reference.to_string());
    assert!(
        passwords
            .verify(secret("hunter42 hunter42"), stored.clone())
            .await
            .expect("ok")
    );
    assert!(
        !passwords
            .verify(secret("hunter43 hunter42"), stored)
            .await
            .expect("ok")
    );
    // And ours verify with the reference implementation.
    let ours = passwords
        .hash(secret("hunter42 hunter42"))
        .await
        .expect("hash");
    let parsed = PasswordHash::new(&ours).expect("PHC string");
    assert!(
        Argon2::default()
            .verify_password(b"hunter42 hunter42", &parsed)
            .is_ok()
    );
}

/// A hash bcryptjs 2.4.3 (LoopBack's) wrote at its cost, 10, for "loopback password".
const BCRYPTJS_HASH: &str = "$2a$10$V32x8WXTYQ96FE0DyK2W.epJ.LFrW8yAYk8vp9pFBWXUvuYh3M/hy";

#[tokio::test]
async fn bcrypt_hashes_from_loopback_verify_and_are_outdated() {
    let passwords = Passwords::new(1, Duration::ZERO).expect("threads");
    let started = Instant::now();
    let right = passwords
        .verify(secret("loopback password"), Some(BCRYPTJS_HASH.to_owned()))
        .await
        .expect("ok");
    // `cargo test bcrypt_hashes -- --nocapture` shows what a cost-10 check costs here.
    println!("bcrypt verify at cost 10: {:?}", started.elapsed());
    assert!(right);
    assert!(
        !passwords
            .verify(secret("loopback passwords"), Some(BCRYPTJS_HASH.to_owned()))
            .await
            .expect("ok")
    );
    for version in [bcrypt::Version::TwoB, bcrypt::Version::TwoY] {
        let hash = bcrypt::hash_with_result("correct horse", 4)
            .expect("hash")
            .format_for_version(version);
        assert!(Passwords::is_outdated(&hash), "{hash}");
        assert!(
            passwords
                .verify(secret("correct horse"), Some(hash))
                .await
                .expect("ok")
        );
    }
    let argon2 = passwords.hash(secret("correct horse")).await.expect("hash");
    assert!(!Passwords::is_outdated(&argon2));
    assert!(
        !passwords
            .verify(secret("correct horse"), Some("$2a$10$short".to_owned()))
            .await
            .expect("a broken hash never matches")
    );
}

#[tokio::test]
async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
    let passwords = Passwords::new(1, Duration::ZERO).expect("threads");
    assert!(passwords.dummy_hash.starts_with("$argon2id$"));
    assert!(
        !passwords
            .verify(secret("anything"), None)
            .await
            .expect("ok")
    );
}

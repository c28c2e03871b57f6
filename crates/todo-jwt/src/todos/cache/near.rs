//! Each thread's copies of the answers it serves again and again ([`authn_jwt::near`]).
//!
//! The shared cache is read by every worker thread, and each read writes to memory the other
//! threads read too: its shard's lock word, the answer's reference count, the tag's and the
//! body's. Under load from one user (a polling client, the benchmark) each such write moved a
//! cache line between the cores: `perf` put a kept 304's shared-cache lookup at about 300 ns of
//! its 11 µs, most of it on the lock's and the count's atomic instructions and on comparing the
//! user id (which sits next to memory the thread that made it keeps writing). A thread's own
//! copy is read and written by that thread alone.
//!
//! A copy is an answer like the shared one (the same version, tag and body bytes, in memory of
//! its own), and is served under the same checks (`Answer::current`, `Answer::confirm`), so it
//! is never served where the shared one would not be at the same write mark or version: a copy
//! made before a write is not current after it, and is replaced once the shared cache has the
//! new answer. Bodies over [`LARGEST`] bytes are not copied: at most 16 of them a thread, 256
//! KiB.

use std::sync::atomic::{AtomicU64, Ordering};

use authn_jwt::near::NearCopies;
use axum::http::HeaderValue;
use bytes::Bytes;

use super::{Answer, Key};

/// The largest body copied (a list of 20 todos is 1.5 KB).
pub(super) const LARGEST: usize = 16 * 1024;

/// One thread's copies.
pub(super) type Near = NearCopies<Answer>;

/// Notes that `shared` (the answer to `key`, of hash `hash`) was served from the shared cache:
/// copied on its second use on this thread.
pub(super) fn used(near: &mut Near, hash: u64, key: Key<'_>, shared: &Answer) {
    if shared.body.len() <= LARGEST {
        near.used(hash, |copy| copy.answers(key), || shared.copy());
    }
}

impl Answer {
    /// The same answer in memory of its own (the calling thread's).
    fn copy(&self) -> Self {
        Self {
            user: self.user.clone(),
            route: self.route,
            query: self.query.clone(),
            version: self.version,
            confirmed: AtomicU64::new(self.confirmed.load(Ordering::Relaxed)),
            tag: HeaderValue::from_bytes(self.tag.as_bytes())
                .expect("a tag is a valid header value"),
            body: Bytes::copy_from_slice(&self.body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriteMark;

    fn answer(version: i64, body: Vec<u8>) -> Answer {
        Answer {
            user: "alice".into(),
            route: "list",
            query: "q".into(),
            version,
            confirmed: AtomicU64::new(2),
            tag: HeaderValue::from_str(&format!("\"L{version}\"")).expect("a tag"),
            body: Bytes::from(body),
        }
    }

    #[test]
    fn a_copy_is_the_same_answer_in_memory_of_its_own() {
        let mut near = Near::default();
        let key = ("alice", "list", "q");
        let shared = answer(3, b"[1]".to_vec());
        for _ in 0..2 {
            used(&mut near, 7, key, &shared);
        }
        let copy = near.get(7, |copy| copy.answers(key)).expect("copied");
        assert_eq!(
            (copy.version, &copy.tag, &copy.body[..]),
            (3, &shared.tag, &b"[1]"[..])
        );
        assert!(copy.answers(key) && !copy.answers(("bob", "list", "q")));
        assert!(copy.current(WriteMark::at(2)) && !copy.current(WriteMark::at(4)));
        assert_ne!(copy.body.as_ptr(), shared.body.as_ptr(), "its own bytes");
        assert_ne!(copy.user.as_ptr(), shared.user.as_ptr(), "its own key");
    }

    #[test]
    fn a_large_answer_is_not_copied() {
        let mut near = Near::default();
        let key = ("alice", "list", "q");
        let big = answer(1, vec![b'x'; LARGEST + 1]);
        for _ in 0..3 {
            used(&mut near, 7, key, &big);
        }
        assert!(near.is_empty());
    }
}

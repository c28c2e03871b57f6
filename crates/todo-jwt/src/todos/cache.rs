//! Serialised answers of `GET /todos` and `GET /todos/count`, kept by user, query and the
//! list's version: once the version has been read (one indexed read, which a 304 needs
//! anyway), an answer made at that version is the answer, and it is served without reading or
//! writing a todo. The version is the database's, raised in the same transaction as any change
//! to the user's todos, so an answer is never served after a change, whichever instance made
//! it. Bounded in bytes (`TODO_JWT_LIST_CACHE_MB`); an entry is only ever served to the
//! user it was made for (the whole user id and query are compared, not only their hash).
//!
//! On SQLite not even the version is read while nothing has been written: an answer remembers
//! the store's write mark (`Store::write_mark`) taken before its version was last read, and
//! while the mark is the same, no write can have changed the list. Measured with
//! `bench/instructions.sh` (`RUST_LOG=info`): a `GET /todos` from the cache went from 47,841
//! instructions to 41,216, and its 304 from 48,821 to 42,120.
//!
//! On SQLite `GET /todos/{id}` is kept the same way, under the todo's own version
//! (`reads::get_todo`): 52,169 instructions to 41,771.
//!
//! Each thread serves the answers it uses again from copies of its own ([`near`]).

mod near;

use std::{
    cell::RefCell,
    hash::BuildHasher,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use thread_local::ThreadLocal;

use foldhash::quality::RandomState;

use axum::http::HeaderValue;
use bytes::Bytes;
use quick_cache::{Weighter, sync::Cache};

use crate::store::WriteMark;

/// No write mark (marks are even).
const UNCONFIRMED: u64 = u64::MAX;

/// The most one answer may take of the cache: larger lists are not kept.
const LARGEST_SHARE: u64 = 64;

/// The largest answer kept, whatever the cache's size. A kept answer is served without the
/// response memory budget (`http::response`), which bounds what slow readers hold: a client
/// holding many connections to answers since replaced holds at most this much on each.
const LARGEST: u64 = 64 * 1024;

/// What an answer answers: the user, the route (`"list"`, `"count"`, `"one"`) and the query.
pub type Key<'a> = (&'a str, &'static str, &'a str);

/// An answer, and what it answers.
#[derive(Debug)]
pub struct Answer {
    user: Box<str>,
    route: &'static str,
    query: Box<str>,
    version: i64,
    /// The latest write mark (`Store::write_mark`) taken before `version` was read as the
    /// list's: while the store's mark is still this one, the answer is current unread.
    confirmed: AtomicU64,
    /// Its entity tag.
    pub tag: HeaderValue,
    /// Its body.
    pub body: Bytes,
}

impl Answer {
    /// Whether this is the answer to `key` (the whole user id and query compared).
    fn answers(&self, (user, route, query): Key<'_>) -> bool {
        &*self.user == user && self.route == route && &*self.query == query
    }

    /// Whether the answer is current without reading anything: its version was read as the
    /// list's after the store's write mark was `mark`, and the mark is `mark` still (nothing
    /// was written since).
    pub fn current(&self, mark: WriteMark) -> bool {
        self.confirmed.load(Ordering::Relaxed) == mark.get()
    }

    /// Whether the answer is the one at `version`, the list's version as just read; if so,
    /// and `mark` is the write mark taken before that read, it is remembered for
    /// [`Answer::current`].
    pub fn confirm(&self, version: i64, mark: Option<WriteMark>) -> bool {
        if self.version != version {
            return false;
        }
        if let Some(mark) = mark {
            self.confirmed.store(mark.get(), Ordering::Relaxed);
        }
        true
    }
}

/// What an entry weighs: its bytes and a little for the entry itself.
#[derive(Clone, Copy, Debug)]
struct ByBytes;

impl Weighter<u64, Arc<Answer>> for ByBytes {
    fn weight(&self, _: &u64, answer: &Arc<Answer>) -> u64 {
        (answer.body.len() + answer.user.len() + answer.query.len() + answer.tag.len() + 160) as u64
    }
}

/// The cache of answers (none kept when its size is 0).
#[derive(Clone, Debug)]
pub struct AnswerCache {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    answers: Cache<u64, Arc<Answer>, ByBytes>,
    /// Seeded at random per process. An entry is found by this hash, then checked against
    /// its whole user, route and query: a collision is a miss (or replaces an entry), never
    /// another's answer. (foldhash rather than SipHash: the hash showed in callgrind's profile
    /// of `GET /todos`.)
    hasher: RandomState,
    largest: usize,
    /// Each thread's copies of the answers it serves again.
    near: ThreadLocal<RefCell<near::Near>>,
}

impl AnswerCache {
    /// A cache of at most `bytes`.
    pub fn new(bytes: u64) -> Self {
        let inner = (bytes > 0).then(|| {
            Arc::new(Inner {
                // About 2 KB an answer (a list of 20 todos is 1.5 KB).
                answers: Cache::with_weighter(
                    usize::try_from(bytes / 2048).unwrap_or(usize::MAX).max(16),
                    bytes,
                    ByBytes,
                ),
                hasher: RandomState::default(),
                largest: usize::try_from((bytes / LARGEST_SHARE).min(LARGEST)).unwrap_or(0),
                near: ThreadLocal::new(),
            })
        });
        Self { inner }
    }

    /// `serve` called with the answer kept for `key`, if `usable` says it is the answer
    /// (`Answer::current` or `Answer::confirm`); `None` when there is none such.
    pub fn serve<R>(
        &self,
        key: Key<'_>,
        usable: impl Fn(&Answer) -> bool,
        serve: impl FnOnce(&Answer) -> R,
    ) -> Option<R> {
        let inner = self.inner.as_ref()?;
        let hash = inner.hasher.hash_one(key);
        let shared = || {
            inner
                .answers
                .get(&hash)
                .filter(|answer| answer.answers(key) && usable(answer))
        };
        // (Never borrowed already: `serve` makes a response and does not come back here.)
        let Ok(mut near) = inner.near.get_or(RefCell::default).try_borrow_mut() else {
            return shared().map(|answer| serve(&answer));
        };
        if let Some(copy) = near.get(hash, |copy| copy.answers(key))
            && usable(copy)
        {
            return Some(serve(copy));
        }
        let answer = shared()?;
        near::used(&mut near, hash, key, &answer);
        Some(serve(&answer))
    }

    /// Keeps `body` (tagged `tag`) as the answer to `user`'s `query` on `route` at `version`,
    /// in place of any earlier one, unless it is too large to keep. `mark` is the write mark
    /// taken before `version` was read.
    pub fn put(
        &self,
        (user, route, query): Key<'_>,
        (version, mark): (i64, Option<WriteMark>),
        tag: HeaderValue,
        body: Bytes,
    ) {
        let Some(inner) = &self.inner else { return };
        if body.len() > inner.largest {
            return;
        }
        let answer = Answer {
            user: user.into(),
            route,
            query: query.into(),
            version,
            confirmed: AtomicU64::new(mark.map_or(UNCONFIRMED, WriteMark::get)),
            tag,
            body,
        };
        inner.answers.insert(
            inner.hasher.hash_one((user, route, query)),
            Arc::new(answer),
        );
    }

    /// Whether an answer of `bytes` would be kept.
    pub fn keeps(&self, bytes: usize) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|inner| bytes <= inner.largest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("\"{name}\"")).expect("a tag")
    }

    /// The tag and body of the answer kept for `key` that `usable` accepts.
    fn served(
        cache: &AnswerCache,
        key: Key<'_>,
        usable: impl Fn(&Answer) -> bool,
    ) -> Option<(HeaderValue, Bytes)> {
        cache.serve(key, usable, |answer| {
            (answer.tag.clone(), answer.body.clone())
        })
    }

    /// The answer kept for `key`, at whatever version.
    fn find(cache: &AnswerCache, key: Key<'_>) -> Option<(HeaderValue, Bytes)> {
        served(cache, key, |_| true)
    }

    /// The answer kept for `key`, if it is the one at `version` (read after `mark`).
    fn at(
        cache: &AnswerCache,
        key: Key<'_>,
        version: i64,
        mark: Option<WriteMark>,
    ) -> Option<(HeaderValue, Bytes)> {
        served(cache, key, |answer| answer.confirm(version, mark))
    }

    /// The answer kept for `key`, if it is current at `mark` without a read.
    fn current(cache: &AnswerCache, key: Key<'_>, mark: u64) -> Option<(HeaderValue, Bytes)> {
        served(cache, key, |answer| answer.current(WriteMark::at(mark)))
    }

    #[test]
    fn an_answer_is_served_only_for_its_user_query_and_version() {
        let cache = AnswerCache::new(1 << 20);
        let alice = ("alice", "list", "");
        cache.put(alice, (3, None), tag("t"), Bytes::from_static(b"[1]"));
        let (hit_tag, hit_body) = at(&cache, alice, 3, None).expect("kept");
        assert_eq!((&hit_tag, &hit_body[..]), (&tag("t"), &b"[1]"[..]));
        assert!(find(&cache, ("alice", "count", "")).is_none());
        assert!(at(&cache, alice, 4, None).is_none());
        assert!(find(&cache, ("alice", "list", "x")).is_none());
        assert!(find(&cache, ("bob", "list", "")).is_none());
        // A newer answer replaces the older.
        cache.put(alice, (4, None), tag("u"), Bytes::from_static(b"[2]"));
        assert!(at(&cache, alice, 3, None).is_none());
        assert_eq!(&at(&cache, alice, 4, None).expect("kept").1[..], b"[2]");
    }

    #[test]
    fn an_answer_is_current_unread_only_at_the_mark_its_version_was_read_after() {
        let cache = AnswerCache::new(1 << 20);
        let alice = ("alice", "list", "");
        let (two, four) = (Some(WriteMark::at(2)), Some(WriteMark::at(4)));
        // Made without a mark (PostgreSQL): never current unread.
        cache.put(alice, (3, None), tag("t"), Bytes::from_static(b"[1]"));
        assert!(current(&cache, alice, 2).is_none());
        // Its version read again after mark 2: current while the mark is 2, not after.
        assert!(at(&cache, alice, 3, two).is_some());
        assert_eq!(&current(&cache, alice, 2).expect("current").1[..], b"[1]");
        assert!(current(&cache, alice, 4).is_none());
        // Another user's or query's answer is not current for this one.
        assert!(current(&cache, ("bob", "list", ""), 2).is_none());
        assert!(current(&cache, ("alice", "count", ""), 2).is_none());
        // A version read that does not match confirms nothing.
        assert!(at(&cache, alice, 5, four).is_none());
        assert!(current(&cache, alice, 4).is_none());
        // Made after mark 4: current at 4.
        cache.put(alice, (5, four), tag("u"), Bytes::from_static(b"[2]"));
        assert_eq!(&current(&cache, alice, 4).expect("current").1[..], b"[2]");
        assert!(current(&cache, alice, 2).is_none());
    }

    #[test]
    fn it_is_bounded_and_can_be_off() {
        let cache = AnswerCache::new(64 * 1024);
        // Over a 64th of the cache: not kept.
        let big = ("alice", "list", "big");
        cache.put(big, (1, None), tag("t"), Bytes::from(vec![b'x'; 2048]));
        assert!(find(&cache, big).is_none());
        for user in 0..1000 {
            let user = user.to_string();
            let key = (user.as_str(), "list", "q");
            cache.put(key, (1, None), tag("t"), Bytes::from(vec![b'x'; 512]));
        }
        let kept = (0..1000)
            .filter(|user| {
                let user = user.to_string();
                at(&cache, (&user, "list", "q"), 1, None).is_some()
            })
            .count();
        assert!(kept > 0 && kept * 512 <= 64 * 1024, "{kept} kept");
        let off = AnswerCache::new(0);
        let key = ("alice", "list", "q");
        let mark = Some(WriteMark::at(2));
        off.put(key, (1, mark), tag("t"), Bytes::from_static(b"[]"));
        assert!(find(&off, key).is_none() && !off.keeps(2));
    }
}

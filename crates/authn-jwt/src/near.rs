//! One thread's copies of a shared cache's entries that it uses again and again.
//!
//! Reading a shared cache writes to memory that every thread reads: a lock word, a reference
//! count. Under load on one key (one user's polling client), each such write moves a cache line
//! from core to core. In `todo-jwt`'s kept 304 the two shared caches it read (the user
//! directory's and the answers') took about 350 ns of the request's 11 µs by `perf`, most of it
//! on their lock's and counts' atomic instructions. A thread's copy is read by that thread
//! alone.
//!
//! The owner decides what a copy is (it must be usable exactly where the shared entry is: a
//! copy is an entry as it was, so whatever check the owner makes of an entry it makes of a
//! copy too) and keeps one [`NearCopies`] per thread (`thread_local::ThreadLocal`). A copy is
//! made on an entry's second use on a thread, so that many keys each used once cost no copy;
//! a thread keeps at most [`SLOTS`] copies, the newest.

/// The most copies a thread keeps.
pub const SLOTS: usize = 16;

/// See the module's documentation.
///
/// Aligned to 128 bytes (two cache lines, which some processors fetch together): the
/// `thread_local` crate keeps the threads' values side by side, and a value's start (the
/// `RefCell`'s flag, written at each borrow) shared a line with the previous thread's; `perf`
/// put most of the copies' cost on that line.
#[derive(Debug)]
#[repr(align(128))]
pub struct NearCopies<V> {
    copies: Vec<(u64, V)>,
    /// Where the next copy goes once every slot is taken.
    next: usize,
    /// The hashes of the keys used last, once each.
    seen: [Option<u64>; SLOTS],
    next_seen: usize,
}

impl<V> Default for NearCopies<V> {
    fn default() -> Self {
        Self {
            copies: Vec::new(),
            next: 0,
            seen: [None; SLOTS],
            next_seen: 0,
        }
    }
}

impl<V> NearCopies<V> {
    /// The copy whose key hashes to `hash` and that `is` recognises as its key's (compare the
    /// whole key: hashes collide).
    pub fn get(&self, hash: u64, is: impl Fn(&V) -> bool) -> Option<&V> {
        self.copies
            .iter()
            .find(|(kept, copy)| *kept == hash && is(copy))
            .map(|(_, copy)| copy)
    }

    /// Notes a use of the shared entry whose key hashes to `hash`: on its second use, the copy
    /// `copy` makes is kept, in place of the copy `is` recognises as the same key's, if any.
    pub fn used(&mut self, hash: u64, is: impl Fn(&V) -> bool, copy: impl FnOnce() -> V) {
        if !self.seen.contains(&Some(hash)) {
            self.seen[self.next_seen] = Some(hash);
            self.next_seen = (self.next_seen + 1) % SLOTS;
            return;
        }
        let copy = (hash, copy());
        if let Some(slot) = self
            .copies
            .iter_mut()
            .find(|(kept, old)| *kept == hash && is(old))
        {
            *slot = copy;
        } else if self.copies.len() < SLOTS {
            self.copies.push(copy);
        } else {
            self.copies[self.next] = copy;
            self.next = (self.next + 1) % SLOTS;
        }
    }

    /// How many copies are kept.
    pub fn len(&self) -> usize {
        self.copies.len()
    }

    /// Whether no copy is kept.
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_copied_on_its_second_use_and_found_by_its_whole_key() {
        let mut near = NearCopies::default();
        let is = |key: &'static str| move |copy: &(&str, i32)| copy.0 == key;
        near.used(7, is("alice"), || ("alice", 1));
        assert!(near.get(7, is("alice")).is_none(), "one use copies nothing");
        near.used(7, is("alice"), || ("alice", 1));
        assert_eq!(near.get(7, is("alice")), Some(&("alice", 1)));
        // The hash alone finds nothing.
        assert!(near.get(7, is("bob")).is_none());
        assert!(near.get(8, is("alice")).is_none());
        // A newer copy of the same key replaces the older.
        near.used(7, is("alice"), || ("alice", 2));
        assert_eq!(near.get(7, is("alice")), Some(&("alice", 2)));
        assert_eq!(near.len(), 1);
    }

    #[test]
    fn a_thread_keeps_the_newest_copies_only() {
        let mut near = NearCopies::default();
        let keys: Vec<String> = (0..40).map(|key| format!("key{key}")).collect();
        for (hash, key) in (0u64..).zip(&keys) {
            for _ in 0..2 {
                near.used(hash, |copy: &String| copy == key, || key.clone());
            }
        }
        assert_eq!(near.len(), SLOTS);
        assert!(near.get(39, |copy| copy == "key39").is_some());
        assert!(near.get(0, |copy| copy == "key0").is_none());
    }
}

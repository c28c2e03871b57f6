//! Entity tags (RFC 9110 §8.8.3) for a todo and for a user's list, derived from the versions
//! the database keeps (see the `todo_versions` migrations), never from the body: a current tag
//! is known after one indexed read, which is all a `304` costs.
//!
//! A tag reads `"T<version>-<query>-<mac>"` for a todo and `"L<version>-<query>-<mac>"` for a
//! list or a count: the version it was made at, a digest of the request's query (a different
//! `filter`, `fields` or `where` is a different representation, hence a different tag), and a
//! MAC over the user, the todo's id, the version and that digest under a key derived from the
//! service secret (SipHash-2-4, a keyed function made for short inputs: a tag costs a few
//! hundred instructions, where HMAC-SHA-256 and SHA-256 cost some thousands on every read). The MAC is what makes a tag mean something only to its own user: another
//! user's tag (their version may well be the same number) never matches, and every instance
//! that shares the secret makes and checks the same tags.

use std::hash::Hasher;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use siphasher::sip::{SipHasher13, SipHasher24};

/// The version of the representations themselves (the JSON a todo, a list and a count are
/// written as): part of every tag, so that a release that writes them differently makes new
/// tags, and no client is told that its copy in the old shape is current. Raise it with any
/// change to what `GET /todos`, `/todos/count` or `/todos/{id}` answer.
const REPRESENTATION: u8 = 1;

/// What a tag is the tag of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    /// The list, or its count: any representation of the user's todos as a whole.
    List,
    /// One todo, by id.
    Todo(i64),
}

impl Tagged {
    fn letter(self) -> char {
        match self {
            Self::List => 'L',
            Self::Todo(_) => 'T',
        }
    }
}

/// Makes and checks entity tags.
#[derive(Clone)]
pub struct TagKey {
    /// Keyed for the tags' MACs.
    mac: SipHasher24,
    /// Keyed for the digests of queries (another key).
    digest: SipHasher13,
}

impl std::fmt::Debug for TagKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TagKey(..)")
    }
}

impl TagKey {
    /// The key of the service secret `secret`, derived for this purpose only.
    pub fn from_secret(secret: &SecretString) -> Self {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        derive.update(b"todo-jwt entity tags v1");
        let key = derive.finalize().into_bytes();
        let half = |at: usize| -> [u8; 16] { key[at..at + 16].try_into().expect("16 bytes") };
        Self {
            mac: SipHasher24::new_with_key(&half(0)),
            digest: SipHasher13::new_with_key(&half(16)),
        }
    }

    /// The strong tag of `what`, read at `version` by `user` on `route` (a word: `"list"`,
    /// `"count"`, `"one"`) with `query` (the request's query string), quotes included.
    pub fn tag(&self, user: &str, what: Tagged, version: i64, route: &str, query: &str) -> String {
        let mut digest = self.digest;
        digest.write(route.as_bytes());
        digest.write(&[0]);
        digest.write(query.as_bytes());
        let query = digest.finish();
        let mac = self.mac(user, what, version, query);
        format!("\"{}{version}-{query:016x}-{mac:016x}\"", what.letter())
    }

    /// The version `tag` (quotes included) names, if it is a tag of `what` made for `user`.
    pub fn version_of(&self, user: &str, what: Tagged, tag: &str) -> Option<i64> {
        let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
        let inner = inner.strip_prefix(what.letter())?;
        let mut parts = inner.splitn(3, '-');
        let (version, query, mac) = (parts.next()?, parts.next()?, parts.next()?);
        // The canonical spelling only: the tag is compared as a whole elsewhere.
        let plain = |hex: &str| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        let canonical = version == "0" || !version.starts_with(['+', '-', '0']);
        if !plain(query) || !plain(mac) || !canonical {
            return None;
        }
        let version: i64 = version.parse().ok()?;
        let query = u64::from_str_radix(query, 16).ok()?;
        let mac = u64::from_str_radix(mac, 16).ok()?;
        (self.mac(user, what, version, query) == mac).then_some(version)
    }

    fn mac(&self, user: &str, what: Tagged, version: i64, query: u64) -> u64 {
        let mut mac = self.mac;
        let id = match what {
            Tagged::List => 0,
            Tagged::Todo(id) => id,
        };
        mac.write(&[REPRESENTATION, what.letter() as u8]);
        mac.write(&(user.len() as u64).to_be_bytes());
        mac.write(user.as_bytes());
        mac.write(&id.to_be_bytes());
        mac.write(&version.to_be_bytes());
        mac.write(&query.to_be_bytes());
        mac.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> TagKey {
        TagKey::from_secret(&SecretString::from(secret))
    }

    #[test]
    fn a_tag_names_its_version_for_its_user_and_resource_only() {
        let key = key("a service secret of test");
        let tag = key.tag("alice", Tagged::Todo(7), 3, "one", "");
        assert_eq!(key.version_of("alice", Tagged::Todo(7), &tag), Some(3));
        assert_eq!(key.version_of("bob", Tagged::Todo(7), &tag), None);
        assert_eq!(key.version_of("alice", Tagged::Todo(8), &tag), None);
        assert_eq!(key.version_of("alice", Tagged::List, &tag), None);
        let other = self::key("another service secret");
        assert_eq!(other.version_of("alice", Tagged::Todo(7), &tag), None);
        // A forged version keeps the MAC of another: refused.
        let forged = tag.replacen("T3-", "T4-", 1);
        assert_eq!(key.version_of("alice", Tagged::Todo(7), &forged), None);
    }

    #[test]
    fn a_tags_text_is_pinned() {
        // Tags outlive a release in clients' caches and are checked by every instance: a
        // change of their construction must be deliberate (raise REPRESENTATION, say so).
        let key = key("a service secret of test");
        assert_eq!(
            key.tag("alice", Tagged::Todo(7), 3, "one", ""),
            "\"T3-673d5e9f83c83e54-0721e19a2e6dc28b\""
        );
    }

    #[test]
    fn the_query_and_the_version_change_the_tag() {
        let key = key("a service secret of test");
        let list = key.tag("alice", Tagged::List, 5, "list", "");
        assert_ne!(list, key.tag("alice", Tagged::List, 5, "list", "filter=x"));
        assert_ne!(list, key.tag("alice", Tagged::List, 6, "list", ""));
        assert_ne!(list, key.tag("bob", Tagged::List, 5, "list", ""));
        assert_eq!(list, key.tag("alice", Tagged::List, 5, "list", ""));
        assert_eq!(key.version_of("alice", Tagged::List, &list), Some(5));
    }

    #[test]
    fn malformed_tags_name_no_version() {
        let key = key("a service secret of test");
        let tag = key.tag("alice", Tagged::List, 5, "list", "");
        for bad in [
            "",
            "\"\"",
            "L5",
            &tag[1..],
            &tag.replacen("L5", "L+5", 1),
            &tag.replacen("L5", "L05", 1),
            &tag.replacen("L5", "L99999999999999999999", 1),
            &format!("{tag}x"),
            "\"L5-zzzzzzzzzzzzzzzz-zzzzzzzzzzzzzzzz\"",
        ] {
            assert_eq!(key.version_of("alice", Tagged::List, bad), None, "{bad}");
        }
    }
}

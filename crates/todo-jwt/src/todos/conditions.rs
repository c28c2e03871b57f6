//! The conditional request headers (RFC 9110 §13): `If-Match` and `If-None-Match`, read once
//! per request and evaluated against the current tag (a read) or turned into the versions a
//! write accepts (checked by the write's own statement).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use super::etag::{TagKey, Tagged};
use crate::{http::error::ApiError, store::Versions};

/// The most distinct versions a condition names (a client names one, or two while another tab
/// writes): any more are ignored.
const MAX_VERSIONS: usize = 8;

/// One header's entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tags {
    /// `*`: any current representation.
    Any,
    /// The field lines as sent, each checked to be a list of entity tags: compared where
    /// they are used, tag by tag, without a copy (the parse, a copy of each tag and a check
    /// of its bytes that was not vectorised, was about a tenth of what a 304 does beyond the
    /// ceiling, by callgrind).
    Listed(Lines),
}

/// A header's field lines: one, and any more (a list may be split across several).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lines {
    first: HeaderValue,
    more: Vec<HeaderValue>,
}

impl Lines {
    /// Calls `each` with each tag (whether weak, and the tag with its quotes), in order, until
    /// it answers `true`; whether one did.
    fn any(&self, mut each: impl FnMut(bool, &[u8]) -> bool) -> bool {
        std::iter::once(&self.first)
            .chain(&self.more)
            .any(|line| matches!(list(line.as_bytes(), false, &mut each), Ok(List::Stopped)))
    }
}

/// What [`list`] found in a field line.
#[derive(Debug, PartialEq, Eq)]
enum List {
    /// `*`, the whole line.
    Any,
    /// A list of tags, each given to the caller.
    Tags,
    /// A list of tags, of which the caller stopped at one.
    Stopped,
}

/// A request's preconditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    if_match: Option<Tags>,
    if_none_match: Option<Tags>,
}

/// What a read does after its preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Answer as usual (200).
    Proceed,
    /// `If-None-Match` matched: 304, no body.
    NotModified,
    /// `If-Match` did not: 412.
    Failed,
}

/// Read from the request's head, without copying its headers (`HeaderMap` as an extractor
/// clones them all); a 400 as [`Conditions::from_headers`].
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Conditions {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Self::from_headers(&parts.headers)
    }
}

impl Conditions {
    /// The preconditions in `headers`: 400 for a header that is not a list of entity tags.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        Ok(Self {
            if_match: tags(headers, &header::IF_MATCH)?,
            if_none_match: tags(headers, &header::IF_NONE_MATCH)?,
        })
    }

    /// Whether the request carries `If-Match` with entity tags: a write that says which
    /// version it changes (`*` says only that there is one).
    pub fn names_versions(&self) -> bool {
        matches!(self.if_match, Some(Tags::Listed(_)))
    }

    /// A read's outcome when the current representation's tag is `current` (RFC 9110
    /// §13.2.2: `If-Match` first, by strong comparison; then `If-None-Match`, by weak).
    pub fn read(&self, current: &[u8]) -> ReadOutcome {
        if let Some(if_match) = &self.if_match {
            let matched = match if_match {
                Tags::Any => true,
                Tags::Listed(lines) => lines.any(|weak, tag| !weak && tag == current),
            };
            if !matched {
                return ReadOutcome::Failed;
            }
        }
        let not_modified = match &self.if_none_match {
            None => false,
            Some(Tags::Any) => true,
            Some(Tags::Listed(lines)) => lines.any(|_, tag| tag == current),
        };
        if not_modified {
            ReadOutcome::NotModified
        } else {
            ReadOutcome::Proceed
        }
    }

    /// The versions of `what` a write accepts, for `user`: `If-Match` names those it may
    /// change (strong tags only; a tag that is not a current one of `what` names none), and
    /// `If-None-Match` those it may not (`*`: it may not change any existing one).
    pub fn versions(&self, key: &TagKey, user: &str, what: Tagged) -> Versions {
        // Each distinct version once, and a few at most: the versions become the statement's
        // text (`version IN (...)`), and each length is a statement to prepare and keep.
        let named = |lines: &Lines, weak_too: bool| -> Vec<i64> {
            let mut versions = Vec::new();
            lines.any(|weak, tag| {
                if (weak_too || !weak)
                    && let Ok(tag) = std::str::from_utf8(tag)
                    && let Some(version) = key.version_of(user, what, tag)
                {
                    versions.push(version);
                }
                false
            });
            versions.sort_unstable();
            versions.dedup();
            versions.truncate(MAX_VERSIONS);
            versions
        };
        let mut versions = Versions::default();
        if let Some(Tags::Listed(tags)) = &self.if_match {
            versions.one_of = Some(named(tags, false));
        }
        match &self.if_none_match {
            Some(Tags::Any) => versions.one_of = Some(Vec::new()),
            Some(Tags::Listed(tags)) => versions.none_of = named(tags, true),
            None => {}
        }
        versions
    }
}

/// The tags of every `name` header (a list may be split across several), or `None` without
/// one.
fn tags(headers: &HeaderMap, name: &HeaderName) -> Result<Option<Tags>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::bad_request(
            "INVALID_PRECONDITION",
            format!(
                "{name} must be `*` or a list of entity tags, each in double quotes (an ETag \
                 this service sent, such as \"L3-...\")"
            ),
        )
    };
    let found = list(first.as_bytes(), true, |_, _| false).map_err(|()| malformed())?;
    let more: Vec<HeaderValue> = values.cloned().collect();
    let mut any = found == List::Any;
    let mut listed = found != List::Any;
    for line in &more {
        match list(line.as_bytes(), true, |_, _| false).map_err(|()| malformed())? {
            List::Any => any = true,
            List::Tags | List::Stopped => listed = true,
        }
    }
    match (any, listed) {
        // `*` is the whole field value, never one item of a list.
        (true, true) => Err(malformed()),
        (true, false) => Ok(Some(Tags::Any)),
        (false, _) => Ok(Some(Tags::Listed(Lines {
            first: first.clone(),
            more,
        }))),
    }
}

/// Reads one field line: `*`, or a list of entity tags (RFC 9110 §8.8.3: `W/` for a weak one,
/// the tag in double quotes, of `%x21 / %x23-7E`), given to `each` (whether weak, the tag
/// with its quotes) until it answers `true`. Empty list items are allowed (§5.6.1.2: `, "a"`
/// is `"a"`), an empty list is not. Anything else, bytes past ASCII included, is an error.
/// The tags' characters are checked when `check` (a line read before was checked then).
fn list(line: &[u8], check: bool, mut each: impl FnMut(bool, &[u8]) -> bool) -> Result<List, ()> {
    let blank = |byte: &u8| matches!(byte, b' ' | b'\t');
    // Leading empty items, and blanks at either end, are nothing.
    let start = line
        .iter()
        .position(|byte| !blank(byte) && *byte != b',')
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|byte| !blank(byte))
        .map_or(start, |last| (last + 1).max(start));
    let line = &line[start..end];
    if line == b"*" {
        return Ok(List::Any);
    }
    let mut at = 0;
    let mut tags = 0;
    loop {
        // Separators and empty items.
        while at < line.len() && (blank(&line[at]) || line[at] == b',') {
            at += 1;
        }
        if at == line.len() {
            return if tags == 0 { Err(()) } else { Ok(List::Tags) };
        }
        let weak = line[at..].starts_with(b"W/");
        let open = if weak { at + 2 } else { at };
        if line.get(open) != Some(&b'"') {
            return Err(());
        }
        let body = open + 1;
        let close = line[body..]
            .iter()
            .position(|byte| *byte == b'"')
            .map(|length| body + length)
            .ok_or(())?;
        // A fold rather than `all`, which stops early and so is not vectorised: this loop was
        // the most of a 304's own work here (callgrind).
        if check
            && !line[body..close].iter().fold(true, |all, byte| {
                all & ((*byte == 0x21) | (byte.wrapping_sub(0x23) <= 0x7e - 0x23))
            })
        {
            return Err(());
        }
        tags += 1;
        if each(weak, &line[open..=close]) {
            return Ok(List::Stopped);
        }
        at = close + 1;
        // After a tag: the end, or blanks then a comma.
        while at < line.len() && blank(&line[at]) {
            at += 1;
        }
        if at < line.len() && line[at] != b',' {
            return Err(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use secrecy::SecretString;

    fn conditions(if_match: &[&str], if_none_match: &[&str]) -> Result<Conditions, ApiError> {
        let mut headers = HeaderMap::new();
        for value in if_match {
            headers.append(
                header::IF_MATCH,
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        for value in if_none_match {
            headers.append(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        Conditions::from_headers(&headers)
    }

    #[test]
    fn reads_follow_rfc_9110() {
        let current = "\"L1-a-b\"";
        let read = |m: &[&str], n: &[&str]| {
            conditions(m, n)
                .expect("well formed")
                .read(current.as_bytes())
        };
        assert_eq!(read(&[], &[]), ReadOutcome::Proceed);
        assert_eq!(read(&[], &["\"L1-a-b\""]), ReadOutcome::NotModified);
        // Weak comparison for If-None-Match: W/ still matches.
        assert_eq!(read(&[], &["W/\"L1-a-b\""]), ReadOutcome::NotModified);
        assert_eq!(read(&[], &["\"x\", \"L1-a-b\""]), ReadOutcome::NotModified);
        assert_eq!(
            read(&[], &["\"x\"", "\"L1-a-b\""]),
            ReadOutcome::NotModified
        );
        assert_eq!(read(&[], &["*"]), ReadOutcome::NotModified);
        // A tag in a later field line, or later in a list, counts as much as the first.
        assert_eq!(
            read(&[], &["\"x\"", " W/\"y\" ,\t\"L1-a-b\" "]),
            ReadOutcome::NotModified
        );
        // A tag is compared whole: neither a prefix nor a tag without its quotes matches.
        assert_eq!(read(&[], &["\"L1-a\""]), ReadOutcome::Proceed);
        assert_eq!(read(&["\"L1-a-b\"", "\"z\""], &[]), ReadOutcome::Proceed);
        assert_eq!(read(&[], &["\"L0-a-b\""]), ReadOutcome::Proceed);
        // Strong comparison for If-Match: a weak tag never matches.
        assert_eq!(read(&["W/\"L1-a-b\""], &[]), ReadOutcome::Failed);
        assert_eq!(read(&["\"L1-a-b\""], &[]), ReadOutcome::Proceed);
        assert_eq!(read(&["*"], &[]), ReadOutcome::Proceed);
        assert_eq!(read(&["\"old\""], &["\"L1-a-b\""]), ReadOutcome::Failed);
        assert_eq!(
            read(&["\"L1-a-b\""], &["\"L1-a-b\""]),
            ReadOutcome::NotModified
        );
    }

    #[test]
    fn malformed_headers_are_a_400() {
        for bad in [
            "",
            "abc",
            "\"open",
            "\"a\" \"b\"",
            "*, \"a\"",
            "W/",
            "\"a\"x",
            "\"a b\"",
        ] {
            assert!(conditions(&[bad], &[]).is_err(), "{bad:?}");
            assert!(conditions(&[], &[bad]).is_err(), "{bad:?}");
        }
        assert!(conditions(&["*", "\"a\""], &[]).is_err());
        assert!(conditions(&["\"a\",, \"b\" ,"], &[]).is_ok());
        assert!(conditions(&[", \"a\""], &[]).is_ok());
        assert!(conditions(&[","], &[]).is_err());
        assert!(conditions(&["W/x"], &[]).is_err());
        assert!(conditions(&["W/\"a\" ,"], &[]).is_ok());
        assert!(conditions(&["\"a\", *"], &[]).is_err());
        assert!(conditions(&[" , *\t"], &[]).is_ok());
        assert!(conditions(&["\"a\"", "*"], &[]).is_err());
        assert!(conditions(&["*", "*"], &[]).is_ok());
        // Bytes past ASCII (obs-text), in a tag or around one: 400 too.
        for bad in [&b"\"a\xe9\""[..], b"\"a\" \x80", b"\x80\"a\"", b"*\xff"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_bytes(bad).expect("a header value"),
            );
            assert!(Conditions::from_headers(&headers).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writes_accept_the_versions_the_tags_name() {
        let key = TagKey::from_secret(&SecretString::from("a service secret of test"));
        let what = Tagged::Todo(4);
        let v2 = key.tag("alice", what, 2, "one", "");
        let v3 = key.tag("alice", what, 3, "one", "");
        let bob = key.tag("bob", what, 3, "one", "");
        let versions = |m: &[&str], n: &[&str]| {
            conditions(m, n)
                .expect("well formed")
                .versions(&key, "alice", what)
        };
        assert!(versions(&[], &[]).is_any());
        let both = format!("{v2}, {v3}");
        assert_eq!(versions(&[&both], &[]).one_of, Some(vec![2, 3]));
        // Another user's tag, a weak tag and a stranger name no version: nothing passes.
        let weak = format!("W/{v3}");
        assert_eq!(versions(&[&bob, &weak, "\"x\""], &[]).one_of, Some(vec![]));
        assert!(versions(&["*"], &[]).is_any());
        // The same version under several tags (of several queries) is one version.
        let v3_other = key.tag("alice", what, 3, "one", "filter=x");
        let same = format!("{v3}, {v3_other}, {v3}");
        assert_eq!(versions(&[&same], &[]).one_of, Some(vec![3]));
        assert_eq!(versions(&[], &["*"]).one_of, Some(vec![]));
        assert_eq!(versions(&[], &[&weak]).none_of, vec![3]);
    }
}

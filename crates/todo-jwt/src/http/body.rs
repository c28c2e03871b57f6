//! The JSON body extractor: content type, size, syntax and schema checks with LoopBack's answers.
//!
//! Bodies are validated against a JSON Schema before they are deserialized, so a client learns
//! every problem at once, in AJV's words, instead of serde's first complaint. This file reads
//! and checks a body; the schemas and the wording of their problems are in `body/schema.rs`,
//! re-exported here.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{FromRef, FromRequest, Request},
    http::{HeaderMap, header},
};
use bytes::BytesMut;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

use super::error::{ApiError, ValidationDetail};

mod schema;

pub(crate) use schema::json_body_schema;
pub use schema::{BodySchema, compile, document, validate, without};

/// The largest accepted request body (LoopBack's limit).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How request bodies may be received: within a time, and within a memory budget shared by
/// every request (so that many clients sending bodies slowly cannot make the server buffer
/// them all at once).
#[derive(Clone, Debug)]
pub struct BodyLimits {
    timeout: Duration,
    /// The budget, in bytes: a request takes each part of its body from it as the part
    /// arrives (a client that sends only headers takes nothing), and gives it all back when
    /// the body has been checked.
    memory: Arc<Semaphore>,
}

impl BodyLimits {
    /// Bodies must arrive within `timeout`; at most `memory` bytes (at least one whole body)
    /// are held at once.
    pub fn new(timeout: Duration, memory: usize) -> Self {
        Self {
            timeout,
            // At least one whole body.
            memory: Arc::new(Semaphore::new(
                memory.clamp(BODY_LIMIT, Semaphore::MAX_PERMITS),
            )),
        }
    }
}

/// A received body, and its share of the memory budget (given back when dropped).
pub struct Received {
    /// The body.
    pub bytes: Bytes,
    _memory: Option<OwnedSemaphorePermit>,
}

/// Reads the whole body of `request`: 413 over [`BODY_LIMIT`], 408 when it has not arrived
/// within the body timeout (waiting for memory included), 503 when the budget stays taken.
pub async fn read_body(limits: &BodyLimits, request: Request) -> Result<Received, ApiError> {
    let deadline = Instant::now() + limits.timeout;
    if declared_length(request.headers()).is_some_and(|length| length > BODY_LIMIT) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = request.into_body();
    let mut buffer = BytesMut::new();
    let mut memory: Option<OwnedSemaphorePermit> = None;
    loop {
        // A part takes its room from the budget once it has arrived, for the bytes it holds: a
        // body that is announced and not sent, or stalls, holds no room while it waits (it
        // took ~64 KiB each before, so a thousand such requests held up everyone's bodies).
        // What arrives and waits for room is bounded by the connections (the per-address cap
        // among them) times hyper's read buffer.
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| ApiError::RequestTimeout)?;
        let Some(frame) = frame else { break };
        let frame =
            frame.map_err(|error| ApiError::bad_request("INVALID_BODY", error.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buffer.len() + data.len() > BODY_LIMIT {
            return Err(ApiError::PayloadTooLarge);
        }
        if data.is_empty() {
            continue;
        }
        let used = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let room = tokio::time::timeout_at(
            deadline,
            Arc::clone(&limits.memory).acquire_many_owned(used),
        )
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(|_| ApiError::Busy)?;
        match &mut memory {
            Some(held) => held.merge(room),
            None => memory = Some(room),
        }
        buffer.extend_from_slice(&data);
    }
    Ok(Received {
        bytes: buffer.freeze(),
        _memory: memory,
    })
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A JSON body of type `T`, checked against `T::validator()`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: BodySchema + Send + 'static,
    S: Send + Sync,
    BodyLimits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        // A body declared as something other than JSON is refused before a byte of it is read.
        if let Some(content_type) = content_type.as_deref()
            && !is_json(content_type)
        {
            return Err(ApiError::UnsupportedMediaType(refused_type(content_type)));
        }
        let received = read_body(&BodyLimits::from_ref(state), request).await?;
        let inline = received.bytes.len() <= INLINE_BODY;
        // The body's share of the memory budget is held until it has been checked.
        let check = move || check::<T>(content_type.as_deref(), &received.bytes);
        if inline {
            check()
        } else {
            // Parsing and validating a large body (a megabyte of keys) takes milliseconds: off
            // the runtime, so other requests do not wait for it.
            tokio::task::spawn_blocking(check)
                .await
                .map_err(|_| ApiError::internal("a body check failed"))?
        }
    }
}

/// Bodies up to this size are checked on the request's task; larger ones on the blocking pool.
const INLINE_BODY: usize = 16 * 1024;

/// Syntax, NUL characters, schema, then the type.
fn check<T: BodySchema>(content_type: Option<&str>, bytes: &[u8]) -> Result<JsonBody<T>, ApiError> {
    let value = parse(content_type, bytes)?;
    if let Some(path) = crate::json::nul_path(&value) {
        return Err(ApiError::Validation(vec![ValidationDetail {
            path,
            code: "pattern".to_owned(),
            message: "must not contain NUL characters".to_owned(),
            info: json!({}),
        }]));
    }
    validate(T::validator(), &value)?;
    // The schema admits only what `T` can hold; a mismatch is still reported, never a panic.
    serde_json::from_value(value)
        .map(JsonBody)
        .map_err(|error| {
            ApiError::Validation(vec![ValidationDetail {
                path: String::new(),
                code: "type".to_owned(),
                message: error.to_string(),
                info: json!({}),
            }])
        })
}

/// Checks the declared content type and the JSON syntax of a body.
pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, ApiError> {
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    match content_type {
        Some(content_type) if !is_json(content_type) => {
            return Err(ApiError::UnsupportedMediaType(refused_type(content_type)));
        }
        None if !empty => return Err(ApiError::UnsupportedMediaType("undefined".to_owned())),
        _ => {}
    }
    if empty {
        return Err(ApiError::bad_request(
            "MISSING_REQUIRED_PARAMETER",
            "Request body is required",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::Syntax(format!("Invalid JSON: {error}")))
}

/// `application/json` of `application/json; charset=utf-8`.
fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// JSON (`application/json` or `application/*+json`), in UTF-8: a `charset` parameter, if
/// any, must say so. (JSON is UTF-8 by RFC 8259; a body declared as UTF-16 would otherwise be
/// read as UTF-8 and fail, or worse, half-succeed.)
fn is_json(content_type: &str) -> bool {
    let essence = media_type(content_type).to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    json && content_type
        .split(';')
        .skip(1)
        .all(|parameter| match parameter.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                let value = value.trim().trim_matches('"');
                value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
            }
            _ => true,
        })
}

/// What a 415 names: the media type, or the whole header when the type was JSON and its
/// charset was the problem.
fn refused_type(content_type: &str) -> String {
    let essence = media_type(content_type);
    if essence.eq_ignore_ascii_case("application/json") {
        content_type.trim().to_owned()
    } else {
        essence.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charset_other_than_utf_8_is_refused() {
        for declared in [
            "application/json; charset=utf-16",
            "application/json;charset=\"UTF-16LE\"",
            "application/json; charset=latin1",
        ] {
            assert!(
                matches!(parse(Some(declared), b"{}"), Err(ApiError::UnsupportedMediaType(t)) if t == declared),
                "{declared}"
            );
        }
        for declared in [
            "application/json; charset=utf-8",
            "application/json; charset=\"UTF-8\"",
            "application/json",
        ] {
            assert!(parse(Some(declared), b"{}").is_ok(), "{declared}");
        }
    }

    #[test]
    fn content_type_and_syntax_are_checked_before_the_schema() {
        assert!(
            matches!(parse(Some("text/plain"), b"{}"), Err(ApiError::UnsupportedMediaType(t)) if t == "text/plain")
        );
        assert!(matches!(
            parse(Some("application/json"), b"  "),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(parse(None, b""), Err(ApiError::BadRequest { .. })));
        assert!(matches!(
            parse(Some("application/json; charset=utf-8"), b"{"),
            Err(ApiError::Syntax(_))
        ));
        assert_eq!(
            parse(Some("application/vnd.api+json"), b"[1]").expect("json"),
            json!([1])
        );
    }
}

//! The connection's byte stream ([`GuardedStream`]), with four guards hyper does not offer:
//!
//! - a **send timeout**: a client that stops reading (its receive window full) holds a
//!   response, and the memory behind it, only until the timeout; then the connection closes;
//! - a **minimum send rate**: a client that reads, but slowly (1 KB a second, each bit of
//!   progress resetting the send timeout), kept its response, and its memory, for as long as
//!   it liked. Now the time a connection's writes wait for their client is paid for by the
//!   bytes it takes: each byte buys `1 / min_rate` seconds of waiting, and at most the send
//!   timeout's worth is saved up (so reading fast earlier buys nothing later). A client that
//!   reads slower than the minimum rate while the service waits on it runs out of waiting,
//!   and loses its connection after about `send_timeout / (1 - its rate / min rate)`. Either
//!   way the connection is reset, not closed: a close would leave what the kernel still holds
//!   of the response (megabytes) to be sent to the slow client for as long as it likes;
//! - **low-level errors in the envelope**: hyper answers a request it cannot parse by itself
//!   (400 malformed, 414 URI too long, 431 head too large) with an empty body and none of our
//!   headers. Those responses are recognised as they are written (one write that is a bare
//!   head with only `content-length: 0`, `connection: close` and `date`; every response of ours
//!   carries more, `X-Content-Type-Options` at least) and rewritten: same status and `Date`, a
//!   LoopBack error envelope, `nosniff`, and `Connection: close`;
//! - a **lingering close**: when the server ends a connection whose client is still sending
//!   (a 408 or 413 before the whole body arrived), what the client sends is read and dropped
//!   for a moment after our side is shut (`LINGER`, at most `LINGER_BYTES`), so that the kernel
//!   does not answer it with a reset, which would destroy the error response before the client
//!   reads it.

use std::{
    future::Future,
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// A stream whose writes give up after `send_timeout` without progress, and whose hyper-made
/// error responses are rewritten into the envelope.
pub struct GuardedStream<S> {
    inner: S,
    send_timeout: Duration,
    /// Armed while a write waits for the client; reset by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
    /// A rewritten response still to be written, and how much of it has been.
    replacement: Option<(Vec<u8>, usize)>,
    /// After our side is shut: until when, and how many more bytes, the client's are drained.
    lingering: Option<(Pin<Box<Sleep>>, usize)>,
    /// Seconds of waiting each byte written buys (the inverse of the minimum send rate; 0
    /// for none).
    per_byte: f64,
    /// The waiting left, in seconds: at most the send timeout's.
    allowance: f64,
    /// Since when the current write has waited for the client.
    waiting_since: Option<Instant>,
}

/// How long, and how much, a closing connection's incoming bytes are read and dropped.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 2 * 1024 * 1024;

impl<S> GuardedStream<S> {
    /// A stream whose writes wait at most `send_timeout` without progress, and take their
    /// bytes at least at `min_rate` bytes a second while they wait (0: no minimum rate).
    pub fn new(inner: S, send_timeout: Duration, min_rate: u64) -> Self {
        Self {
            inner,
            send_timeout,
            stalled: None,
            replacement: None,
            lingering: None,
            per_byte: if min_rate == 0 {
                0.0
            } else {
                1.0 / min_rate as f64
            },
            allowance: send_timeout.as_secs_f64(),
            waiting_since: None,
        }
    }

    /// Credits `bytes` written to the allowance of waiting.
    fn credit(&mut self, bytes: usize) {
        self.allowance =
            (self.allowance + bytes as f64 * self.per_byte).min(self.send_timeout.as_secs_f64());
    }

    /// When a write that waits for its client from `now` gives up: after the send timeout,
    /// or sooner when the allowance runs out.
    fn deadline(&self, now: Instant) -> Instant {
        let stalled = now + self.send_timeout;
        if self.per_byte == 0.0 {
            return stalled;
        }
        stalled.min(now + Duration::from_secs_f64(self.allowance.max(0.0)))
    }
}

/// A connection that can be made to reset when it closes, discarding what the kernel still
/// holds for the client.
pub trait Reset {
    fn reset_on_close(&self);
}

impl Reset for tokio::net::TcpStream {
    fn reset_on_close(&self) {
        // SO_LINGER with a zero timeout: close() sends RST and frees the buffers at once.
        if let Err(error) = rustix::net::sockopt::set_socket_linger(self, Some(Duration::ZERO)) {
            tracing::debug!(%error, "cannot set SO_LINGER on a connection given up on");
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Reset + Unpin> GuardedStream<S> {
    /// `poll` as it is, except that a wait longer than the send timeout, or than the
    /// allowance, becomes `TimedOut`.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            if let Some(since) = self.waiting_since.take() {
                self.allowance -= since.elapsed().as_secs_f64();
            }
            return poll;
        }
        // A wait starts now, or goes on (the deadline was set when it started).
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let deadline = self.deadline(since);
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err({
                self.inner.reset_on_close();
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not read the response within the send timeout, or read it \
             slower than the minimum send rate",
                )
            })),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes what is left of a rewritten response.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = self.replacement.as_mut() {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let poll = Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]);
            let n = ready!(self.bounded(cx, poll))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if let Some((_, written)) = self.replacement.as_mut() {
                *written += n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Reset + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_replacement(cx))?;
        let mut written = bufs.iter().filter(|buf| !buf.is_empty());
        if let (Some(only), None) = (written.next(), written.next())
            && let Some(replacement) = rewrite_automatic_response(only)
        {
            this.replacement = Some((replacement, 0));
            // hyper's bytes are taken whole; ours go out on this call and the next ones.
            let taken = bufs.iter().map(|buf| buf.len()).sum();
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(taken));
        }
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        let poll = this.bounded(cx, poll);
        if let Poll::Ready(Ok(written)) = poll {
            this.credit(written);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_replacement(cx))?;
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.bounded(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.lingering.is_none() {
            ready!(this.poll_replacement(cx))?;
            let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
            ready!(this.bounded(cx, poll))?;
            this.lingering = Some((Box::pin(tokio::time::sleep(LINGER)), LINGER_BYTES));
        }
        // Our side is shut (the client has our response); drain what it still sends.
        let mut scratch = [0u8; 8 * 1024];
        loop {
            let Some((deadline, left)) = this.lingering.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            if *left == 0 || deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buffer = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buffer) {
                Poll::Pending => return Poll::Pending,
                // The client closed too, or the connection failed: done either way.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) if buffer.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => *left = left.saturating_sub(buffer.filled().len()),
            }
        }
    }
}

/// If `bytes` are one of hyper's automatic error responses, the response to send instead.
///
/// Recognised strictly: one write that is exactly a head, with a 400/414/431 status line and
/// only `content-length: 0`, `connection: close` and `date`. Our responses always carry more headers, and a body
/// chunk cannot be mistaken for one: JSON never holds a raw CRLF, and the other bodies are
/// the service's own files.
fn rewrite_automatic_response(bytes: &[u8]) -> Option<Vec<u8>> {
    let rest = bytes.strip_prefix(b"HTTP/1.1 ")?;
    // The status first: every other response is let through at once (the whole check, run on
    // each head written, cost a 304 a fortieth of its instructions).
    if !matches!(rest.get(..4)?, b"400 " | b"414 " | b"431 ") {
        return None;
    }
    let head = std::str::from_utf8(bytes.strip_suffix(b"\r\n\r\n")?).ok()?;
    let mut headers = head.split("\r\n").skip(1);
    let only_hypers = headers.all(|line| {
        let lower = line.to_ascii_lowercase();
        lower == "content-length: 0" || lower == "connection: close" || lower.starts_with("date: ")
    });
    if !only_hypers {
        return None;
    }
    let status = std::str::from_utf8(rest.get(..3)?)
        .ok()?
        .parse::<u16>()
        .ok()?;
    let (name, message) = match status {
        400 => (
            "BadRequestError",
            "The request could not be parsed as HTTP.",
        ),
        414 => (
            "URITooLongError",
            "The request line is too long (at most 64 KiB with the headers).",
        ),
        431 => (
            "RequestHeaderFieldsTooLargeError",
            super::super::middleware::HEAD_TOO_LARGE,
        ),
        _ => return None,
    };
    let body = serde_json::json!({
        "error": {"statusCode": status, "name": name, "message": message}
    })
    .to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut response = format!("{status_line}\r\n");
    for line in lines {
        if line.to_ascii_lowercase().starts_with("date:") {
            response.push_str(line);
            response.push_str("\r\n");
        }
    }
    response.push_str(&format!(
        "content-type: application/json; charset=utf-8\r\n\
         x-content-type-options: nosniff\r\n\
         connection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    ));
    Some(response.into_bytes())
}

#[cfg(test)]
mod tests;

//! The outbox's sender: claims the due messages, sends each, and records what happened.
//!
//! A claim moves the messages' next attempt [`CLAIM`] ahead, so another instance on the same
//! PostgreSQL neither takes them meanwhile (it also skips the rows locked by a claim in
//! progress) nor loses them if this one dies mid-send: they come due again when the claim ends.
//! A failed attempt is retried after a delay that doubles from [`FIRST_RETRY`] up to
//! [`LAST_RETRY`]; the [`MAX_ATTEMPTS`]th failure, or a refusal for good (a 5xx answer, an
//! address that cannot be written), gives the message up: kept in the table, counted in
//! `mail_failed_total` and logged.

use std::time::Duration;

use lettre::{
    Message,
    message::{
        Body,
        header::{ContentTransferEncoding, ContentType},
    },
};
use tokio_util::sync::CancellationToken;

use super::{Mailer, TransportError};
use crate::{
    clock,
    http::error,
    store::{OutboxMessage, Store, StoreError},
};

/// How long a claim holds a message.
pub const CLAIM: i64 = 120;
/// The delay after the first failed attempt, in seconds.
pub const FIRST_RETRY: i64 = 2;
/// The longest delay between attempts, in seconds.
pub const LAST_RETRY: i64 = 3600;
/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i64 = 10;
/// How often the outbox is looked at without being woken.
const POLL: Duration = Duration::from_secs(1);

/// While the outbox cannot be read, how often that is logged again.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Sends the outbox of `store` through `mailer` until `stop` is cancelled (checked between
/// batches: a message being sent is finished first). While the database is down, the outbox
/// is looked at less often (up to every [`WARN_EVERY`] / 2) and the failure logged once per
/// [`WARN_EVERY`], not each time.
pub async fn run(store: Store, mailer: Mailer, stop: CancellationToken) {
    let mut failing = Failing::default();
    while !stop.is_cancelled() {
        match send_due(&store, &mailer).await {
            Ok(()) => failing.recovered(),
            Err(error) => failing.failed(&error),
        }
        match store.mail().outbox_counts().await {
            Ok((depth, given_up)) => {
                metrics::gauge!("mail_queue_depth").set(depth as f64);
                metrics::gauge!("mail_given_up").set(given_up as f64);
            }
            Err(error) => tracing::debug!(cause = %error, "cannot count the outbox"),
        }
        tokio::select! {
            () = stop.cancelled() => {}
            () = mailer.woken() => {}
            () = tokio::time::sleep(failing.pause()) => {}
        }
    }
}

/// The outbox's failures in a row, and when they were last logged.
#[derive(Debug, Default)]
struct Failing {
    in_a_row: u32,
    logged: Option<std::time::Instant>,
}

impl Failing {
    fn failed(&mut self, error: &StoreError) {
        self.in_a_row = self.in_a_row.saturating_add(1);
        if self.logged.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            self.logged = Some(std::time::Instant::now());
            tracing::warn!(cause = %error::chain(error), failures = self.in_a_row,
                "cannot read the outbox; trying again shortly (logged once a minute while it lasts)");
        }
    }

    fn recovered(&mut self) {
        if self.in_a_row > 0 {
            tracing::info!(failures = self.in_a_row, "the outbox can be read again");
        }
        *self = Self::default();
    }

    /// The wait before the next look: [`POLL`], doubling with each failure in a row up to
    /// half of [`WARN_EVERY`].
    fn pause(&self) -> Duration {
        let doubled = POLL.saturating_mul(1 << self.in_a_row.min(5));
        doubled.min(WARN_EVERY / 2)
    }
}

/// Claims and sends the due messages, batch after batch, until none is due.
pub async fn send_due(store: &Store, mailer: &Mailer) -> Result<(), StoreError> {
    loop {
        let now = clock::now();
        let batch = store.mail().outbox_claim(now, now + CLAIM).await?;
        if batch.is_empty() {
            return Ok(());
        }
        for message in batch {
            deliver(store, mailer, message).await?;
        }
    }
}

/// The delay before attempt `attempts + 1`, after `attempts` failures.
pub fn retry_delay(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    FIRST_RETRY
        .saturating_mul(1_i64 << doublings)
        .min(LAST_RETRY)
}

async fn deliver(store: &Store, mailer: &Mailer, message: OutboxMessage) -> Result<(), StoreError> {
    let OutboxMessage {
        id,
        recipient,
        subject,
        body,
        attempts,
    } = message;
    let outcome = match compose(mailer, &recipient, &subject, body) {
        Ok(letter) => mailer.transport().send(&letter, id).await,
        Err(error) => Err(error),
    };
    let now = clock::now();
    match outcome {
        Ok(place) => {
            store.mail().outbox_sent(id, now).await?;
            metrics::counter!("mail_sent_total").increment(1);
            tracing::info!(outbox_id = id, to = %place, "mail sent");
        }
        Err(TransportError::Transient(error)) if attempts + 1 < MAX_ATTEMPTS => {
            let delay = retry_delay(attempts);
            store.mail().outbox_retry(id, now + delay, &error).await?;
            metrics::counter!("mail_retried_total").increment(1);
            tracing::warn!(outbox_id = id, attempt = attempts + 1, retry_in_s = delay, %error,
                "mail not sent; trying again later");
        }
        Err(error) => {
            let error = error.to_string();
            store.mail().outbox_failed(id, now, &error).await?;
            metrics::counter!("mail_failed_total").increment(1);
            tracing::error!(outbox_id = id, attempts = attempts + 1, %error,
                "mail given up: it stays in the outbox table, marked failed");
        }
    }
    Ok(())
}

/// The message as it leaves: from the configured sender, to `recipient`, in plain text. An
/// address that cannot be written in a header (a line break, say) is refused here.
fn compose(
    mailer: &Mailer,
    recipient: &str,
    subject: &str,
    body: String,
) -> Result<Message, TransportError> {
    let to = recipient
        .parse()
        .map_err(|error| TransportError::Permanent(format!("recipient address: {error}")))?;
    // 7-bit when the text is (ASCII, CRLF lines of at most 998 bytes, as RFC 5322 allows): the
    // link and the token stay readable in the raw message, where lettre's choice (quoted-printable
    // for lines over 76 bytes) writes `=` as `=3D` and breaks the link across lines.
    let seven_bit = body.is_ascii()
        && !body.contains('\0')
        && body
            .split("\r\n")
            .all(|line| line.len() <= 998 && !line.contains(['\r', '\n']));
    let body = if seven_bit {
        Body::dangerous_pre_encoded(body.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(body)
    };
    Message::builder()
        .from(mailer.from().clone())
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|error| TransportError::Permanent(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recipient or sender that would add a header line (a CR or LF in it) is refused, for
    /// good, before any byte is sent: no header injection through an address.
    #[test]
    fn an_address_with_a_line_break_is_refused_not_sent() {
        let directory = std::env::temp_dir().join("todo-jwt-compose-test");
        let mailer = Mailer::new(
            "todo-jwt <todo-jwt@localhost>".parse().expect("from"),
            "http://127.0.0.1:3000".to_owned(),
            super::super::Transport::Files(directory),
        );
        for recipient in [
            "ann@example.com\r\nBcc: everyone@example.com",
            "ann@example.com\nSubject: injected",
            "\"Ann\r\nBcc: x@example.com\" <ann@example.com>",
        ] {
            let composed = compose(&mailer, recipient, "Subject", "Text".to_owned());
            assert!(
                matches!(composed, Err(TransportError::Permanent(_))),
                "{recipient:?} was accepted"
            );
        }
        let fine = compose(&mailer, "ann@example.com", "Subject", "Text\r\n".to_owned())
            .expect("a plain address");
        let text = String::from_utf8(fine.formatted()).expect("ascii");
        assert!(text.contains("To: ann@example.com\r\n"), "{text}");
        assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{text}");
    }

    #[test]
    fn the_delay_doubles_up_to_an_hour() {
        assert_eq!(retry_delay(0), 2);
        assert_eq!(retry_delay(1), 4);
        assert_eq!(retry_delay(5), 64);
        assert_eq!(retry_delay(11), 3600);
        assert_eq!(retry_delay(1000), 3600);
    }

    /// While the outbox cannot be read, the sender looks less and less often (2, 4, ... up to
    /// 30 s), logs the first failure and then at most once a minute, and goes back to every
    /// second once it can read again.
    #[test]
    fn a_database_outage_is_logged_once_a_minute_and_looked_at_less_often() {
        let mut failing = Failing::default();
        assert_eq!(failing.pause(), POLL);
        let error = StoreError::Unavailable("the database is down".into());
        failing.failed(&error);
        let first_logged = failing.logged;
        assert!(first_logged.is_some());
        let pauses: Vec<u64> = (0..6)
            .map(|_| {
                let pause = failing.pause().as_secs();
                failing.failed(&error);
                pause
            })
            .collect();
        assert_eq!(pauses, [2, 4, 8, 16, 30, 30]);
        assert_eq!(
            failing.logged, first_logged,
            "logged again within the minute"
        );
        failing.recovered();
        assert_eq!((failing.pause(), failing.logged), (POLL, None));
    }
}

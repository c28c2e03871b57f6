//! The time a line starts with.

use std::fmt::Write as _;

/// The time of a line (RFC 3339, UTC, microseconds): its date and seconds formatted once per
/// second and thread, the rest from integers.
pub(super) struct Timestamp {
    now: std::time::SystemTime,
}

thread_local! {
    /// The second last formatted on this thread, and its text up to the fraction's dot.
    static SECOND: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
}

impl Timestamp {
    pub(super) fn now() -> Self {
        Self {
            now: std::time::SystemTime::now(),
        }
    }

    /// Appends the time to `line`.
    pub(super) fn write(&self, line: &mut String) {
        let Ok(since) = self.now.duration_since(std::time::UNIX_EPOCH) else {
            let _ = write!(line, "{}", humantime::format_rfc3339_micros(self.now));
            return;
        };
        let second = since.as_secs();
        let (cached, mut text) = SECOND.get();
        if cached != second {
            // `2026-12-06T22:48:40Z`: the date and time, then `.` in place of the `Z`.
            let formatted = humantime::format_rfc3339_seconds(self.now).to_string();
            let Some(head) = formatted.as_bytes().get(..19) else {
                let _ = write!(line, "{}", humantime::format_rfc3339_micros(self.now));
                return;
            };
            text[..19].copy_from_slice(head);
            text[19] = b'.';
            SECOND.set((second, text));
        }
        let mut micros = since.subsec_micros();
        let mut fraction = [b'0'; 7];
        for digit in fraction[..6].iter_mut().rev() {
            let value = u8::try_from(micros % 10).unwrap_or_default();
            *digit = b'0' + value;
            micros /= 10;
        }
        fraction[6] = b'Z';
        line.push_str(std::str::from_utf8(&text).unwrap_or("1970-01-01T00:00:00."));
        line.push_str(std::str::from_utf8(&fraction).unwrap_or("000000Z"));
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn written(now: std::time::SystemTime) -> String {
        let mut text = String::new();
        Timestamp { now }.write(&mut text);
        text
    }

    #[test]
    fn the_time_reads_as_humantime_writes_it_within_a_second_and_across_seconds() {
        let start = UNIX_EPOCH + Duration::from_micros(1_796_596_120_000_007);
        for step in [0, 1, 999_992, 999_993, 1_000_000, 86_400_000_000, 3] {
            let now = start + Duration::from_micros(step);
            assert_eq!(
                written(now),
                humantime::format_rfc3339_micros(now).to_string(),
                "{step}"
            );
        }
    }
}

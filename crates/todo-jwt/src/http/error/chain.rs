//! An error and its causes on one line, each said once.

use std::error::Error;

/// `error` and its causes, for the log and the command line: `outer: cause: root cause`.
///
/// Each is said once. Many errors write their cause into their own message and also return
/// it as `source()` (tokio-postgres's do), which read "db error: db error" and "error
/// connecting to server: error connecting to server": a cause the text already holds is left
/// out, and a cause that repeats the message before it and adds to it takes its place.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut last = text.clone();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let next = inner.to_string();
        if text.ends_with(&next) {
            // Said already.
        } else if next.starts_with(&last) {
            text.truncate(text.len() - last.len());
            text.push_str(&next);
            last = next;
        } else {
            text.push_str(": ");
            text.push_str(&next);
            last = next;
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a message and an optional cause.
    #[derive(Debug)]
    struct Said(&'static str, Option<Box<Said>>);

    impl std::fmt::Display for Said {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str(self.0)
        }
    }

    impl Error for Said {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1
                .as_deref()
                .map(|cause| cause as &(dyn Error + 'static))
        }
    }

    fn said(messages: &[&'static str]) -> Said {
        let mut error: Option<Box<Said>> = None;
        for message in messages.iter().rev() {
            error = Some(Box::new(Said(message, error)));
        }
        *error.expect("one message at least")
    }

    #[test]
    fn each_cause_is_said_once() {
        // Plain causes, in order.
        assert_eq!(
            chain(&said(&["cannot start", "cannot open", "no such file"])),
            "cannot start: cannot open: no such file"
        );
        // A message that holds its cause (tokio-postgres's "db error: <the database's>").
        assert_eq!(
            chain(&said(&["db error: ERROR: no", "ERROR: no"])),
            "db error: ERROR: no"
        );
        // A cause that repeats the message before it and adds to it.
        assert_eq!(
            chain(&said(&[
                "error connecting to server",
                "error connecting to server: Connection refused",
                "Connection refused",
            ])),
            "error connecting to server: Connection refused"
        );
        assert_eq!(
            chain(&said(&["cannot start", "db error", "db error"])),
            "cannot start: db error"
        );
    }
}

//! The text line's format, against `tracing-subscriber`'s default.

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::{MakeWriter, format::DefaultFields};

use super::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// What a span and an event look like, with this format or the default (less the time).
fn logged(ours: bool) -> String {
    let output = Captured::default();
    let builder = tracing_subscriber::fmt()
        .with_writer(output.clone())
        .with_ansi(false)
        .with_target(false);
    let log = || {
        let span = tracing::info_span!(
            "request",
            method = %"GET",
            route = tracing::field::Empty,
            id = "a\nb"
        );
        let _entered = span.enter();
        span.record("route", tracing::field::display("/todos"));
        tracing::info!(status = 200_u16, latency_ms = 0.25, ok = true, "served");
        tracing::warn!(
            delta = -3_i64,
            text = "quoted \"here\"",
            "a {} message",
            "formatted"
        );
        tracing::info!(cause = %"line\nbreak \u{1b}[31mred", "shown \u{9b}escaped");
    };
    if ours {
        let subscriber = builder.fmt_fields(Fields).event_format(Line).finish();
        tracing::subscriber::with_default(subscriber, log);
    } else {
        let subscriber = builder.fmt_fields(DefaultFields::new()).finish();
        tracing::subscriber::with_default(subscriber, log);
    }
    let text = String::from_utf8(output.0.lock().expect("lock").clone()).expect("utf-8");
    text.lines()
        .map(|line| line.split_once(' ').expect("a time first").1)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn lines_read_as_the_default_formats_them() {
    let (ours, default) = (logged(true), logged(false));
    // The same lines but the last, where ours escapes more than the default.
    let lines = |text: &str| text.lines().take(2).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(lines(&ours), lines(&default));
    let last = ours
        .lines()
        .nth(2)
        .unwrap_or_else(|| panic!("a third line: {ours}"));
    assert_eq!(
        last,
        " INFO request{method=GET id=\"a\\nb\" route=/todos}: shown \\u{9b}escaped \
         cause=line\\nbreak \\x1b[31mred"
    );
    assert_eq!(ours.lines().count(), 3, "a value started a line: {ours}");
    assert!(
        ours.starts_with(
            " INFO request{method=GET id=\"a\\nb\" route=/todos}: served status=200 \
             latency_ms=0.25 ok=true"
        ),
        "{ours}"
    );
    assert!(!ours.contains('\u{1b}'));
}

/// The request's context ([`super::super::context`]) is written as its span was: in text
/// before the message, in JSON as the object's `span`; the event's own fields unchanged.
#[test]
fn a_request_s_lines_name_it_in_text_and_json() {
    use super::super::context::{JsonLine, RequestContext, record_route, record_user};
    let logged = |json: bool| {
        let output = Captured::default();
        let log = || {
            let request = RequestContext::new(
                axum::http::Method::PATCH,
                axum::http::HeaderValue::from_static("id-1"),
            );
            request.sync_scope(|| {
                record_route("/todos/{id}");
                record_user("user\n1");
                tracing::info!(status = 204_u16, "served");
            });
            tracing::info!("outside");
        };
        let builder = tracing_subscriber::fmt()
            .with_writer(output.clone())
            .with_ansi(false)
            .with_target(false);
        if json {
            let format = tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false);
            let subscriber = builder
                .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                .event_format(JsonLine(format))
                .finish();
            tracing::subscriber::with_default(subscriber, log);
        } else {
            let subscriber = builder.fmt_fields(Fields).event_format(Line).finish();
            tracing::subscriber::with_default(subscriber, log);
        }
        String::from_utf8(output.0.lock().expect("lock").clone()).expect("utf-8")
    };
    let text = logged(false);
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.split_once(' ').expect("a time first").1)
        .collect();
    assert_eq!(
        lines,
        [
            " INFO request{method=PATCH id=id-1 route=/todos/{id} user=user\\n1}: served \
             status=204",
            " INFO outside",
        ]
    );
    let json = logged(true);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert_eq!(lines.len(), 2, "{json}");
    assert_eq!(lines[0]["message"], "served");
    assert_eq!(lines[0]["status"], 204);
    assert_eq!(
        lines[0]["span"],
        serde_json::json!({"method": "PATCH", "id": "id-1", "route": "/todos/{id}",
                           "user": "user\n1", "name": "request"})
    );
    assert_eq!(lines[1]["message"], "outside");
    assert!(lines[1].get("span").is_none(), "{json}");
}

#[test]
fn milliseconds_read_as_debug_writes_them() {
    let values = [
        0.0, 0.25, 0.1, 1.0, 12.3, 12.34, 999_999.99, 1e-7, -1.5, 0.125, 1e13,
    ];
    let output = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(output.clone())
        .with_ansi(false)
        .fmt_fields(Fields)
        .event_format(Line)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for value in values {
            tracing::info!(latency_ms = value, "served");
        }
    });
    let text = String::from_utf8(output.0.lock().expect("lock").clone()).expect("utf-8");
    let written: Vec<&str> = text
        .lines()
        .map(|line| line.rsplit_once(' ').expect("a field last").1)
        .collect();
    let expected: Vec<String> = values.iter().map(|v| format!("latency_ms={v:?}")).collect();
    assert_eq!(written, expected);
}

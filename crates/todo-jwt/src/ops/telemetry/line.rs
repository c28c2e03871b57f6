//! The text line: the same shape as `tracing-subscriber`'s default (`<time>  INFO
//! span{fields}: message k=v`), written without its colour machinery, which runs even when
//! colours are off; on a terminal, the time is dim and the level coloured.
//!
//! Measured with `bench/instructions.sh` (callgrind, `RUST_LOG=info`): the request line cost
//! about 19,000 instructions of a `GET /todos`, a fifth of the request; the default
//! formatter's field visitor and its styles were 12,000 of them.

use std::fmt::{self, Write as _};

use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{
    field::{RecordFields, Visit},
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    registry::LookupSpan,
};

/// The event format: see the module's documentation.
pub struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => " WARN",
            Level::INFO => " INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        if writer.has_ansi_escapes() {
            let colour = match *event.metadata().level() {
                Level::ERROR => "31",
                Level::WARN => "33",
                Level::INFO => "32",
                Level::DEBUG => "34",
                Level::TRACE => "35",
            };
            write!(writer, "\x1b[2m{now}\x1b[0m \x1b[{colour}m{level}\x1b[0m ")?;
        } else {
            write!(writer, "{now} {level} ")?;
        }
        // The request being served (`super::context`), written as its span was.
        let mut first = true;
        let mut request = Ok(());
        let in_request = super::context::current_fields(|name, value| {
            let separator = if first { "request{" } else { " " };
            first = false;
            writer.write_str(separator)?;
            writer.write_str(name)?;
            writer.write_char('=')?;
            request = write!(Escaping(&mut writer), "{value}");
            request
        })?;
        request?;
        if in_request {
            writer.write_str("}:")?;
        }
        let scope = context.event_scope();
        let spans = scope.is_some();
        if let Some(scope) = scope {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_char(':')?;
            }
        }
        if in_request || spans {
            writer.write_char(' ')?;
        }
        context.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The fields' format, for events and spans alike: `message`, then ` name=value`; strings
/// quoted, and control characters escaped in every value (so that a value can neither start a
/// line of its own nor drive a terminal); the `log` crate's `log.*` fields left out.
pub struct Fields;

impl<'writer> FormatFields<'writer> for Fields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let empty = current.is_empty();
        let mut visitor = Visitor {
            writer: current.as_writer(),
            empty,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'writer> {
    writer: Writer<'writer>,
    /// Nothing written yet (no separator needed).
    empty: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        // The `log` crate's records (tokio-postgres', rustls') carry their origin: not logged,
        // as by the default format.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let separator = if self.empty { "" } else { " " };
        self.empty = false;
        let name = field.name();
        self.result = if name == "message" {
            write!(self.writer, "{separator}")
                .and_then(|()| write!(Escaping(&mut self.writer), "{value}"))
        } else {
            write!(self.writer, "{separator}{name}=")
                .and_then(|()| write!(Escaping(&mut self.writer), "{value}"))
        };
    }
}

/// Writes text with its control characters escaped (`\n`, `\x1b`, `\u{9b}`, ...): a value
/// can neither start a line of its own nor drive the terminal that shows the log.
struct Escaping<'a, 'writer>(&'a mut Writer<'writer>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c.is_control() && c != '\t') {
            self.0.write_str(&rest[..at])?;
            let control = rest[at..].chars().next().unwrap_or_default();
            match control {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                other if u32::from(other) < 0x80 => write!(self.0, "\\x{:02x}", u32::from(other))?,
                other => write!(self.0, "\\u{{{:x}}}", u32::from(other))?,
            }
            rest = &rest[at + control.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.write(field, format_args!("{}", itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.write(field, format_args!("{}", itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.write(field, format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // As the default: the error, then its causes as `<name>.sources=[a, b]`.
        let mut sources = String::new();
        let mut source = value.source();
        while let Some(cause) = source {
            if !sources.is_empty() {
                sources.push_str(", ");
            }
            let _ = write!(sources, "{cause}");
            source = cause.source();
        }
        if sources.is_empty() {
            self.write(field, format_args!("{value}"));
        } else {
            let name = field.name();
            self.write(field, format_args!("{value} {name}.sources=[{sources}]"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
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
}

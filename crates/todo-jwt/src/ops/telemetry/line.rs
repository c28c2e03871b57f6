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

thread_local! {
    /// Each thread's line, reused: the line is made in a `String` (each piece a copy) and
    /// handed to the writer once, where each piece written to the writer was a dynamic call.
    static LINE: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(256));
}

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
        let ansi = writer.has_ansi_escapes();
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                make_line(&mut line, context, ansi, event)?;
                writer.write_str(&line)
            }
            // Logged while a line was being made on this thread (a value's `Display` that
            // logs): a line of its own.
            Err(_) => {
                let mut line = String::with_capacity(256);
                make_line(&mut line, context, ansi, event)?;
                writer.write_str(&line)
            }
        })
    }
}

/// Writes `event`'s line (with colours when `ansi`) into `line`.
fn make_line<S, N>(
    line: &mut String,
    context: &FmtContext<'_, S, N>,
    ansi: bool,
    event: &Event<'_>,
) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let now = time::Timestamp::now();
    let level = match *event.metadata().level() {
        Level::ERROR => "ERROR",
        Level::WARN => " WARN",
        Level::INFO => " INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    };
    if ansi {
        let colour = match *event.metadata().level() {
            Level::ERROR => "31",
            Level::WARN => "33",
            Level::INFO => "32",
            Level::DEBUG => "34",
            Level::TRACE => "35",
        };
        line.push_str("\x1b[2m");
        now.write(line);
        write!(line, "\x1b[0m \x1b[{colour}m{level}\x1b[0m ")?;
    } else {
        now.write(line);
        line.push(' ');
        line.push_str(level);
        line.push(' ');
    }
    // The request being served (`super::context`), written as its span was.
    let mut first = true;
    let in_request = super::context::current_fields(|name, value| {
        line.push_str(if first { "request{" } else { " " });
        first = false;
        line.push_str(name);
        line.push('=');
        Escaping(line).write_str(value)
    })?;
    if in_request {
        line.push_str("}:");
    }
    let scope = context.event_scope();
    let spans = scope.is_some();
    if let Some(scope) = scope {
        for span in scope.from_root() {
            line.push_str(span.name());
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>()
                && !fields.is_empty()
            {
                write!(line, "{{{fields}}}")?;
            }
            line.push(':');
        }
    }
    if in_request || spans {
        line.push(' ');
    }
    // As `Fields` formats them (the format this one is used with), into the line itself.
    let mut visitor = Visitor {
        out: line,
        empty: true,
        result: Ok(()),
    };
    event.record(&mut visitor);
    visitor.result?;
    line.push('\n');
    Ok(())
}

/// The fields' format, for events and spans alike: `message`, then ` name=value`; strings
/// quoted, and control characters escaped in every value (so that a value can neither start a
/// line of its own nor drive a terminal); the `log` crate's `log.*` fields left out.
pub struct Fields;

impl<'writer> FormatFields<'writer> for Fields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut text = String::new();
        let mut visitor = Visitor {
            out: &mut text,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_str(&text)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let empty = current.is_empty();
        let mut text = String::new();
        let mut visitor = Visitor {
            out: &mut text,
            empty,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        current.as_writer().write_str(&text)
    }
}

struct Visitor<'a> {
    out: &'a mut String,
    /// Nothing written yet (no separator needed).
    empty: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    /// Writes the field's separator and name (none for the message), then its value by
    /// `value`, escaped.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Escaping<'_>) -> fmt::Result) {
        // The `log` crate's records (tokio-postgres', rustls') carry their origin: not logged,
        // as by the default format.
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        if !self.empty {
            self.out.push(' ');
        }
        if name != "message" {
            self.out.push_str(name);
            self.out.push('=');
        }
        self.result = value(&mut Escaping(self.out));
        self.empty = false;
    }

    /// A value formatted by `value`.
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        self.field(field, |out| out.write_fmt(value));
    }

    /// A value written as it is (without the formatting machinery, which costs more than
    /// the text: a tenth of the request line, by callgrind).
    fn write_plain(&mut self, field: &Field, value: &str) {
        self.field(field, |out| out.write_str(value));
    }
}

/// Writes text with its control characters escaped (`\n`, `\x1b`, `\u{9b}`, ...): a value
/// can neither start a line of its own nor drive the terminal that shows the log.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Most values are printable ASCII: one pass over the bytes, rather than decoding
        // each character (a tenth of the request line's instructions, by callgrind).
        let printable = |byte: &u8| (b' '..0x7f).contains(byte) || *byte == b'\t';
        // (A fold rather than `all`, which stops early and so is not vectorised.)
        if text
            .as_bytes()
            .iter()
            .fold(true, |all, byte| all & printable(byte))
        {
            self.0.push_str(text);
            return Ok(());
        }
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c.is_control() && c != '\t') {
            self.0.push_str(&rest[..at]);
            let control = rest[at..].chars().next().unwrap_or_default();
            match control {
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                other if u32::from(other) < 0x80 => write!(self.0, "\\x{:02x}", u32::from(other))?,
                other => write!(self.0, "\\u{{{:x}}}", u32::from(other))?,
            }
            rest = &rest[at + control.len_utf8()..];
        }
        self.0.push_str(rest);
        Ok(())
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write_plain(field, value);
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.write_plain(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.write_plain(field, itoa::Buffer::new().format(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // A latency in milliseconds with two decimals, as `Debug` writes it (`0.25`, `3.0`),
        // from integers: the float formatter took a sixth of the request line (callgrind).
        let cents = (value * 100.0).round();
        if (0.0..1e12).contains(&cents) && cents / 100.0 == value {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "checked"
            )]
            let cents = cents as u64;
            let mut whole = itoa::Buffer::new();
            let whole = whole.format(cents / 100);
            let (tens, units) = ((cents / 10 % 10) as u8, (cents % 10) as u8);
            let fraction = [b'.', b'0' + tens, b'0' + units];
            let fraction = if units == 0 {
                &fraction[..2]
            } else {
                &fraction[..]
            };
            let fraction = std::str::from_utf8(fraction).unwrap_or(".0");
            self.field(field, |out| {
                out.write_str(whole)?;
                out.write_str(fraction)
            });
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.write_plain(field, if value { "true" } else { "false" });
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
mod tests;
mod time;

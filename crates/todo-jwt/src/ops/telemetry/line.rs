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
        let now = time::Timestamp::now();
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
            writer.write_str("\x1b[2m")?;
            now.write(&mut writer)?;
            write!(writer, "\x1b[0m \x1b[{colour}m{level}\x1b[0m ")?;
        } else {
            now.write(&mut writer)?;
            writer.write_char(' ')?;
            writer.write_str(level)?;
            writer.write_char(' ')?;
        }
        // The request being served (`super::context`), written as its span was.
        let mut first = true;
        let in_request = super::context::current_fields(|name, value| {
            writer.write_str(if first { "request{" } else { " " })?;
            first = false;
            writer.write_str(name)?;
            writer.write_char('=')?;
            Escaping(&mut writer).write_str(value)
        })?;
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
    /// Writes the field's separator and name (none for the message), then its value by
    /// `value`, escaped.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Escaping<'_, '_>) -> fmt::Result) {
        // The `log` crate's records (tokio-postgres', rustls') carry their origin: not logged,
        // as by the default format.
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        self.result = self.field_text(name, value);
        self.empty = false;
    }

    fn field_text(
        &mut self,
        name: &str,
        value: impl FnOnce(&mut Escaping<'_, '_>) -> fmt::Result,
    ) -> fmt::Result {
        if !self.empty {
            self.writer.write_char(' ')?;
        }
        if name != "message" {
            self.writer.write_str(name)?;
            self.writer.write_char('=')?;
        }
        value(&mut Escaping(&mut self.writer))
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
struct Escaping<'a, 'writer>(&'a mut Writer<'writer>);

impl fmt::Write for Escaping<'_, '_> {
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
            return self.0.write_str(text);
        }
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

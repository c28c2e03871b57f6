//! `regexp`'s one dialect: what a client writes (JavaScript-like, `"^a"` or `"/^a/i"`) is parsed
//! with `regex-syntax`, checked against a subset whose meaning SQLite (through the `regex`
//! crate) and PostgreSQL (its ARE engine) share, and rewritten into a canonical form both read
//! the same way:
//!
//! - every character other than an ASCII letter or digit is written as `\UXXXXXXXX`, so no
//!   escape or metacharacter differs between the engines;
//! - `.` matches any character, newline included; `\d`, `\w`, `\s` are ASCII
//!   (`[0-9]`, `[0-9A-Za-z_]`, tab, newline, vertical tab, form feed, carriage return, space);
//! - the `i` flag folds ASCII letters only (written out as classes: `a` becomes `[aA]`);
//! - `^` and `$` are the start and end of the text (`\A` and `\z` are spelled so);
//! - quantifiers `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` with counts up to 255 (PostgreSQL's
//!   limit); lazy ones match as greedy ones do (a filter asks only whether a text matches);
//! - groups of any kind are non-capturing.
//!
//! Refused with a message: backreferences, lookaround, word boundaries, Unicode classes
//! (`\pL`), POSIX classes, class set operations (`[a&&b]`), nested classes, inline flags,
//! possessive quantifiers, and anything the `regex` crate cannot parse.

use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassPerlKind, ClassSet, ClassSetItem, GroupKind, RepetitionKind,
    RepetitionRange,
};

/// The largest count a quantifier may have (PostgreSQL's `RE_DUP_MAX`).
pub const MAX_REPEAT: u32 = 255;

/// The largest compiled expression accepted: bigger ones (`a{255}{255}`) cost too much per row,
/// and are refused before they run. Everyday patterns compile to a few kilobytes.
pub const SIZE_LIMIT: usize = 64 * 1024;

/// `body` (without slashes) under `flags` as the canonical expression, or why it is refused.
pub fn canonical(body: &str, case_insensitive: bool) -> Result<String, String> {
    if body.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    let ast = ast::parse::Parser::new()
        .parse(body)
        .map_err(|error| format!("is not a valid regular expression: {}", error.kind()))?;
    let mut writer = Writer {
        out: String::with_capacity(body.len() * 2),
        case_insensitive,
    };
    writer.ast(&ast)?;
    regex::RegexBuilder::new(&writer.out)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|_| "is not a valid regular expression: it is too costly to run".to_owned())?;
    Ok(writer.out)
}

struct Writer {
    out: String,
    case_insensitive: bool,
}

/// Inclusive character ranges.
type Ranges = Vec<(char, char)>;

fn unsupported(what: &str) -> String {
    format!("is not a valid regular expression: {what} are not supported")
}

impl Writer {
    fn ast(&mut self, ast: &Ast) -> Result<(), String> {
        match ast {
            Ast::Empty(_) => {}
            Ast::Flags(_) => return Err(unsupported("inline flags (use /.../i)")),
            Ast::Literal(literal) => self.literal(literal)?,
            // Anything but NUL, which no stored text holds: newline included, on both engines.
            Ast::Dot(_) => self.out.push_str("[^\\U00000000]"),
            Ast::Assertion(assertion) => match assertion.kind {
                AssertionKind::StartLine | AssertionKind::StartText => self.out.push('^'),
                AssertionKind::EndLine | AssertionKind::EndText => self.out.push('$'),
                _ => return Err(unsupported("word boundaries")),
            },
            Ast::ClassUnicode(_) => return Err(unsupported("Unicode classes (\\p, \\P)")),
            Ast::ClassPerl(class) => {
                let ranges = perl(&class.kind);
                self.class(ranges, class.negated);
            }
            Ast::ClassBracketed(class) => {
                let mut ranges = Ranges::new();
                bracketed(&class.kind, &mut ranges)?;
                self.class(ranges, class.negated);
            }
            Ast::Repetition(repetition) => {
                if matches!(*repetition.ast, Ast::Assertion(_) | Ast::Empty(_)) {
                    return Err(
                        "is not a valid regular expression: a quantifier needs something to repeat"
                            .into(),
                    );
                }
                if matches!(*repetition.ast, Ast::Repetition(_)) {
                    // `a++`, `a{2}{3}`: possessive in some dialects, an error in JavaScript.
                    return Err(
                        "is not a valid regular expression: a quantifier cannot follow \
                                a quantifier (group it: `(a+)+`)"
                            .into(),
                    );
                }
                self.out.push_str("(?:");
                self.ast(&repetition.ast)?;
                self.out.push(')');
                self.repetition(&repetition.op.kind)?;
            }
            Ast::Group(group) => {
                if let GroupKind::NonCapturing(flags) = &group.kind
                    && !flags.items.is_empty()
                {
                    return Err(unsupported("inline flags (use /.../i)"));
                }
                self.out.push_str("(?:");
                self.ast(&group.ast)?;
                self.out.push(')');
            }
            Ast::Alternation(alternation) => {
                for (index, branch) in alternation.asts.iter().enumerate() {
                    if index > 0 {
                        self.out.push('|');
                    }
                    self.ast(branch)?;
                }
            }
            Ast::Concat(concat) => {
                for item in &concat.asts {
                    self.ast(item)?;
                }
            }
        }
        Ok(())
    }

    fn literal(&mut self, literal: &ast::Literal) -> Result<(), String> {
        if literal.c == '\0' {
            return Err("must not contain NUL characters".into());
        }
        let c = literal.c;
        if self.case_insensitive && c.is_ascii_alphabetic() {
            self.out.push('[');
            self.out.push(c.to_ascii_lowercase());
            self.out.push(c.to_ascii_uppercase());
            self.out.push(']');
        } else {
            push_char(&mut self.out, c);
        }
        Ok(())
    }

    fn class(&mut self, mut ranges: Ranges, negated: bool) {
        if self.case_insensitive {
            let folded: Ranges = ranges
                .iter()
                .flat_map(|&(low, high)| ascii_case_counterparts(low, high))
                .collect();
            ranges.extend(folded);
        }
        self.out.push('[');
        if negated {
            self.out.push('^');
        }
        for (low, high) in ranges {
            push_char(&mut self.out, low);
            if high > low {
                self.out.push('-');
                push_char(&mut self.out, high);
            }
        }
        self.out.push(']');
    }

    fn repetition(&mut self, kind: &RepetitionKind) -> Result<(), String> {
        let check = |count: u32| {
            if count > MAX_REPEAT {
                Err(format!(
                    "is not a valid regular expression: a count may be at most {MAX_REPEAT}"
                ))
            } else {
                Ok(count)
            }
        };
        match kind {
            RepetitionKind::ZeroOrOne => self.out.push('?'),
            RepetitionKind::ZeroOrMore => self.out.push('*'),
            RepetitionKind::OneOrMore => self.out.push('+'),
            RepetitionKind::Range(RepetitionRange::Exactly(n)) => {
                self.out.push_str(&format!("{{{}}}", check(*n)?));
            }
            RepetitionKind::Range(RepetitionRange::AtLeast(n)) => {
                self.out.push_str(&format!("{{{},}}", check(*n)?));
            }
            RepetitionKind::Range(RepetitionRange::Bounded(m, n)) => {
                self.out
                    .push_str(&format!("{{{},{}}}", check(*m)?, check(*n)?));
            }
        }
        Ok(())
    }
}

/// Letters and digits as themselves; every other character as an escape both engines read
/// as that character and nothing else.
fn push_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        out.push_str(&format!("\\U{:08X}", u32::from(c)));
    }
}

fn perl(kind: &ClassPerlKind) -> Ranges {
    match kind {
        ClassPerlKind::Digit => vec![('0', '9')],
        ClassPerlKind::Word => vec![('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')],
        ClassPerlKind::Space => vec![('\t', '\r'), (' ', ' ')],
    }
}

fn bracketed(set: &ClassSet, ranges: &mut Ranges) -> Result<(), String> {
    match set {
        ClassSet::BinaryOp(_) => Err(unsupported("class set operations (&&, --, ~~)")),
        ClassSet::Item(item) => item_ranges(item, ranges),
    }
}

fn item_ranges(item: &ClassSetItem, ranges: &mut Ranges) -> Result<(), String> {
    match item {
        ClassSetItem::Empty(_) => {}
        ClassSetItem::Literal(literal) => {
            if literal.c == '\0' {
                return Err("must not contain NUL characters".into());
            }
            ranges.push((literal.c, literal.c));
        }
        ClassSetItem::Range(range) => {
            if range.start.c == '\0' {
                return Err("must not contain NUL characters".into());
            }
            ranges.push((range.start.c, range.end.c));
        }
        ClassSetItem::Perl(class) if !class.negated => ranges.extend(perl(&class.kind)),
        ClassSetItem::Perl(_) => return Err(unsupported("negated classes inside brackets")),
        ClassSetItem::Ascii(_) => return Err(unsupported("POSIX classes ([:alpha:])")),
        ClassSetItem::Unicode(_) => return Err(unsupported("Unicode classes (\\p, \\P)")),
        ClassSetItem::Bracketed(_) => return Err(unsupported("nested classes")),
        ClassSetItem::Union(union) => {
            for item in &union.items {
                item_ranges(item, ranges)?;
            }
        }
    }
    Ok(())
}

/// The other-case ASCII letters within `low..=high`.
fn ascii_case_counterparts(low: char, high: char) -> Vec<(char, char)> {
    let mut out = Vec::new();
    for (from, to, shift_up) in [('a', 'z', false), ('A', 'Z', true)] {
        let start = low.max(from);
        let end = high.min(to);
        if start <= end {
            let shift = |c: char| {
                if shift_up {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            };
            out.push((shift(start), shift(end)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::canonical;

    fn matches(pattern: &str, insensitive: bool, text: &str) -> bool {
        let source = canonical(pattern, insensitive).expect(pattern);
        regex::Regex::new(&source).expect(&source).is_match(text)
    }

    #[test]
    fn the_dialect_reads_as_documented() {
        assert!(matches("^a.c$", false, "a\nc"));
        assert!(matches("\\d+", false, "x12"));
        assert!(!matches("\\d", false, "٣"), "\\d is ASCII");
        assert!(matches("^\\w+$", false, "snake_case9"));
        assert!(matches("^[a-c]+$", true, "AbC"));
        assert!(matches("^é$", true, "é"));
        assert!(!matches("^é$", true, "É"), "i folds ASCII only");
        assert!(matches("a.b|^x\\.y$", false, "x.y"));
        assert!(!matches("^x\\.y$", false, "xzy"));
        assert!(matches("(?:ab){2}", false, "abab"));
        assert!(matches("(?P<n>a)b*?", false, "ab"));
        assert!(matches("[^a]", false, "\n"));
        assert!(matches("\\Aa\\z", false, "a"));
        assert_eq!(canonical("a-b", false).as_deref(), Ok("a\\U0000002Db"));
    }

    #[test]
    fn what_the_engines_read_differently_is_refused() {
        for pattern in [
            "a{256}",
            "\\pL",
            "\\bword",
            "(?i)a",
            "(?i:a)",
            "a++",
            "[a&&b]",
            "[[:alpha:]]",
            "[[ab]c]",
            "[\\D]",
            "(?=a)",
            "\\1",
            "^*",
            "a{10000}b",
        ] {
            assert!(canonical(pattern, false).is_err(), "{pattern}");
        }
    }
}

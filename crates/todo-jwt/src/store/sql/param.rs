//! A bound parameter, the same for both engines.

use std::borrow::Cow;

use sea_query::Value as SqlValue;

/// One bound parameter, the same for both engines (each converts it to its driver's type).
/// Borrowed where the caller's value lives long enough (reads inline), owned where the
/// statement runs elsewhere (SQLite's writer thread).
#[derive(Clone, Debug, PartialEq)]
pub enum Param<'a> {
    /// Text, or NULL.
    Text(Option<Cow<'a, str>>),
    /// An integer, or NULL.
    Int(Option<i64>),
    /// A flag, or NULL.
    Bool(Option<bool>),
    /// Bytes, or NULL.
    Bytes(Option<Cow<'a, [u8]>>),
}

impl Param<'_> {
    /// The same value, owning its text and bytes.
    pub fn into_owned(self) -> Param<'static> {
        match self {
            Self::Text(text) => Param::Text(text.map(|text| Cow::Owned(text.into_owned()))),
            Self::Int(number) => Param::Int(number),
            Self::Bool(flag) => Param::Bool(flag),
            Self::Bytes(bytes) => Param::Bytes(bytes.map(|bytes| Cow::Owned(bytes.into_owned()))),
        }
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(Some(Cow::Borrowed(text)))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(text: &'a String) -> Self {
        Self::from(text.as_str())
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(text: &'a Option<String>) -> Self {
        Self::Text(text.as_deref().map(Cow::Borrowed))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Self::Text(text.map(Cow::Borrowed))
    }
}

impl From<i64> for Param<'_> {
    fn from(number: i64) -> Self {
        Self::Int(Some(number))
    }
}

impl From<Option<bool>> for Param<'_> {
    fn from(flag: Option<bool>) -> Self {
        Self::Bool(flag)
    }
}

impl<'a> From<&'a Option<Vec<u8>>> for Param<'a> {
    fn from(bytes: &'a Option<Vec<u8>>) -> Self {
        Self::Bytes(bytes.as_deref().map(Cow::Borrowed))
    }
}

/// A value sea-query bound in a built statement (its text moved, not copied).
impl From<SqlValue> for Param<'static> {
    fn from(value: SqlValue) -> Self {
        match value {
            SqlValue::Bool(flag) => Self::Bool(flag),
            SqlValue::BigInt(number) => Self::Int(number),
            SqlValue::BigUnsigned(number) => {
                Self::Int(number.map(|number| i64::try_from(number).unwrap_or(i64::MAX)))
            }
            SqlValue::String(text) => Self::Text(text.map(Cow::Owned)),
            // The filter compiler binds nothing else.
            other => unreachable!("unexpected bound value {other:?}"),
        }
    }
}

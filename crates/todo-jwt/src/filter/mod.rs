//! LoopBack's filter language for todos, parsed into a typed [`Filter`]. Pure: no SQL here
//! (the store compiles a [`Filter`] to SQL, in `store::sql::todos`), no HTTP.
//!
//! The stages are separate so each can be tested alone:
//!
//! 1. [`query`]: the query string, in either encoding (`?filter={"limit":2}` or
//!    `?filter[limit]=2`), becomes a JSON tree; bracket values stay strings.
//! 2. [`parse`]: the tree becomes a [`Filter`] or [`Condition`]: unknown keys, wrong types, bad
//!    operators, `limit` < 1, negative `skip` and too-deep trees are refused; strings are coerced
//!    by the property's type (`"false"` -> `false`, `"2"` -> `2`).
//! 3. (in `store::sql::todos`) a [`Filter`] becomes a statement with bound parameters; columns
//!    come from [`Field`], a closed set, so no client text ever reaches the SQL.
//!
//! Semantics worth knowing (and the reference evaluator, [`eval`], pins them down):
//! a property absent from a todo (`desc`, `isComplete`) matches `neq`, `nin`, `nlike` and
//! `nilike`, and nothing else but `eq: null`; several operators on one property all apply;
//! `like` is SQL LIKE (case-sensitive, `%` and `_`), `ilike` compares lower-cased; results are
//! ordered by the requested keys, absent values first in ascending order, then by `id`.

pub mod parse;
pub mod query;
pub mod regexp;
pub mod schema;

/// The filter language's reference semantics, for tests (the SQL must agree with it).
pub mod eval;
#[cfg(test)]
mod tests;

/// A todo property the filter language can name (the store maps each to its column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `id`: integer.
    Id,
    /// `title`: text, always present.
    Title,
    /// `desc`: text, may be absent.
    Desc,
    /// `isComplete`: boolean, may be absent.
    IsComplete,
}

/// The type of a [`Field`], which decides how values are coerced and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit integer.
    Integer,
    /// Text.
    Text,
    /// A boolean.
    Boolean,
}

impl Field {
    /// Every field, in the order todos show them.
    pub const ALL: [Field; 4] = [Field::Id, Field::Title, Field::Desc, Field::IsComplete];

    /// The name clients use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Title => "title",
            Self::Desc => "desc",
            Self::IsComplete => "isComplete",
        }
    }

    /// Its type.
    pub fn kind(self) -> Kind {
        match self {
            Self::Id => Kind::Integer,
            Self::Title | Self::Desc => Kind::Text,
            Self::IsComplete => Kind::Boolean,
        }
    }

    /// The field a client name refers to.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A non-null value of a field's type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scalar {
    /// For `id`.
    Int(i64),
    /// For `title` and `desc`.
    Text(String),
    /// For `isComplete`.
    Bool(bool),
}

/// An ordering comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
}

/// A regular expression from `regexp` (`"^a"` or `"/^a/i"`), already checked to compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// The expression in the canonical form of [`regexp`] that the `regex` crate and
    /// PostgreSQL read alike.
    pub source: String,
}

/// A typed `where`.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// Every condition holds (`and`, or several keys in one object); empty is true.
    All(Vec<Condition>),
    /// At least one holds (`or`); empty is false.
    Any(Vec<Condition>),
    /// `{prop: value}` or `eq`; `None` means "is absent".
    Equals(Field, Option<Scalar>),
    /// `neq`; with a value, absent properties match too; `None` means "is present".
    NotEquals(Field, Option<Scalar>),
    /// `gt`, `gte`, `lt`, `lte`.
    Compare(Field, Comparison, Scalar),
    /// `between: [low, high]`, inclusive.
    Between(Field, Scalar, Scalar),
    /// `inq`.
    In(Field, Vec<Scalar>),
    /// `nin`; absent properties match.
    NotIn(Field, Vec<Scalar>),
    /// `like`, `nlike`, `ilike`, `nilike` on a text field.
    Like {
        field: Field,
        pattern: String,
        negated: bool,
        insensitive: bool,
    },
    /// `regexp` on a text field.
    Regexp(Field, Pattern),
    /// A condition on a property todos do not have: matches nothing.
    Nothing,
}

impl Condition {
    /// The condition that selects todo `id`.
    pub fn id_is(id: i64) -> Self {
        Self::Equals(Field::Id, Some(Scalar::Int(id)))
    }

    /// Whether evaluating this costs more than comparing values: a pattern match (`like`,
    /// `ilike`, `regexp` and their negations) somewhere in it, which runs over each text
    /// character by character. The store runs such queries away from the request threads.
    pub fn is_costly(&self) -> bool {
        match self {
            Self::All(parts) | Self::Any(parts) => parts.iter().any(Self::is_costly),
            Self::Like { .. } | Self::Regexp(..) => true,
            _ => false,
        }
    }
}

/// Which fields a response shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSet(u8);

impl FieldSet {
    /// Every field.
    pub const ALL: FieldSet = FieldSet(0b1111);
    /// No field.
    pub const NONE: FieldSet = FieldSet(0);

    /// Whether `field` is shown.
    pub fn contains(self, field: Field) -> bool {
        self.0 & field.bit() != 0
    }

    /// This set with `field` added.
    pub fn with(self, field: Field) -> Self {
        Self(self.0 | field.bit())
    }

    /// This set without `field`.
    pub fn without(self, field: Field) -> Self {
        Self(self.0 & !field.bit())
    }
}

/// One `order` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// The field to sort by.
    pub field: Field,
    /// `DESC` rather than `ASC`.
    pub descending: bool,
}

/// A typed `filter`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    /// `where`.
    pub condition: Option<Condition>,
    /// `fields`.
    pub fields: FieldSet,
    /// `order`; `id` ascending breaks ties and is the default.
    pub order: Vec<Order>,
    /// `limit`.
    pub limit: Option<u64>,
    /// `skip` (or `offset`).
    pub skip: u64,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            condition: None,
            fields: FieldSet::ALL,
            order: Vec::new(),
            limit: None,
            skip: 0,
        }
    }
}

/// One reason a `filter` or `where` was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer into the parameter (`/where/title/like`).
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// A refused `filter` or `where` parameter: 400 `INVALID_PARAMETER_VALUE`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Invalid data {value} for parameter \"{parameter}\".")]
pub struct FilterError {
    /// The parameter's name.
    pub parameter: &'static str,
    /// The value as received (JSON text, or the bracket form rebuilt as JSON).
    pub value: String,
    /// Why it was refused.
    pub problems: Vec<Problem>,
}

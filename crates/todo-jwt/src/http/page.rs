//! The query of a paged list route (`GET /users/me/events`, `GET /users/me/sessions`): `limit`,
//! 1 to [`MAX_PAGE`] items ([`DEFAULT_PAGE`] without it), and `before`, the last item of the
//! previous page, so that every answer is bounded whatever the list's length.

use super::error::{ApiError, Result};

/// The most items one page holds.
pub const MAX_PAGE: i64 = 200;
/// The items a page holds without `limit`.
pub const DEFAULT_PAGE: i64 = 50;

/// `limit`, or 400 outside 1 to [`MAX_PAGE`].
pub fn limit(query: Option<&str>) -> Result<i64> {
    Ok(whole_number(query, "limit", 1..=MAX_PAGE)?.unwrap_or(DEFAULT_PAGE))
}

/// A whole number query parameter within `range`, or 400.
pub fn whole_number(
    query: Option<&str>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>> {
    let Some(value) = value(query, name) else {
        return Ok(None);
    };
    match value.parse::<i64>() {
        Ok(number) if range.contains(&number) => Ok(Some(number)),
        _ => Err(ApiError::bad_request(
            "INVALID_PARAMETER_VALUE",
            format!(
                "`{name}` must be a whole number from {} to {}.",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// A text query parameter of at most `max` characters, or 400.
pub fn text(query: Option<&str>, name: &str, max: usize) -> Result<Option<String>> {
    match value(query, name) {
        Some(value) if value.is_empty() || value.chars().count() > max => {
            Err(ApiError::bad_request(
                "INVALID_PARAMETER_VALUE",
                format!("`{name}` must be 1 to {max} characters."),
            ))
        }
        value => Ok(value),
    }
}

/// The first value of `name` in the query.
fn value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

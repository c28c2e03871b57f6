//! What every operation gets once the routes are merged: `4XX`/`5XX` error responses, an
//! explicit `security`, the 403 of a first-factor token, a short summary (the detail moves to
//! the description), and the `GET /metrics` operation, which is served outside utoipa's router.

use utoipa::openapi::{
    self, Content, HttpMethod, OneOfBuilder, PathItem, Ref, RefOr, ResponseBuilder,
    path::{OperationBuilder, PathsBuilder},
    security::SecurityRequirement,
};

use super::errors;

/// The operations a token of the password alone may call.
const FIRST_FACTOR_OPERATIONS: [&str; 3] = [
    "UserController.findFactors",
    "UserController.completeLogin",
    "UserController.logout",
];

/// Summaries longer than this are cut at their first clause.
const SHORT_SUMMARY: usize = 48;

/// Every operation: `4XX` and `5XX` for what it does not list, an explicit empty `security`
/// when it has none (public, rather than unspecified), the 403 of a first-factor token, and a
/// short summary.
pub fn operations(doc: &mut openapi::OpenApi) {
    let client_error = errors::client_error_response();
    let server_error = errors::server_error_response();
    let forbidden = Ref::from_response_name("Forbidden");
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            responses.remove("default");
            responses
                .entry("4XX".to_owned())
                .or_insert_with(|| client_error.clone().into());
            responses
                .entry("5XX".to_owned())
                .or_insert_with(|| server_error.clone().into());
            let security = operation.security.get_or_insert_with(Vec::new);
            // A token of the password alone (an account with a second factor) is 403
            // `MFA_REQUIRED` everywhere but on the routes that complete or inspect its login.
            let first_factor = operation
                .operation_id
                .as_deref()
                .is_some_and(|id| FIRST_FACTOR_OPERATIONS.contains(&id));
            if !security.is_empty() && !first_factor {
                responses
                    .entry("403".to_owned())
                    .or_insert_with(|| forbidden.clone().into());
            }
            if let Some(summary) = operation.summary.take() {
                let (short, whole) = shorten(&summary);
                operation.description = Some(match operation.description.take() {
                    Some(more) => format!("{whole}\n\n{more}"),
                    None => whole,
                });
                operation.summary = Some(short);
            }
        }
    }
}

/// A summary short enough for a list of operations, without Markdown (the explorer shows a
/// summary as it is), and the whole sentence for the description.
fn shorten(summary: &str) -> (String, String) {
    let whole = summary.trim().to_owned();
    let mut short = whole.clone();
    if short.chars().count() > SHORT_SUMMARY {
        short = without_parentheses(&short);
    }
    if short.chars().count() > SHORT_SUMMARY
        && let Some(end) = [": ", "; ", ", ", " - "]
            .iter()
            .filter_map(|separator| short.find(separator))
            .min()
    {
        short.truncate(end);
    }
    let short = short.trim_end_matches('.').replace('`', "");
    (short, whole)
}

/// `text` without its parenthesised asides (and the space before each).
fn without_parentheses(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut depth = 0_usize;
    for character in text.chars() {
        match character {
            '(' => {
                depth += 1;
                if depth == 1 && kept.ends_with(' ') {
                    kept.pop();
                }
            }
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => kept.push(character),
            _ => {}
        }
    }
    kept
}

/// `GET /metrics`, served beside the API.
pub fn metrics_operation(doc: &mut openapi::OpenApi) {
    let operation = OperationBuilder::new()
        .tag("MetricsController")
        .operation_id(Some("MetricsController.scrape"))
        .summary(Some("The service's metrics, for Prometheus"))
        .description(Some(
            "Every series in Prometheus' text format (0.0.4). Served to clients on the same \
             machine, or from anywhere with `TODO_JWT_METRICS_TOKEN` as a bearer token \
             (`metrics` scheme); 404 when `TODO_JWT_METRICS=false`. Never shared with other \
             origins (no CORS headers).",
        ))
        .security(SecurityRequirement::new::<_, _, String>("metrics", []))
        .security(SecurityRequirement::default())
        .response(
            "200",
            ResponseBuilder::new()
                .description("The metrics")
                .content(
                    "text/plain; version=0.0.4",
                    Content::new(Some(
                        openapi::ObjectBuilder::new().schema_type(openapi::Type::String),
                    )),
                )
                .build(),
        )
        .response("401", Ref::from_response_name("Unauthorized"))
        .response("403", Ref::from_response_name("Forbidden"))
        .response("4XX", errors::client_error_response())
        .response("5XX", errors::server_error_response())
        .build();
    let paths = PathsBuilder::new()
        .path("/metrics", PathItem::new(HttpMethod::Get, operation))
        .build();
    doc.paths.paths.extend(paths.paths);
}

/// The one schema of `POST /users/token`'s errors: RFC 6749's error (its 400s, where the
/// handler refuses) or LoopBack's envelope (what the layers before it answer: 408, 413, 429,
/// 503, and the rest). One schema, so that a generator makes one error type for it.
pub fn token_errors(doc: &mut openapi::OpenApi) {
    const NAME: &str = "TokenError";
    let components = doc.components.get_or_insert_with(Default::default);
    let either = OneOfBuilder::new()
        .item(Ref::from_schema_name("OAuthError"))
        .item(Ref::from_schema_name("ErrorEnvelope"))
        .description(Some(
            "An error of `POST /users/token`: RFC 6749's (`error`, a code such as \
             `invalid_grant`) for a refused grant, LoopBack's envelope (`error`, an object) for \
             the rest",
        ))
        .build();
    components
        .schemas
        .insert(NAME.to_owned(), RefOr::T(openapi::Schema::OneOf(either)));
    let named = components.responses.clone();
    let Some(operation) = doc
        .paths
        .paths
        .get_mut("/users/token")
        .and_then(|item| item.post.as_mut())
    else {
        return;
    };
    for (status, response) in &mut operation.responses.responses {
        if !status.starts_with('4') && !status.starts_with('5') {
            continue;
        }
        let mut inline = match response {
            RefOr::T(inline) => inline.clone(),
            RefOr::Ref(reference) => {
                let name = reference
                    .ref_location
                    .rsplit('/')
                    .next()
                    .unwrap_or_default();
                match named.get(name) {
                    Some(RefOr::T(inline)) => inline.clone(),
                    _ => continue,
                }
            }
        };
        for content in inline.content.values_mut() {
            *content = RefOr::T(Content::new(Some(Ref::from_schema_name(NAME))));
        }
        *response = RefOr::T(inline);
    }
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn a_long_summary_is_cut_at_its_first_clause_and_kept_whole_in_the_description() {
        let (short, whole) = shorten(
            "Exchanges a refresh token: a new access token and, with rotation (the default), \
             the next refresh token.",
        );
        assert_eq!(short, "Exchanges a refresh token");
        assert!(whole.starts_with("Exchanges a refresh token: a new"));
        let (short, _) = shorten("Deletes a todo (204).");
        assert_eq!(short, "Deletes a todo (204)", "a short one is kept");
        let (short, _) = shorten(
            "Issues an access token for an email (`username`) and password, OAuth 2.0 style.",
        );
        assert_eq!(short, "Issues an access token for an email and password");
        let (short, _) = shorten(
            "The caller's account (without its password), and whether its address is proven.",
        );
        assert_eq!(short, "The caller's account");
        assert!(!shorten("The `filter` language.").0.contains('`'));
    }
}

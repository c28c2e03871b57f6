//! The pages the links in mail open (`/verify-email`, `/reset-password`, `/confirm-email`),
//! and the page that turns on a second factor (`/mfa`), served by the binary: HTML, scripts
//! and a style sheet, no framework. A link's token is in its fragment, which reaches no server
//! log and no `Referer`; the script POSTs it to the API. The pages allow scripts and styles
//! from this origin only, and send no referrer.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::get,
};

const PAGE: &str = include_str!("pages/page.html");
const MFA_PAGE: &str = include_str!("pages/mfa.html");
const MFA_SCRIPT: &str = include_str!("pages/mfa.js");
const SCRIPT: &str = include_str!("pages/pages.js");
const STYLE: &str = include_str!("pages/pages.css");

/// What the pages may load and do: their own script and style, requests to this origin.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; form-action 'none'; base-uri 'none'; \
                      frame-ancestors 'none'";

fn served(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
}

/// The pages' routes (outside the API document: they are for people, not clients).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let page = || async { served("text/html; charset=utf-8", PAGE) };
    Router::new()
        .route("/verify-email", get(page))
        .route("/reset-password", get(page))
        .route("/confirm-email", get(page))
        .route(
            "/mfa",
            get(|| async { served("text/html; charset=utf-8", MFA_PAGE) }),
        )
        .route(
            "/mfa.js",
            get(|| async { served("text/javascript; charset=utf-8", MFA_SCRIPT) }),
        )
        .route(
            "/mail-pages.js",
            get(|| async { served("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/mail-pages.css",
            get(|| async { served("text/css; charset=utf-8", STYLE) }),
        )
}

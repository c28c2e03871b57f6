//! `todo-jwt`: a Todo REST API secured with JWT, wire-compatible with LoopBack 4's `todo-jwt`
//! example, and stricter where LoopBack is unsafe (see `LOOPBACK-CONTRACT.md`).
//!
//! The crate is in layers; each imports only the layers below it (the README's Layout section
//! draws them):
//!
//! - wiring: [`cli`] (one file per command), [`app`] (builds the [`state`], the router and the
//!   listener, and owns the background tasks), [`config`] (flags and environment, validated
//!   into one value before anything binds or writes);
//! - the domain: [`accounts`], [`sessions`], [`todos`], [`keys`], [`throttle`], [`audit`] (the
//!   event vocabulary and the log route), [`import`]; each resource owns its router, takes only
//!   its part of the state, and keeps its handlers thin over a service or the [`store`];
//! - [`ops`]: health, metrics, logs, backups, the allocator, background tasks;
//! - [`http`]: bodies, responses, the [`http::error::ApiError`] envelope, middleware, the
//!   server and the OpenAPI document;
//! - [`store`] (SQLite and PostgreSQL behind one handle), the pure [`filter`] language, and
//!   the leaves [`clock`] and [`json`].

pub mod accounts;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod filter;
pub mod http;
pub mod import;
pub mod json;
pub mod keys;
pub mod mail;
pub mod ops;
pub mod secret_token;
pub mod sessions;
pub mod state;
pub mod store;
pub mod throttle;
pub mod todos;

pub use app::Application;
pub use config::Config;

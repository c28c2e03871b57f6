//! `todo-jwt`: a Todo REST API secured with JWT, wire-compatible with LoopBack 4's `todo-jwt`
//! example, and stricter where LoopBack is unsafe (see `LOOPBACK-CONTRACT.md`).
//!
//! Layout: [`config`] (flags and environment) -> [`app`] (builds the [`state`], the router and
//! the listener) -> resource modules ([`accounts`], [`sessions`], [`todos`]), each with thin
//! handlers over a service or the [`store`], and taking only its part of the state. The
//! [`filter`] language is pure (query -> typed filter); [`store`] turns it into SQL. Every error
//! is an [`error::ApiError`], rendered as LoopBack's envelope (authentication failures too);
//! bodies arrive through [`body::JsonBody`]. `todo-jwt import-loopback` (moving in from
//! LoopBack) is [`import`].

pub mod accounts;
pub mod allocator;
pub mod app;
pub mod audit;
pub mod backup;
pub mod body;
pub mod config;
pub mod error;
pub mod filter;
pub mod health;
pub mod import;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod response;
pub mod server;
pub mod sessions;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod todos;

pub use app::Application;
pub use config::Config;

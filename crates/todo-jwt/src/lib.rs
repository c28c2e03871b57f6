//! `todo-jwt`: a Todo REST API secured with JWT, wire-compatible with LoopBack 4's `todo-jwt`
//! example, and stricter where LoopBack is unsafe (see `LOOPBACK-CONTRACT.md`).
//!
//! Layout: [`config`] (flags and environment) -> [`app`] (state, router, listener) -> resource
//! modules ([`users`]) with thin handlers over services and [`store`] traits. Every error is an
//! [`error::ApiError`], rendered as LoopBack's envelope; bodies arrive through [`body::JsonBody`].

pub mod app;
pub mod body;
pub mod config;
pub mod error;
pub mod filter;
pub mod openapi;
pub mod store;
pub mod telemetry;
pub mod todos;
pub mod users;

pub use app::Application;
pub use config::Config;

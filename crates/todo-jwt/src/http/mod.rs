//! HTTP plumbing, below every resource: how bodies are read ([`body`]) and large responses
//! written ([`response`]), the one error type and its LoopBack envelope ([`error`]), the
//! middleware every request passes ([`middleware`]), the accept loop with its connection
//! bounds ([`server`]), the OpenAPI document, explorer and home page ([`openapi`]), and the
//! query of a paged list ([`page`]).
//!
//! May import: `store` and `filter` (their errors become [`error::ApiError`]), `json`,
//! `clock`. Nothing here
//! knows a resource: the resources import this layer.

pub mod body;
pub mod cors;
pub mod error;
pub mod middleware;
pub mod openapi;
pub mod page;
pub mod response;
pub mod server;

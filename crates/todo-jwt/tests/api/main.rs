//! Black-box HTTP tests: each test starts the real server on port 0 with its own data directory.

mod accounts;
mod audit;
mod backup;
mod connections;
mod disk_full;
mod errors;
mod fair_share;
mod filter_property;
mod filters;
mod health;
mod helpers;
mod hostile;
mod import;
mod instances;
mod keys;
mod logs;
mod mail;
mod metrics;
mod openapi;
mod restore;
mod sealed_keys;
mod sessions;
mod store;
mod throttle;
mod todos;
mod tokens;

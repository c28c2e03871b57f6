//! Operating the service: liveness and readiness ([`health`]), Prometheus metrics observed
//! from a layer and from their owners' counters ([`metrics`]), logs ([`telemetry`]), SQLite
//! backups ([`backup`]), giving memory back ([`allocator`]), and the owned background tasks
//! every layer runs its periodic work on ([`tasks`]).
//!
//! May import: `http`, `store`, `clock`. The domain modules import this layer (to count and
//! to run periodic work), never the other way round.

pub mod allocator;
pub mod backup;
pub mod health;
pub mod metrics;
pub mod tasks;
pub mod telemetry;

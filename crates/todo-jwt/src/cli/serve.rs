//! `todo-jwt` with no subcommand: serves until Ctrl-C or `SIGTERM`.

use super::{Failure, Outcome};
use crate::{Application, Config};

/// Builds the service, says where it listens, and serves.
pub async fn run(config: Config) -> Outcome {
    let app = Application::build(config)
        .await
        .map_err(|error| Failure::new("cannot start", error))?;
    let address = app.address();
    tracing::info!(pid = std::process::id(), "listening on http://{address}");
    println!("todo-jwt listening on http://{address} (explorer: http://{address}/explorer)");
    app.run()
        .await
        .map_err(|error| Failure::new("server failed", error))?;
    Ok(String::new())
}

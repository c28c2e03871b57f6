//! `todo-jwt` with no subcommand: serves until Ctrl-C or `SIGTERM`.

use std::io::ErrorKind;

use super::{Failure, Outcome};
use crate::{Application, Config, app::StartError};

/// What to do when the port is taken.
const PORT_IN_USE_HINT: &str = "another process listens on that port (another todo-jwt?): \
    stop it, or choose another port with --port or TODO_JWT_PORT (0 picks a free one)";

/// Builds the service, says where it listens, and serves.
pub async fn run(config: Config) -> Outcome {
    let app = Application::build(config).await.map_err(|error| {
        let in_use = matches!(
            &error,
            StartError::Bind { source, .. } if source.kind() == ErrorKind::AddrInUse
        );
        let failure = Failure::new("cannot start", error);
        if in_use {
            failure.with_hint(PORT_IN_USE_HINT)
        } else {
            failure
        }
    })?;
    let address = app.address();
    tracing::info!(pid = std::process::id(), "listening on http://{address}");
    println!("todo-jwt listening on http://{address} (explorer: http://{address}/explorer)");
    app.run()
        .await
        .map_err(|error| Failure::new("server failed", error))?;
    // The last line: after it, only the queued lines are written.
    tracing::info!("stopped");
    Ok(String::new())
}

//! The command line: `todo-jwt` serves; its subcommands run one job on the configured
//! database and exit. One file per command; each returns what it did, or why it did nothing,
//! and [`run`] is the one place that prints either.

mod import;
mod keys;
mod migrate;
mod restore;
mod serve;
mod variables;

use std::{path::PathBuf, process::ExitCode};

use crate::{
    Config,
    app::StartError,
    config::Settings,
    http::error::chain,
    ops::telemetry::LogFormat,
    store::{Store, StoreError},
};

/// A Todo REST API secured with JWT, wire-compatible with LoopBack 4's todo-jwt example.
#[derive(Debug, clap::Parser)]
#[command(name = "todo-jwt", version, about)]
pub struct Cli {
    /// The service's settings (flags and `TODO_JWT_*` variables).
    #[command(flatten)]
    pub config: Config,
    /// When serving, write the process id to this file once listening (for `kill -USR1`,
    /// `kill -USR2` and scripts), and remove it at a clean stop. A file left by a process
    /// that is gone is replaced; one whose process still runs stops the start.
    #[arg(long, env = "TODO_JWT_PID_FILE", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// A job to run instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The jobs `todo-jwt` runs instead of serving.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Applies the database migrations and exits (the server also applies them at start).
    Migrate,
    /// Replaces the SQLite database with a backup (from `<data-dir>/backups`, say); the service
    /// must be stopped. The backup must be intact and have exactly the schema this version
    /// makes (an added trigger, view, table or index, or a missing one, is refused). Then every
    /// session is ended and the signing keys are replaced by a new one: a backup brings back
    /// the sessions and keys that were ended or revoked after it was taken.
    Restore {
        /// The backup file.
        backup: PathBuf,
        /// Keep the backup's sessions (its refresh tokens go on working) and signing keys
        /// (tokens they signed stay valid until they expire), for a backup known to be the
        /// latest state (say, moving the data directory).
        #[arg(long)]
        keep_sessions_and_keys: bool,
    },
    /// Adds an Ed25519 signing key: published at once (in the JWK Set, and to every instance
    /// within its reload interval), it signs new tokens after --key-activation-delay seconds;
    /// tokens signed by older keys stay valid until they expire. On SQLite, while the service
    /// runs, send it SIGUSR2 instead (it holds the database file).
    RotateKeys,
    /// Removes a signing key at once (one that may have leaked): every token it signed is
    /// refused by every instance within its reload interval. Rotate first (with
    /// --key-activation-delay 0 in an emergency): the newest key cannot be removed. On
    /// SQLite, stop the service first.
    RevokeKey {
        /// The key's id (`kid`), as the JWK Set and the tokens' header show it. (A kid is
        /// base64url and may start with `-`: it is taken as the id, never as a flag.)
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Imports the users and todos of LoopBack's todo-jwt from its memory connector file, in
    /// one transaction: users keep their ids, emails and passwords (bcrypt, replaced by
    /// argon2id at their first login); the todos go to the --owner user. Running it again adds
    /// nothing. On SQLite, stop the server first (it holds the database file).
    ImportLoopback {
        /// LoopBack's file (`data/db.json`).
        file: PathBuf,
        /// The email of the user who gets LoopBack's todos (in the file or already here).
        #[arg(long)]
        owner: String,
    },
}

/// Why a command did nothing: what it was doing (`doing`, the start of the printed line), the
/// cause, and advice for the reader when there is some.
#[derive(Debug)]
pub struct Failure {
    doing: String,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    hint: Option<&'static str>,
}

impl Failure {
    /// `cause` stopped the command while `doing` ("no key added").
    pub fn new(
        doing: impl Into<String>,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            doing: doing.into(),
            cause: Some(cause.into()),
            hint: None,
        }
    }

    /// A refusal that is its own explanation (no cause to add).
    pub fn refused(why: impl Into<String>) -> Self {
        Self {
            doing: why.into(),
            cause: None,
            hint: None,
        }
    }

    /// With advice printed on a line of its own.
    pub fn with_hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }
}

/// What a command reports: its success line, or its failure.
pub type Outcome = Result<String, Failure>;

/// Runs the command line's job (serving, when no subcommand is given) and prints its outcome:
/// success on stdout, failure on stderr, each prefixed `todo-jwt:`.
pub async fn run(cli: Cli) -> ExitCode {
    let format = cli.config.log_format;
    report(execute(cli).await, format)
}

/// Runs the command line's job (serving, when no subcommand is given): what it did, or why it
/// did nothing, to be said by [`report`].
pub async fn execute(cli: Cli) -> Outcome {
    variables::warn_unknown();
    match cli.command {
        None => serve::run(cli.config, cli.pid_file).await,
        Some(command) => match Settings::new(&cli.config) {
            Err(error) => Err(Failure::new("invalid configuration", error)),
            Ok(settings) => run_command(command, &settings).await,
        },
    }
}

/// Says `outcome`: its success line on stdout, or its failure (and hint) once on stderr,
/// whatever the log level; the process's exit code. In JSON mode each is one JSON object, as
/// the log's lines are (`message`, and `cause` and `hint` when there are).
pub fn report(outcome: Outcome, format: LogFormat) -> ExitCode {
    let json = format == LogFormat::Json;
    match outcome {
        Ok(done) => {
            if json && !done.is_empty() {
                println!("{}", serde_json::json!({"level": "INFO", "message": done}));
            } else if !done.is_empty() {
                println!("todo-jwt: {done}");
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let cause = failure.cause.as_deref().map(|cause| chain(cause));
            if json {
                let mut line = serde_json::json!({"level": "ERROR", "message": failure.doing});
                if let Some(cause) = cause {
                    line["cause"] = cause.into();
                }
                if let Some(hint) = failure.hint {
                    line["hint"] = hint.into();
                }
                eprintln!("{line}");
            } else {
                match cause {
                    Some(cause) => eprintln!("todo-jwt: {}: {cause}", failure.doing),
                    None => eprintln!("todo-jwt: {}", failure.doing),
                }
                if let Some(hint) = failure.hint {
                    eprintln!("todo-jwt: {hint}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs one job with the checked settings.
async fn run_command(command: Command, settings: &Settings) -> Outcome {
    match command {
        Command::Migrate => migrate::run(settings).await,
        Command::Restore {
            backup,
            keep_sessions_and_keys,
        } => restore::run(settings, &backup, keep_sessions_and_keys).await,
        Command::RotateKeys => keys::rotate(settings).await,
        Command::RevokeKey { kid } => keys::revoke(settings, &kid).await,
        Command::ImportLoopback { file, owner } => import::run(settings, &file, &owner).await,
    }
}

/// The configured database, with its migrations applied.
async fn open_store(settings: &Settings) -> Result<Store, StartError> {
    settings.ensure_data_dir()?;
    Ok(Store::open_with(&settings.database, settings.store).await?)
}

/// Whether `error` (of a command that opened the database) says another process holds it.
fn database_in_use(error: &StartError) -> bool {
    matches!(error, StartError::Store(StoreError::InUse(_)))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    /// A kid is base64url: one starting with `-` is still a kid (it was taken for a flag, and
    /// `revoke-key` refused to run).
    #[test]
    fn a_kid_that_starts_with_a_dash_is_a_kid() {
        let cli = Cli::try_parse_from(["todo-jwt", "revoke-key", "-rAbc_9"]).expect("parsed");
        assert!(matches!(cli.command, Some(Command::RevokeKey { kid }) if kid == "-rAbc_9"));
    }
}

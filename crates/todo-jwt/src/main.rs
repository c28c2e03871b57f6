//! `todo-jwt`: parse the command line, set up logging, serve.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

/// mimalloc rather than glibc's malloc: a 20-todo list allocates ~50 short-lived values, and
/// with glibc allocation was a fifth of the read path (measured with callgrind: 81k -> 67k
/// instructions per list read).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use todo_jwt::{
    Application, Config, app::StartError, error::chain, import, keys, store::Store, telemetry,
};

/// A Todo REST API secured with JWT, wire-compatible with LoopBack 4's todo-jwt example.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Applies the database migrations and exits (the server also applies them at start).
    Migrate,
    /// Replaces the SQLite database with a backup (from `<data-dir>/backups`, say); the service
    /// must be stopped.
    Restore {
        /// The backup file.
        backup: std::path::PathBuf,
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
        /// The key's id (`kid`), as the JWK Set and the tokens' header show it.
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

/// The configured database, with its migrations applied.
async fn open_store(config: &Config) -> Result<Store, StartError> {
    config.ensure_data_dir()?;
    Ok(Store::open_with(&config.database(), config.store_limits()).await?)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_with(cli.config.log_format);
    match cli.command {
        Some(Command::Migrate) => {
            return match open_store(&cli.config).await {
                Ok(_) => {
                    println!("todo-jwt: migrations applied");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("todo-jwt: migration failed: {}", chain(&error));
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::ImportLoopback { file, owner }) => {
            let store = match open_store(&cli.config).await {
                Ok(store) => store,
                Err(error) => {
                    eprintln!("todo-jwt: cannot open the database: {}", chain(&error));
                    return ExitCode::FAILURE;
                }
            };
            let limits = cli.config.todo_limits();
            return match import::import_file(&store, &file, &owner, limits).await {
                Ok(report) => {
                    println!("todo-jwt: imported {}\n{report}", file.display());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!(
                        "todo-jwt: nothing imported from {}: {}",
                        file.display(),
                        chain(&error)
                    );
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::RotateKeys) => return rotate_keys(&cli.config).await,
        Some(Command::RevokeKey { kid }) => return revoke_key(&cli.config, &kid).await,
        Some(Command::Restore { backup }) => {
            let todo_jwt::store::Database::Sqlite(database) = cli.config.database() else {
                eprintln!(
                    "todo-jwt: restore is for the SQLite database; restore PostgreSQL with its own tools"
                );
                return ExitCode::FAILURE;
            };
            return match todo_jwt::store::restore_sqlite(&database, &backup) {
                Ok(()) => {
                    println!(
                        "todo-jwt: {} restored from {}",
                        database.display(),
                        backup.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("todo-jwt: restore failed: {}", chain(&error));
                    ExitCode::FAILURE
                }
            };
        }
        None => {}
    }
    let app = match Application::build(cli.config).await {
        Ok(app) => app,
        Err(error) => {
            // Once, on stderr, whatever the log level.
            eprintln!("todo-jwt: cannot start: {}", chain(&error));
            return ExitCode::FAILURE;
        }
    };
    let address = app.address();
    tracing::info!("listening on http://{address}");
    println!("todo-jwt listening on http://{address} (explorer: http://{address}/explorer)");
    match app.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("server failed: {}", chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// Why a key command did nothing: the database could not be opened, or the keys refused.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
}

/// `todo-jwt rotate-keys`.
async fn rotate_keys(config: &Config) -> ExitCode {
    let sqlite = matches!(config.database(), todo_jwt::store::Database::Sqlite(_));
    let rotated = async {
        let (secret, _) = config.service_secret().map_err(StartError::from)?;
        let store = open_store(config).await?;
        keys::rotate(
            &store,
            &keys::Sealer::from_secret(&secret),
            keys::JwtAlgorithm::EdDsa,
            std::time::Duration::from_secs(config.key_activation_delay),
        )
        .await
        .map_err(CommandError::from)
    };
    match rotated.await {
        Ok(record) => {
            println!(
                "todo-jwt: added signing key {} (EdDSA); it signs new tokens in {} s",
                record.kid, config.key_activation_delay
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            let error = chain(&error);
            eprintln!("todo-jwt: no key added: {error}");
            if sqlite && error.contains("in use by another process") {
                eprintln!(
                    "todo-jwt: on SQLite, while the service runs, rotate with: kill -USR2 <its pid>"
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// `todo-jwt revoke-key <kid>`.
async fn revoke_key(config: &Config, kid: &str) -> ExitCode {
    let revoked = async {
        let store = open_store(config).await?;
        keys::revoke(&store, kid).await.map_err(CommandError::from)
    };
    match revoked.await {
        Ok(record) => {
            println!(
                "todo-jwt: removed signing key {} ({}); running instances refuse its tokens \
                 within their reload interval",
                record.kid, record.algorithm
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("todo-jwt: no key removed: {}", chain(&error));
            ExitCode::FAILURE
        }
    }
}

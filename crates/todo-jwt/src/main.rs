//! `todo-jwt`: parse the command line, set up logging, run the command ([`todo_jwt::cli`]).

use std::process::ExitCode;

use clap::Parser;
use todo_jwt::{
    cli::Cli,
    ops::{allocator, telemetry},
};

/// mimalloc rather than glibc's malloc: a 20-todo list allocates ~50 short-lived values, and
/// with glibc allocation was a fifth of the read path (measured with callgrind: 81k -> 67k
/// instructions per list read). Through `mi_alloc`, which takes mimalloc's plain path for
/// ordinary alignments (see there).
#[global_allocator]
static GLOBAL: mi_alloc::Mimalloc = mi_alloc::Mimalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.config.log_format;
    // The service writes its log from a thread of its own; a one-off command (a migration, a
    // restore) writes each line as it comes, and loses none whatever stops it.
    let log = match cli.command {
        None => telemetry::init_service(cli.config.log_format),
        Some(_) => {
            telemetry::init_with(cli.config.log_format);
            None
        }
    };
    // `#[tokio::main]`'s runtime, plus each worker's allocator collection before it idles.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(allocator::on_worker_park)
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(todo_jwt::cli::execute(cli)),
        Err(error) => {
            eprintln!("todo-jwt: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Every queued log line is written before the outcome is said (a warning that explains
    // a failure comes before it).
    drop(log);
    todo_jwt::cli::report(outcome, format)
}

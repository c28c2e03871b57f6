//! `todo-jwt` with no subcommand: serves until Ctrl-C or `SIGTERM`.

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
};

use super::{Failure, Outcome};
use crate::{Application, Config, app::StartError, ops::telemetry::LogFormat};

/// What to do when the port is taken.
const PORT_IN_USE_HINT: &str = "another process listens on that port (another todo-jwt?): \
    stop it, or choose another port with --port or TODO_JWT_PORT (0 picks a free one)";

/// Builds the service, says where it listens (and writes its process id to `pid_file`), and
/// serves.
pub async fn run(config: Config, pid_file: Option<PathBuf>) -> Outcome {
    let format = config.log_format;
    // Before anything is bound or created: another todo-jwt owns the file.
    if let Some(path) = &pid_file {
        refuse_if_running(path)?;
    }
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
    let pid = std::process::id();
    if let Some(path) = &pid_file {
        write_pid_file(path, pid)?;
    }
    let address = app.address();
    tracing::info!(pid, "listening on http://{address}");
    println!("{}", banner(format, &address.to_string(), pid));
    let served = app.run().await;
    if let Some(path) = &pid_file {
        remove_pid_file(path, pid);
    }
    served.map_err(|error| Failure::new("server failed", error))?;
    // The last line: after it, only the queued lines are written.
    tracing::info!("stopped");
    Ok(String::new())
}

/// The line on stdout that says where the service listens: text, or in JSON mode one JSON
/// object (so that every line the process writes is JSON).
fn banner(format: LogFormat, address: &str, pid: u32) -> String {
    let url = format!("http://{address}");
    match format {
        LogFormat::Text => {
            format!("todo-jwt listening on {url} (explorer: {url}/explorer, pid {pid})")
        }
        LogFormat::Json => serde_json::json!({
            "message": "listening",
            "url": url,
            "explorer": format!("{url}/explorer"),
            "pid": pid,
        })
        .to_string(),
    }
}

/// Refused when `path` names another todo-jwt process that still runs.
fn refuse_if_running(path: &Path) -> Result<(), Failure> {
    match running_owner(path) {
        Some(running) if running != std::process::id() => Err(Failure::refused(format!(
            "cannot start: {} says todo-jwt runs as process {running}",
            path.display()
        ))
        .with_hint("stop that process first, or use another --pid-file")),
        _ => Ok(()),
    }
}

/// Writes `pid` to `path`, checked again (another start may have won meanwhile), through a
/// new file of a random name in the same directory, renamed over `path`: a reader never sees
/// half a number, and a link planted at a predictable name is never followed.
fn write_pid_file(path: &Path, pid: u32) -> Result<(), Failure> {
    refuse_if_running(path)?;
    let failed =
        |error: std::io::Error| Failure::new(format!("cannot write {}", path.display()), error);
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(directory).map_err(failed)?;
    std::io::Write::write_all(&mut file, format!("{pid}\n").as_bytes()).map_err(failed)?;
    file.persist(path).map_err(|error| failed(error.error))?;
    Ok(())
}

/// The process `path` names, when it is a todo-jwt that still runs.
fn running_owner(path: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (name.trim_end() == "todo-jwt").then_some(pid)
}

/// Removes `path` if it still holds `pid` (another process may have taken it over).
fn remove_pid_file(path: &Path, pid: u32) {
    let ours = std::fs::read_to_string(path).is_ok_and(|text| text.trim() == pid.to_string());
    if ours && let Err(error) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), %error, "cannot remove the pid file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_banner_is_one_json_object_with_numbers_as_numbers() {
        let line = banner(LogFormat::Json, "127.0.0.1:3000", 42);
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(value["url"], "http://127.0.0.1:3000");
        assert_eq!(value["pid"], 42);
        assert!(!line.contains('\n'));
        let text = banner(LogFormat::Text, "127.0.0.1:3000", 42);
        assert!(text.contains("http://127.0.0.1:3000 ") && text.contains("pid 42"));
    }

    #[test]
    fn a_pid_file_of_a_process_that_is_gone_is_replaced_and_ours_removed() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("todo-jwt.pid");
        // No process has this id (above Linux's pid_max).
        std::fs::write(&path, "4194305\n").expect("write");
        write_pid_file(&path, 7).expect("a stale file is replaced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "7\n");
        remove_pid_file(&path, 8);
        assert!(path.exists(), "another process's file is left alone");
        remove_pid_file(&path, 7);
        assert!(!path.exists());
    }

    #[test]
    fn a_link_planted_beside_the_pid_file_is_not_followed() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("todo-jwt.pid");
        let victim = directory.path().join("victim");
        std::fs::write(&victim, "precious").expect("write");
        std::os::unix::fs::symlink(&victim, directory.path().join("todo-jwt.pid.tmp"))
            .expect("symlink");
        write_pid_file(&path, 7).expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "7\n");
        assert!(
            !std::fs::symlink_metadata(&path)
                .expect("metadata")
                .is_symlink()
        );
    }

    #[test]
    fn a_pid_file_of_another_running_process_that_is_not_todo_jwt_is_replaced() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("todo-jwt.pid");
        // pid 1 runs, and is not todo-jwt: a stale file whose number was reused.
        std::fs::write(&path, "1\n").expect("write");
        write_pid_file(&path, 7).expect("replaced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "7\n");
    }
}

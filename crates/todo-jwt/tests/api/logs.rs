//! Issue 13: the log, as an operator reads it from the real binary's stderr.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{command, start_with};

/// At `info` in JSON: one `served` line per request with its method, route template, status,
/// latency and request id, and the user once a token is accepted; never a password, a token
/// or the `Authorization` header; no colour codes when stderr is not a terminal.
#[tokio::test]
async fn one_json_line_per_request_without_secrets() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut server = command(data_dir.path());
    server
        .env("TODO_JWT_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env("TODO_JWT_DRAIN_PERIOD", "0")
        .stderr(Stdio::piped());
    let mut instance = start_with(server, data_dir);
    // Stdout too has JSON only: the line that says where it listens.
    let banner: Value = serde_json::from_str(&instance.banner)
        .unwrap_or_else(|_| panic!("the banner is not JSON: {}", instance.banner));
    assert_eq!(banner["url"].as_str(), Some(instance.app.address.as_str()));
    assert_eq!(banner["pid"].as_u64(), Some(u64::from(instance.child.id())));
    let app = &instance.app;
    let password = "a-password-to-find";
    assert_eq!(
        app.sign_up("logs@example.com", password).await.status(),
        StatusCode::OK
    );
    let login = app.log_in("logs@example.com", password).await;
    let token = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let response = app
        .client
        .post(app.url("/todos"))
        .bearer_auth(&token)
        .header("x-request-id", "logged-request")
        .json(&json!({"title": "logged"}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.json::<Value>().await.expect("json")["id"].clone();
    let read = app
        .get_authorized(
            &format!("/todos/{id}?filter=%7B%7D"),
            Some(&format!("Bearer {token}")),
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let refused = app
        .get_authorized("/todos", Some("Bearer not.a.token"))
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let unknown = app.get_authorized("/not/a/route?secret=x", None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // Stopped as an operator stops it (SIGTERM): the lines still queued for the log's writing
    // thread are written before it exits (a SIGKILL may lose the last few, as with any
    // buffered log).
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &instance.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while instance.child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = instance.child.kill();
            panic!("still running 20 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(
        &mut instance.child.stderr.take().expect("stderr"),
        &mut stderr,
    )
    .expect("stderr");

    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe: {stderr}"
    );
    for secret in [
        password,
        token.as_str(),
        "not.a.token",
        "Bearer",
        "secret=x",
    ] {
        assert!(
            !stderr.contains(secret),
            "{secret:?} is in the log:\n{stderr}"
        );
    }
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    // The start-up line names the process, as a number.
    let listening = lines
        .iter()
        .find(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("listening on"))
        })
        .unwrap_or_else(|| panic!("no listening line: {stderr}"));
    assert_eq!(
        listening["pid"].as_u64(),
        Some(u64::from(instance.child.id()))
    );
    // Logged after the signal: written because a stop writes what is queued.
    assert!(
        lines.iter().any(|line| line["message"] == "stopped"),
        "{stderr}"
    );
    let served: Vec<&Value> = lines
        .iter()
        .filter(|line| line["message"] == "served")
        .collect();
    let summary: Vec<(String, String, u64)> = served
        .iter()
        .map(|line| {
            (
                line["span"]["method"].as_str().unwrap_or("?").to_owned(),
                line["span"]["route"].as_str().unwrap_or("-").to_owned(),
                line["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let expected = [
        ("POST", "/signup", 200),
        ("POST", "/users/login", 200),
        ("POST", "/todos", 200),
        ("GET", "/todos/{id}", 200),
        ("GET", "/todos", 401),
        ("GET", "-", 404),
    ]
    .map(|(method, route, status)| (method.to_owned(), route.to_owned(), status));
    assert_eq!(summary, expected);
    for line in &served {
        assert!(line["latency_ms"].is_number(), "{line}");
        assert!(line["span"]["id"].is_string(), "{line}");
    }
    let create = served[2];
    assert_eq!(create["span"]["id"], "logged-request");
    assert!(create["span"]["user"].is_string(), "{create}");
    assert!(
        served[4]["span"].get("user").is_none(),
        "a refused token names nobody"
    );
}

/// A port already in use fails at once, before anything is created on disk, with the error
/// said once.
#[tokio::test]
async fn a_port_in_use_fails_before_touching_the_data_directory() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let parent = tempfile::tempdir().expect("tempdir");
    let data_dir = parent.path().join("data");
    let started = Instant::now();
    let output = command(&data_dir)
        .env("TODO_JWT_PORT", port.to_string())
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "said once: {stderr}"
    );
    assert!(!data_dir.exists(), "the data directory was created");
    // And what to do about it.
    assert!(
        stderr.contains("choose another port with --port or TODO_JWT_PORT"),
        "{stderr}"
    );
}

/// A misspelled `TODO_JWT_*` variable is named at start, with the setting it was probably
/// meant to be; a variable that is near none is named too; the real ones are not.
#[tokio::test]
async fn unknown_variables_are_named_with_the_setting_they_resemble() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let parent = tempfile::tempdir().expect("tempdir");
    // The port is taken: the service stops at once, after the warnings.
    let output = command(&parent.path().join("data"))
        .env("TODO_JWT_PORT", port.to_string())
        .env("TODO_JWT_PROT", "3001")
        .env("TODO_JWT_TOKEN_LIFETME", "60")
        .env("TODO_JWT_NOTHING_LIKE_ANY_SETTING", "1")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "TODO_JWT_PROT is not a setting of todo-jwt and is ignored: did you mean TODO_JWT_PORT?"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("TODO_JWT_TOKEN_LIFETME is not a setting of todo-jwt and is ignored: did you mean TODO_JWT_TOKEN_LIFETIME?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("TODO_JWT_NOTHING_LIKE_ANY_SETTING is not a setting of todo-jwt and is ignored (`todo-jwt --help`"),
        "{stderr}"
    );
    assert!(!stderr.contains("TODO_JWT_PORT is not"), "{stderr}");
    assert!(!stderr.contains("TODO_JWT_SECRET is not"), "{stderr}");
}

/// `--pid-file`: the process id is written once listening, a second service refuses to take
/// over the file of one that runs, and a clean stop removes it.
#[tokio::test]
async fn the_pid_file_names_the_running_process_and_goes_at_a_clean_stop() {
    let directory = tempfile::tempdir().expect("tempdir");
    let pid_file = directory.path().join("todo-jwt.pid");
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut server = command(data_dir.path());
    server
        .arg("--pid-file")
        .arg(&pid_file)
        .env("TODO_JWT_DRAIN_PERIOD", "0");
    let mut instance = start_with(server, data_dir);
    let pid = instance.child.id();
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("the pid file"),
        format!("{pid}\n")
    );
    assert!(
        instance.banner.contains(&format!("pid {pid}")),
        "{}",
        instance.banner
    );

    let other = tempfile::tempdir().expect("tempdir");
    let output = command(other.path())
        .env("TODO_JWT_PID_FILE", &pid_file)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("says todo-jwt runs as process {pid}")),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("still there"),
        format!("{pid}\n"),
        "the running service's file was overwritten"
    );

    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while instance.child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!pid_file.exists(), "the pid file outlived a clean stop");
}

/// In JSON mode a failure to start is JSON too, like every other line: a log collector never
/// gets a line it cannot parse.
#[tokio::test]
async fn in_json_mode_a_failure_is_a_json_line_with_its_cause_and_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let parent = tempfile::tempdir().expect("tempdir");
    let output = command(&parent.path().join("data"))
        .env("TODO_JWT_PORT", port.to_string())
        .env("TODO_JWT_LOG_FORMAT", "json")
        .env("TODO_JWT_PROT", "1")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(lines.len() >= 2, "the warning and the failure: {stderr}");
    let failure = lines.last().expect("a line");
    assert_eq!(failure["level"], "ERROR", "{failure}");
    assert_eq!(failure["message"], "cannot start", "{failure}");
    assert!(
        failure["cause"]
            .as_str()
            .is_some_and(|cause| cause.contains("Address already in use")),
        "{failure}"
    );
    assert!(
        failure["hint"]
            .as_str()
            .is_some_and(|hint| hint.contains("--port")),
        "{failure}"
    );
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

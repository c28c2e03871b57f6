//! Mail (issue 22): the outbox, its delivery to a real SMTP server (aiosmtpd, started per test
//! on a free port; `tests/run.sh` installs it) or to `.eml` files, and the address verification
//! that signup sends.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TEST_SECRET, TestApp, command, error_body, eventually, postgres_only, spawn_app,
    spawn_app_with, start_with,
};

/// A real SMTP server: aiosmtpd writing what it receives to a Maildir.
pub(crate) struct SmtpSink {
    pub(crate) port: u16,
    maildir: PathBuf,
    child: Option<Child>,
    /// Arguments for aiosmtpd besides the address and the handler (TLS).
    pub(crate) extra: Vec<String>,
}

impl SmtpSink {
    /// A port nothing listens on (yet).
    pub(crate) fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    }

    /// The sink on `port`, delivering into `maildir`, not started.
    pub(crate) fn on(port: u16, maildir: &Path) -> Self {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
        }
        Self {
            port,
            maildir: maildir.to_owned(),
            child: None,
            extra: Vec::new(),
        }
    }

    /// Starts the server and waits until it accepts connections.
    pub(crate) async fn start(&mut self) {
        let python = std::env::var("TODO_JWT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(&self.extra)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {python} -m aiosmtpd ({error}): `bash tests/run.sh` installs it"
                )
            });
        self.child = Some(child);
        let port = self.port;
        eventually(
            Duration::from_secs(20),
            "aiosmtpd accepts connections (TODO_JWT_TEST_PYTHON: a Python with aiosmtpd, as \
             tests/run.sh sets up)",
            async || {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            },
        )
        .await;
    }

    /// Stops the server (the port is closed).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, as sent.
    pub(crate) fn messages(&self) -> Vec<String> {
        let mut paths: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        paths.sort();
        paths
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The token a message carries on its own line (`token=...`).
pub(crate) fn token_in(message: &str) -> String {
    message
        .lines()
        .find_map(|line| line.trim().strip_prefix("token="))
        .unwrap_or_else(|| panic!("no token line in: {message}"))
        .to_owned()
}

pub(crate) async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/users/verify-email", &json!({"token": token}))
        .await
}

/// Whether the account's address is proven, read under the API.
pub(crate) async fn verified(app: &TestApp, email: &str) -> bool {
    let at = app
        .sql(&format!(
            "SELECT coalesce(email_verified_at, 0) FROM users WHERE email = '{email}'"
        ))
        .await
        .expect("the account");
    at != "0"
}

/// By default (no SMTP server), signup's verification message is an `.eml` file in the data
/// directory, readable by the owner only; its token proves the address once.
#[tokio::test]
async fn without_a_mail_server_the_message_is_a_file_and_its_token_proves_the_address() {
    let app = spawn_app().await;
    let signup = app.sign_up("ann@example.com", "password123").await;
    assert_eq!(signup.status(), StatusCode::OK);
    let file = app.data_dir.path().join("mail/message-1.eml");
    eventually(
        Duration::from_secs(10),
        "the .eml file is written",
        async || file.exists(),
    )
    .await;
    let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the message is readable by the owner only");
    let message = std::fs::read_to_string(&file).expect("read");
    assert!(message.contains("To: ann@example.com"), "{message}");
    assert!(
        message.contains("Subject: Confirm your email address"),
        "{message}"
    );
    let token = token_in(&message);
    assert!(
        message.contains(&format!("{}/verify-email#token={token}", app.address)),
        "the link points to the service, the token in its fragment: {message}"
    );
    assert!(!verified(&app, "ann@example.com").await);
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    assert!(verified(&app, "ann@example.com").await);
    // Used: no second time. A made-up token: the same answer.
    for token in [token.as_str(), "not-a-token-we-sent"] {
        let error = error_body(verify(&app, token).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    }
    // The sent message's body (which held the token) is not kept.
    assert_eq!(
        app.sql("SELECT body FROM outbox WHERE id = 1")
            .await
            .as_deref(),
        Some("")
    );
}

/// Over SMTP, the message reaches a real server, and its token proves the address. A signup that
/// fails (the address is taken) sends nothing.
#[tokio::test]
async fn over_smtp_the_message_arrives_and_a_failed_signup_sends_none() {
    let maildir = tempfile::tempdir().expect("maildir");
    let mut sink = SmtpSink::on(SmtpSink::free_port(), maildir.path());
    sink.start().await;
    let port = sink.port;
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        config.mail_from = "Todo <noreply@todo.test>".to_owned();
    })
    .await;
    assert_eq!(
        app.sign_up("bob@example.com", "password123").await.status(),
        StatusCode::OK
    );
    eventually(Duration::from_secs(10), "the message arrives", async || {
        sink.messages().len() == 1
    })
    .await;
    let message = sink.messages().remove(0);
    assert!(
        message.contains("From: Todo <noreply@todo.test>"),
        "{message}"
    );
    assert!(message.contains("To: bob@example.com"), "{message}");
    assert_eq!(
        verify(&app, &token_in(&message)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.sign_up("BOB@example.com", "password123").await.status(),
        StatusCode::CONFLICT
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 1, "a refused signup sent mail");
    assert_eq!(
        app.sql("SELECT count(*) FROM outbox").await.as_deref(),
        Some("1")
    );
}

/// The mail server down: signups still succeed, their messages wait in the outbox (attempts
/// counted), and arrive, once each, when the server is back.
#[tokio::test]
async fn while_the_mail_server_is_down_nothing_is_lost() {
    let maildir = tempfile::tempdir().expect("maildir");
    let mut sink = SmtpSink::on(SmtpSink::free_port(), maildir.path());
    sink.start().await;
    let port = sink.port;
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    assert_eq!(
        app.sign_up("first@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    eventually(
        Duration::from_secs(10),
        "the first message arrives",
        async || sink.messages().len() == 1,
    )
    .await;
    sink.stop();
    for n in 0..3 {
        let email = format!("down{n}@example.com");
        assert_eq!(
            app.sign_up(&email, "password123").await.status(),
            StatusCode::OK,
            "signup while the mail server is down"
        );
    }
    eventually(
        Duration::from_secs(10),
        "a failed attempt is counted",
        async || {
            app.sql("SELECT count(*) FROM outbox WHERE attempts > 0 AND sent_at IS NULL")
                .await
                .as_deref()
                == Some("3")
        },
    )
    .await;
    sink.start().await;
    eventually(
        Duration::from_secs(30),
        "the waiting messages arrive",
        async || sink.messages().len() == 4,
    )
    .await;
    let mut recipients: Vec<String> = sink
        .messages()
        .iter()
        .filter_map(|message| {
            message
                .lines()
                .find_map(|line| line.strip_prefix("To: ").map(str::to_owned))
        })
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            "down0@example.com",
            "down1@example.com",
            "down2@example.com",
            "first@example.com"
        ],
        "each message once"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 4, "a message was sent twice");
    let pending: Value = json!(
        app.sql("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            .await
    );
    assert_eq!(pending, json!("0"));
}

/// The `.eml` files written so far (default transport), in the order they were written, with
/// those whose subject is `subject`.
pub(crate) fn eml_files(app: &TestApp, subject: &str) -> Vec<String> {
    let mut files: Vec<(i64, String)> = std::fs::read_dir(app.data_dir.path().join("mail"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    let id = name
                        .strip_prefix("message-")?
                        .strip_suffix(".eml")?
                        .parse()
                        .ok()?;
                    Some((id, std::fs::read_to_string(entry.path()).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|(_, text)| text)
        .filter(|text| text.contains(&format!("Subject: {subject}")))
        .collect()
}

pub(crate) async fn request_reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json("/users/password-reset", &json!({"email": email}))
        .await
}

pub(crate) async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/users/password-reset/confirm",
        &json!({"token": token, "newPassword": password}),
    )
    .await
}

/// A reset link sets a new password once: the old password and every session stop working,
/// the new password logs in, a notice is sent, and the token is used up.
#[tokio::test]
async fn a_reset_sets_a_new_password_ends_every_session_and_sends_a_notice() {
    let app = spawn_app().await;
    let session = app.token_for("carol@example.com").await;
    assert_eq!(app.who_am_i(&session).await.status(), StatusCode::OK);
    let accepted = request_reset(&app, "carol@example.com").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    eventually(Duration::from_secs(10), "the reset message", async || {
        eml_files(&app, "Reset your password").len() == 1
    })
    .await;
    let message = eml_files(&app, "Reset your password").remove(0);
    let token = token_in(&message);
    assert!(
        message.contains(&format!("{}/reset-password#token={token}", app.address)),
        "{message}"
    );
    assert_eq!(
        confirm_reset(&app, &token, "a brand new password")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.log_in("carol@example.com", "password123")
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "the old password still works"
    );
    assert_eq!(
        app.log_in("carol@example.com", "a brand new password")
            .await
            .status(),
        StatusCode::OK
    );
    eventually(Duration::from_secs(5), "the old session ends", async || {
        app.who_am_i(&session).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    let again = error_body(
        confirm_reset(&app, &token, "yet another password").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(again["code"], "INVALID_TOKEN", "{again}");
    eventually(Duration::from_secs(10), "the notice", async || {
        eml_files(&app, "Your password was changed").len() == 1
    })
    .await;
}

/// `POST /users/password-reset` answers the same for an unknown address, sends at most three
/// messages an hour to one address however often it is asked, and only the newest token works.
#[tokio::test]
async fn reset_requests_tell_nothing_are_capped_and_only_the_newest_token_works() {
    let app = spawn_app().await;
    app.token_for("dave@example.com").await;
    let unknown = request_reset(&app, "nobody@example.com").await;
    let known = request_reset(&app, "dave@example.com").await;
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(
        unknown.text().await.expect("body"),
        known.text().await.expect("body")
    );
    for _ in 0..4 {
        assert_eq!(
            request_reset(&app, "DAVE@example.com").await.status(),
            StatusCode::ACCEPTED
        );
    }
    eventually(
        Duration::from_secs(10),
        "three reset messages",
        async || eml_files(&app, "Reset your password").len() == 3,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let messages = eml_files(&app, "Reset your password");
    assert_eq!(messages.len(), 3, "the hourly cap of one address");
    assert!(messages.iter().all(|m| m.contains("To: dave@example.com")));
    let tokens: Vec<String> = messages.iter().map(|m| token_in(m)).collect();
    for old in &tokens[..2] {
        let error = error_body(
            confirm_reset(&app, old, "an older token's password").await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(error["code"], "INVALID_TOKEN", "an older token still works");
    }
    assert_eq!(
        confirm_reset(&app, &tokens[2], "the newest token's password")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

/// The pages the links open are served by the binary, with a policy that allows only their own
/// script and style and sends no referrer.
#[tokio::test]
async fn the_link_pages_are_served_with_a_strict_policy() {
    let app = spawn_app().await;
    for (path, script) in [
        ("/verify-email", "/mail-pages.js"),
        ("/reset-password", "/mail-pages.js"),
        ("/confirm-email", "/mail-pages.js"),
        ("/mfa", "/mfa.js"),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("page");
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let policy = headers["content-security-policy"].to_str().expect("policy");
        assert!(policy.contains("script-src 'self'") && policy.contains("default-src 'none'"));
        let page = response.text().await.expect("html");
        assert!(
            page.contains(&format!("<script src=\"{script}\">")),
            "{page}"
        );
    }
    let script = app
        .client
        .get(app.url("/mail-pages.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script
            .text()
            .await
            .expect("js")
            .contains("/users/password-reset/confirm")
    );
}

/// Asking for the verification message again sends a new one (the older link stops working),
/// answers the same for an unknown address, and sends nothing once the address is proven.
#[tokio::test]
async fn a_resent_verification_replaces_the_first_and_stops_once_verified() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("erin@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    let resend = |email: &'static str| {
        let app = &app;
        async move {
            app.post_json("/users/verify-email/resend", &json!({"email": email}))
                .await
                .status()
        }
    };
    assert_eq!(resend("erin@example.com").await, StatusCode::ACCEPTED);
    assert_eq!(resend("nobody@example.com").await, StatusCode::ACCEPTED);
    eventually(
        Duration::from_secs(10),
        "two verification messages",
        async || eml_files(&app, "Confirm your email address").len() == 2,
    )
    .await;
    let messages = eml_files(&app, "Confirm your email address");
    let (first, second) = (token_in(&messages[0]), token_in(&messages[1]));
    let error = error_body(verify(&app, &first).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        error["code"], "INVALID_TOKEN",
        "the replaced link still works"
    );
    assert_eq!(verify(&app, &second).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(resend("erin@example.com").await, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        eml_files(&app, "Confirm your email address").len(),
        2,
        "a proven address got another verification message"
    );
}

/// Two instances on one PostgreSQL share one outbox: each of a few hundred messages, written
/// through either, reaches the SMTP server exactly once (the claims skip each other's rows).
#[tokio::test]
#[ignore = "PostgreSQL only: runs in the PostgreSQL pass of tests/run.sh"]
async fn two_instances_send_each_message_of_their_outbox_once() {
    const SIGNUPS: usize = 200;
    let database = postgres_only().await;
    let maildir = tempfile::tempdir().expect("maildir");
    let mut sink = SmtpSink::on(SmtpSink::free_port(), maildir.path());
    sink.start().await;
    let port = sink.port;
    let start = || {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut command = command(data_dir.path());
        command
            .env("TODO_JWT_DATABASE_URL", &database.url)
            .env("TODO_JWT_SMTP_URL", format!("smtp://127.0.0.1:{port}"))
            .env("TODO_JWT_AUTH_RATE_LIMIT", "0");
        start_with(command, data_dir)
    };
    let (one, two) = (start(), start());
    for batch in 0..SIGNUPS / 20 {
        let signups = (0..20).map(|n| {
            let index = batch * 20 + n;
            let app = if index % 2 == 0 { &one.app } else { &two.app };
            async move {
                let email = format!("many{index}@example.com");
                app.sign_up(&email, "password123").await.status()
            }
        });
        for status in futures_util::future::join_all(signups).await {
            assert_eq!(status, StatusCode::OK);
        }
    }
    eventually(
        Duration::from_secs(60),
        "every message arrives",
        async || sink.messages().len() >= SIGNUPS,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let messages = sink.messages();
    let mut recipients: Vec<String> = messages
        .iter()
        .filter_map(|message| {
            message
                .lines()
                .find_map(|line| line.strip_prefix("To: ").map(str::to_owned))
        })
        .collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(messages.len(), SIGNUPS, "a message was sent twice");
    assert_eq!(
        recipients.len(),
        SIGNUPS,
        "a message went to the wrong address"
    );
}

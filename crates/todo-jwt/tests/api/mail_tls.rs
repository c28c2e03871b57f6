//! Mail over TLS (issue 22): STARTTLS and implicit TLS to a real SMTP server (aiosmtpd with a
//! certificate from a CA made here with `openssl`), trusted through `TODO_JWT_SMTP_CA_FILE`; a
//! server whose certificate chains to nothing trusted gets nothing, and the message waits.

use std::{path::Path, process::Command, time::Duration};

use reqwest::StatusCode;

use crate::{
    helpers::{TEST_SECRET, TestApp, eventually, spawn_app_with},
    mail::{SmtpSink, token_in, verify},
};

/// A CA (`ca.pem`) and a server certificate for 127.0.0.1 it signed (`server.pem`,
/// `server.key`), written to `dir`.
fn certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian's openssl package)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&["req", "-x509"]
        .iter()
        .chain(&ec)
        .chain(&[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=todo-jwt test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ])
        .copied()
        .collect::<Vec<_>>());
    run(&["req"]
        .iter()
        .chain(&ec)
        .chain(&[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .copied()
        .collect::<Vec<_>>());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// A sink speaking TLS (`implicit`: from the first byte; else after STARTTLS, which it then
/// requires), and a service sending to it, trusting the test CA when `trusted`.
async fn over_tls(dir: &Path, implicit: bool, trusted: bool) -> (SmtpSink, TestApp) {
    let mut sink = SmtpSink::on(SmtpSink::free_port(), &dir.join("maildir"));
    let (cert, key) = if implicit {
        ("--smtpscert", "--smtpskey")
    } else {
        ("--tlscert", "--tlskey")
    };
    let path = |name: &str| dir.join(name).display().to_string();
    sink.extra = vec![
        cert.into(),
        path("server.pem"),
        key.into(),
        path("server.key"),
    ];
    sink.start().await;
    let url = if implicit {
        format!("smtps://127.0.0.1:{}", sink.port)
    } else {
        format!("smtp://127.0.0.1:{}?tls=required", sink.port)
    };
    let ca = dir.join("ca.pem");
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.smtp_url = Some(url);
        config.smtp_ca_file = trusted.then_some(ca);
    })
    .await;
    (sink, app)
}

/// STARTTLS and implicit TLS both deliver, the server's certificate checked against the CA
/// given; the token in the message works.
#[tokio::test]
async fn mail_leaves_over_starttls_and_implicit_tls_to_a_trusted_server() {
    let dir = tempfile::tempdir().expect("dir");
    certificates(dir.path());
    for implicit in [false, true] {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        for name in ["ca.pem", "server.pem", "server.key"] {
            std::fs::copy(dir.path().join(name), run.path().join(name)).expect("copy");
        }
        let (sink, app) = over_tls(run.path(), implicit, true).await;
        let signup = app.sign_up("tls@example.com", "password123").await;
        assert_eq!(signup.status(), StatusCode::OK);
        eventually(
            Duration::from_secs(15),
            &format!("the message arrives (implicit TLS: {implicit})"),
            async || sink.messages().len() == 1,
        )
        .await;
        let message = sink.messages().remove(0);
        assert_eq!(
            verify(&app, &token_in(&message)).await.status(),
            StatusCode::NO_CONTENT
        );
    }
}

/// Without the CA, the server's certificate is not trusted: nothing is sent (no fall back to
/// plain text), the message waits in the outbox with the reason, and nothing is lost.
#[tokio::test]
async fn an_untrusted_certificate_gets_no_mail_and_the_message_waits() {
    let dir = tempfile::tempdir().expect("dir");
    certificates(dir.path());
    let (sink, app) = over_tls(dir.path(), true, false).await;
    let signup = app.sign_up("untrusted@example.com", "password123").await;
    assert_eq!(signup.status(), StatusCode::OK);
    eventually(Duration::from_secs(15), "a failed attempt", async || {
        app.sql("SELECT attempts FROM outbox WHERE id = 1")
            .await
            .is_some_and(|attempts| attempts != "0")
    })
    .await;
    let error = app
        .sql("SELECT last_error FROM outbox WHERE id = 1")
        .await
        .unwrap_or_default();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    let pending = app
        .sql("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
        .await;
    assert_eq!(pending.as_deref(), Some("1"));
    assert!(sink.messages().is_empty());
}

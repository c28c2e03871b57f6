//! Hostile connections (issue 10, row 2): what a client that opens connections and then
//! stalls can hold. Each test talks raw TCP to a server with short limits.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TEST_SECRET, TestApp, spawn_app_with};

pub(crate) async fn app_with(configure: impl FnOnce(&mut todo_jwt::Config)) -> TestApp {
    spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        configure(config);
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connect")
}

/// A connection that has been answered one complete request (200): surely accepted, and
/// between requests.
async fn answered_once(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = [0u8; 1024];
    let n = stream.read(&mut answer).await.expect("read");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    stream
}

/// Reads until the server closes the connection (or `limit` passes): what it sent, and when
/// it closed (None if it did not within the limit).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => {
                return (
                    String::from_utf8_lossy(&received).into_owned(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), None),
        }
    }
}

#[tokio::test]
async fn a_slow_request_head_and_an_idle_connection_are_closed_after_the_header_timeout() {
    let app = app_with(|config| config.header_timeout = 1).await;
    // Half a request line, then nothing.
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /whoAmI HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // An idle keep-alive connection after one complete request.
    let mut idle = connect(&app).await;
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // Half a head after a complete request: the connection's timer is armed again (its sleep
    // kept from the first head and moved later) and fires as on a new connection.
    let mut slow_again = answered_once(&app).await;
    slow_again
        .write_all(b"GET /whoAmI HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "a slow request head was still open after 10 s"
    );
    let (_, closed) = read_until_closed(&mut slow_again, Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "a slow second request head was still open after 10 s"
    );
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.80}");
    assert!(
        closed.is_some(),
        "an idle connection was still open after 10 s"
    );
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_in_the_envelope() {
    let app = app_with(|config| config.body_timeout = 1).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":")
        .await
        .expect("write");
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "still open after 10 s");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:.200}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    assert!(
        answer.contains(r#""statusCode":408"#) && answer.contains("RequestTimeoutError"),
        "{answer}"
    );
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once_and_the_limit_frees_up() {
    let app = app_with(|config| config.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        // A complete request on each, so that each is surely accepted and counted.
        held.push(answered_once(&app).await);
    }
    let mut over = connect(&app).await;
    let _ = over.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(5)).await;
    assert!(
        answer.is_empty() && closed.is_some(),
        "the fourth connection was served: {answer:.80}"
    );
    drop(held);
    // The slots are free again (the server notices the closes quickly).
    let mut served = false;
    for _ in 0..500 {
        let response = reqwest::Client::new().get(app.url("/")).send().await;
        if response.is_ok_and(|response| response.status().is_success()) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        served,
        "no connection was served after the held ones closed"
    );
}

/// The memory for bodies being received is bounded: while one client holds the whole budget
/// (here 1 MiB) with a body it has sent all but the last byte of, another client's body waits,
/// and is received once the first one has been timed out (408), never alongside it. A client
/// that only announces a large body, without sending it, holds nothing.
#[tokio::test]
async fn bodies_beyond_the_memory_budget_wait_for_it() {
    let app = app_with(|config| {
        config.body_memory_mb = 1;
        config.body_timeout = 3;
    })
    .await;
    // Announces a megabyte and sends nothing: others are not held up.
    let mut announcer = connect(&app).await;
    announcer
        .write_all(b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let response = app
        .post_json(
            "/signup",
            &serde_json::json!({"email": "early@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Sends all but the last byte of a megabyte: it holds the whole budget.
    let mut hog = connect(&app).await;
    let mut request = b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    request.extend(std::iter::repeat_n(b' ', 1_048_575));
    hog.write_all(&request).await.expect("write");
    let hog_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let response = app
        .post_json(
            "/signup",
            &serde_json::json!({"email": "late@example.com", "password": "password123"}),
        )
        .await;
    let waited = hog_started.elapsed();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        waited >= Duration::from_millis(2700),
        "answered after {waited:?}, before the hog's 3 s ran out"
    );
    // The hog is cut off when its 3 s run out: 408 if all its parts got memory in time, 503
    // `BUSY` if the last of them was still waiting for memory (which happens when the early
    // request's share is given back late, on a loaded machine). Either way, in the envelope.
    let (answer, _) = read_until_closed(&mut hog, Duration::from_secs(10)).await;
    assert!(
        answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 503"),
        "{answer:?}"
    );
    assert!(answer.contains("\"statusCode\":"), "{answer:?}");
}

/// Row 7: the responses hyper writes by itself (a request it cannot parse, a request line or
/// head over the limit) are in the envelope, with `nosniff`, and the connection closes.
#[tokio::test]
async fn unparsable_requests_get_the_envelope() {
    let app = app_with(|_| {}).await;
    let long_path = format!("/{}", "a".repeat(70 * 1024));
    let long_header = format!("x-big: {}\r\n", "b".repeat(300 * 1024));
    let attacks = [
        ("GARBAGE\r\n\r\n".to_owned(), &[400][..]),
        (
            "GET /whoAmI HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n".to_owned(),
            &[400][..],
        ),
        (
            format!("GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n"),
            &[414, 431][..],
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: x\r\n{long_header}\r\n"),
            &[431][..],
        ),
    ];
    for (request, statuses) in attacks {
        let mut stream = connect(&app).await;
        // The server may answer and close before it has read everything: ignore write errors.
        let _ = stream.write_all(request.as_bytes()).await;
        let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        let shown = &request[..request.len().min(40)];
        assert!(closed.is_some(), "{shown:?}: still open, sent {answer:?}");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a response");
        let status: u16 = head[9..12].parse().expect("status");
        assert!(statuses.contains(&status), "{shown:?}: {head}");
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains("\r\nx-content-type-options: nosniff"),
            "{head}"
        );
        assert!(
            lower.contains("\r\ncontent-type: application/json"),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("json body");
        assert_eq!(body["error"]["statusCode"], status, "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}

/// Rows 6 and 10: a client that asks for a large list and never reads it holds the response
/// only until the send timeout; then the connection closes, and other clients are served.
#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_after_the_send_timeout() {
    let app = app_with(|config| config.send_timeout = 1).await;
    let token = app.token_for("hoarder@example.com").await;
    let desc = "d".repeat(20_000);
    for index in 0..40 {
        app.create_todo(
            &token,
            serde_json::json!({"title": format!("big {index}"), "desc": desc}),
        )
        .await;
    }
    // A small receive buffer, so the ~800 KB answer cannot all sit in the kernel.
    let mut stream = crate::fair_share::ask(&app, "/todos", &token).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Meanwhile the server serves others.
    assert_eq!(app.who_am_i(&token).await.status(), reqwest::StatusCode::OK);
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "still open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{:.80}", answer);
    assert!(
        answer.len() < 400 * 22_000,
        "the whole answer arrived ({} bytes): the send timeout did not close it",
        answer.len()
    );
}

/// A body declared as something other than JSON is refused at once, before any of it is read
/// (it used to be read, up to the size limit, first).
#[tokio::test]
async fn a_body_that_is_not_json_is_refused_before_it_is_read() {
    let app = app_with(|config| config.body_timeout = 30).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("an answer before the body arrives")
        .expect("read");
    let answer = String::from_utf8_lossy(&buffer[..read]);
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert!(answer.contains("UNSUPPORTED_MEDIA_TYPE"), "{answer}");
}

/// Issue 21: one address holds at most its share of the connections; another address is
/// served meanwhile. (One address used to take all 1,024 and keep everyone else out.)
#[tokio::test]
async fn one_address_holds_its_share_and_another_is_served_meanwhile() {
    let app = app_with(|config| config.max_connections_per_address = 3).await;
    let address: std::net::SocketAddr = app
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let from = |source: &str| {
        let source: std::net::SocketAddr = format!("{source}:0").parse().expect("source");
        async move {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.bind(source).expect("bind");
            socket.connect(address).await.expect("connect")
        }
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = from("127.0.0.1").await;
        stream.write_all(request).await.expect("write");
        let mut buffer = [0u8; 1024];
        let n = stream.read(&mut buffer).await.expect("read");
        assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));
        held.push(stream);
    }
    let mut over = from("127.0.0.1").await;
    let _ = over.write_all(request).await;
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(5)).await;
    assert!(
        answer.is_empty() && closed.is_some(),
        "a fourth connection from one address was served: {answer:.80}"
    );
    let mut other = from("127.0.0.2").await;
    other.write_all(request).await.expect("write");
    let mut buffer = [0u8; 1024];
    let n = other.read(&mut buffer).await.expect("read");
    assert!(
        buffer[..n].starts_with(b"HTTP/1.1 200"),
        "another address was refused"
    );
    // Closing one gives the first address its place back.
    held.pop();
    let mut served = false;
    for _ in 0..250 {
        let mut again = from("127.0.0.1").await;
        if again.write_all(request).await.is_ok()
            && matches!(again.read(&mut buffer).await, Ok(n) if buffer[..n].starts_with(b"HTTP/1.1 200"))
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the place was not given back");
}

/// Issue 21, row 1: behind a trusted proxy (exempt from the connection cap, since every client
/// behind it shares its address) the same share applies per forwarded client, to its requests
/// in flight: a fourth request of one client is 429 in the envelope while three of its bodies
/// stall, another client behind the same proxy is served meanwhile, and the share comes back
/// when a request ends.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_holds_its_share_of_requests() {
    let app = app_with(|config| {
        config.max_connections_per_address = 3;
        config.trusted_proxies = "127.0.0.1/32".to_owned();
        config.body_timeout = 30;
    })
    .await;
    let stalled = |client: &'static str| {
        let app = &app;
        async move {
            let mut stream = connect(app).await;
            let head = format!(
                "POST /signup HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {client}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            );
            stream.write_all(head.as_bytes()).await.expect("write");
            stream
        }
    };
    let ask = |client: &'static str| {
        let app = &app;
        async move {
            let mut stream = connect(app).await;
            let request = format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {client}\r\n\
                 Connection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.expect("write");
            read_until_closed(&mut stream, Duration::from_secs(10))
                .await
                .0
        }
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(stalled("203.0.113.7").await);
    }
    // The stalled requests are in flight once the server has read their heads.
    let mut refused = String::new();
    for _ in 0..100 {
        refused = ask("203.0.113.7").await;
        if refused.starts_with("HTTP/1.1 429") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused.starts_with("HTTP/1.1 429"),
        "a fourth request in flight was not refused: {refused:.200}"
    );
    assert!(
        refused.contains("\"code\":\"TOO_MANY_REQUESTS\"") && refused.contains("at most 3"),
        "not the envelope: {refused:.400}"
    );
    let other = ask("203.0.113.8").await;
    assert!(
        other.starts_with("HTTP/1.1 200"),
        "another client behind the proxy was refused: {other:.200}"
    );
    held.pop();
    let mut served = String::new();
    for _ in 0..100 {
        served = ask("203.0.113.7").await;
        if served.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        served.starts_with("HTTP/1.1 200"),
        "the share was not given back: {served:.200}"
    );
}

/// Issue 21: a body that is announced and not sent holds no memory while it waits. (Each took
/// ~64 KiB of the budget before: with a 1 MiB budget, 40 such requests held up every other
/// body until their body timeout.)
#[tokio::test]
async fn announced_bodies_that_never_come_hold_no_memory() {
    let app = app_with(|config| {
        config.body_memory_mb = 1;
        config.body_timeout = 5;
    })
    .await;
    let mut waiting = Vec::new();
    for _ in 0..40 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n")
            .await
            .expect("write");
        waiting.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let response = app
        .post_json(
            "/signup",
            &serde_json::json!({"email": "served@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "held up {:?} by bodies that never came",
        started.elapsed()
    );
    drop(waiting);
}

/// Issue 21: a head over 64 KiB is 431 however it arrives (a single 100,000-byte header used
/// to pass hyper's approximate bound and be served), and so is one with more than 100 header
/// fields, each with a message that names both bounds; a 60 KB header is served.
#[tokio::test]
async fn a_head_over_64_kib_or_100_fields_is_431_in_the_envelope() {
    let app = app_with(|_| {}).await;
    let many: String = (0..101).map(|index| format!("x-h{index}: v\r\n")).collect();
    let cases = [
        (format!("x-big: {}\r\n", "b".repeat(100_000)), 431),
        (many, 431),
        (format!("x-big: {}\r\n", "b".repeat(60_000)), 200),
    ];
    for (headers, expected) in cases {
        let mut stream = connect(&app).await;
        let request = format!("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
        let _ = stream.write_all(request.as_bytes()).await;
        let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        assert!(closed.is_some(), "still open: {answer:.80}");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a response");
        let status: u16 = head[9..12].parse().expect("status");
        assert_eq!(
            status,
            expected,
            "{} bytes of headers: {head}",
            headers.len()
        );
        if expected == 431 {
            assert!(
                head.to_ascii_lowercase()
                    .contains("x-content-type-options: nosniff")
            );
            let body: serde_json::Value = serde_json::from_str(body).expect("json body");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("64 KiB") && message.contains("100 header fields"),
                "{body}"
            );
        }
    }
}

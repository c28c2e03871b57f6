//! Issue 21, rows 2 and 9: one client, connection or account gets its share of what is
//! shared, and the others are served meanwhile.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{connections::app_with, helpers::TestApp};

/// `count` todos of `desc_length` characters each, for `token`'s account.
async fn store_todos(app: &TestApp, token: &str, count: usize, desc_length: usize) {
    let desc = "d".repeat(desc_length);
    for index in 0..count {
        app.create_todo(token, json!({"title": format!("t{index}"), "desc": desc}))
            .await;
    }
}

/// A connection with a 4 KiB receive buffer (so that a large answer cannot sit in the kernel)
/// that has asked for `path`.
pub(crate) async fn ask(app: &TestApp, path: &str, token: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let address = app
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let mut stream = socket.connect(address).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("write");
    stream
}

/// The status of the answer on `stream`, reading only its first bytes.
async fn status_of(stream: &mut TcpStream) -> u16 {
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut head))
        .await
        .expect("an answer")
        .expect("read");
    std::str::from_utf8(&head[9..12])
        .expect("status")
        .parse()
        .expect("status")
}

/// Row 2: an account whose lists are read slowly (here: not at all) holds at most a quarter
/// of the response memory; another user's lists are all served meanwhile. (Before: seven such
/// connections held the whole budget, and every other list was 503 `BUSY`.)
#[tokio::test]
async fn an_account_that_does_not_read_its_lists_holds_only_its_share() {
    // 48 MiB of response memory: an account holds at most 12 MiB.
    let app = app_with(|config| {
        config.response_memory_mb = 48;
        config.send_timeout = 60;
    })
    .await;
    let attacker = app.token_for("hoarder@example.com").await;
    let victim = app.token_for("victim@example.com").await;
    // ~8 MB lists (more than the kernel's buffers take; within the share, counted in chunks
    // of their capacity), and a ~2 MB one.
    store_todos(&app, &attacker, 400, 20_000).await;
    store_todos(&app, &victim, 100, 20_000).await;
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let mut stream = ask(&app, "/todos", &attacker).await;
        statuses.push(status_of(&mut stream).await);
        held.push(stream);
    }
    // One of the attacker's lists fits in its share, the next ones do not.
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!(
        statuses[1..].iter().all(|&status| status == 503),
        "{statuses:?}"
    );
    // Meanwhile the victim's lists are all served.
    for _ in 0..8 {
        let list = app.get_json("/todos", &victim).await;
        assert_eq!(list.as_array().map(Vec::len), Some(100));
    }
    drop(held);
    // The attacker's memory comes back: its list is served again.
    crate::helpers::eventually(
        Duration::from_secs(10),
        "the share given back",
        async || {
            app.call(reqwest::Method::GET, "/todos", &attacker, None)
                .await
                .status()
                == reqwest::StatusCode::OK
        },
    )
    .await;
}

/// Reads `stream` at about `rate` bytes a second until it closes or `limit` passes: the bytes
/// read, and when it closed.
async fn read_slowly(
    stream: &mut TcpStream,
    rate: usize,
    limit: Duration,
) -> (usize, Option<Duration>) {
    let started = Instant::now();
    let step = Duration::from_millis(100);
    let mut buffer = vec![0u8; rate / 10];
    let mut read = 0;
    while started.elapsed() < limit {
        match tokio::time::timeout(step, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return (read, Some(started.elapsed())),
            Ok(Ok(n)) => read += n,
            Err(_) => {}
        }
        tokio::time::sleep(step).await;
    }
    (read, None)
}

/// Row 2: a client that reads its list, but slower than the minimum send rate, loses its
/// connection after about the send timeout, and at once: the connection is reset, so what
/// the kernel still held for it (megabytes) is not sent on for as long as it reads. One that
/// reads at its pace gets the whole list.
#[tokio::test]
async fn a_client_that_reads_slower_than_the_minimum_rate_loses_its_connection() {
    let app = app_with(|config| {
        config.send_timeout = 2;
        config.min_send_rate = 32;
    })
    .await;
    let token = app.token_for("slow@example.com").await;
    // ~6 MB: more than the kernel's buffers take.
    store_todos(&app, &token, 300, 20_000).await;
    let mut stream = ask(&app, "/todos", &token).await;
    // 8 KB a second, a quarter of the minimum.
    let (read, closed) = read_slowly(&mut stream, 8 * 1024, Duration::from_secs(10)).await;
    let closed = closed.expect("the slow reader is still connected after 10 s");
    assert!(closed >= Duration::from_secs(2), "cut after {closed:?}");
    assert!(read < 300 * 20_000, "the whole list arrived ({read} bytes)");
    // Read at once, the same list arrives whole.
    let list = app.get_json("/todos", &token).await;
    assert_eq!(list.as_array().map(Vec::len), Some(300));
}

/// Row 9: `connections` clients from 127.0.0.2 that ask `/whoAmI` with a bad token without
/// pause for `seconds`: how many refusals they got.
async fn loop_on_refusals(app: &TestApp, connections: usize, seconds: u64) -> usize {
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut loops = Vec::new();
    for _ in 0..connections {
        let url = format!("{}/whoAmI", app.address);
        loops.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
                .build()
                .expect("client");
            let mut refused = 0;
            while Instant::now() < until {
                let response = client
                    .get(&url)
                    .bearer_auth("not-a-token")
                    .send()
                    .await
                    .expect("an answer");
                assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
                refused += 1;
            }
            refused
        }));
    }
    let mut refused = 0;
    for one in loops {
        refused += one.await.expect("loop");
    }
    refused
}

/// Row 9: a client that loops on refusals, ignoring `Retry-After`, gets 10 a second (20 at
/// once), then each is held back for its turn (at most 2 s); another address's reads and its
/// first refusal are never held back. Without pacing the same loops get thousands.
#[tokio::test]
async fn a_client_looping_on_refusals_is_held_back_and_others_are_not() {
    let app = app_with(|_| {}).await;
    let token = app.token_for("reader@example.com").await;
    let reads = async {
        let mut slowest = Duration::ZERO;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            let started = Instant::now();
            let response = app.call(reqwest::Method::GET, "/todos", &token, None).await;
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            slowest = slowest.max(started.elapsed());
        }
        slowest
    };
    let (refused, slowest) = tokio::join!(loop_on_refusals(&app, 8, 3), reads);
    // 10 a second for 3 s and a burst of 20, plus at most one per connection per 2 s.
    assert!(refused <= 30 + 20 + 8 * 3, "{refused} refusals in 3 s");
    assert!(
        slowest < Duration::from_millis(500),
        "a read took {slowest:?}"
    );
    // This address's first refusal is answered at once.
    let started = Instant::now();
    let response = app
        .get_authorized("/whoAmI", Some("Bearer not-a-token"))
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );

    let unpaced = app_with(|config| config.refusals_per_second = 0).await;
    let refused = loop_on_refusals(&unpaced, 8, 3).await;
    assert!(
        refused > 200,
        "only {refused} refusals in 3 s without pacing"
    );
}

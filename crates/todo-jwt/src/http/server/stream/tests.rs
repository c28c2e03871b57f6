//! The guards of a connection's byte stream.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::{GuardedStream, Reset, rewrite_automatic_response};

impl Reset for DuplexStream {
    fn reset_on_close(&self) {}
}

#[test]
fn hyper_error_responses_are_rewritten_and_ours_are_not() {
    let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 05:00:00 GMT\r\n\r\n";
    let rewritten =
        String::from_utf8(rewrite_automatic_response(hyper).expect("rewritten")).expect("utf-8");
    let (head, body) = rewritten.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(head.contains("\r\ndate: Mon, 30 Nov 2026 05:00:00 GMT\r\n"));
    assert!(head.contains("\r\nx-content-type-options: nosniff\r\n"));
    assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
    let body: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(body["error"]["statusCode"], 431);
    let ours =
        b"HTTP/1.1 400 Bad Request\r\nx-content-type-options: nosniff\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(rewrite_automatic_response(ours), None);
    let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
    assert_eq!(rewrite_automatic_response(with_body), None);
    let success = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(rewrite_automatic_response(success), None);
}

/// Writes 64 KiB through a guarded stream (send timeout 1 s) to a reader that takes 512 bytes
/// every 100 ms (5 KiB/s): how many bytes were written before the stream gave up, if it did.
async fn write_to_a_slow_reader(min_rate: u64) -> Result<usize, usize> {
    let (writer, mut reader) = tokio::io::duplex(1024);
    let mut writer = GuardedStream::new(writer, Duration::from_secs(1), min_rate);
    tokio::spawn(async move {
        let mut buffer = [0u8; 512];
        while reader.read(&mut buffer).await.is_ok_and(|n| n > 0) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut written = 0;
    while written < 64 * 1024 {
        match writer.write(&[b'x'; 4096]).await {
            Ok(n) => written += n,
            Err(error) => {
                assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
                return Err(written);
            }
        }
    }
    Ok(written)
}

#[tokio::test(start_paused = true)]
async fn a_reader_slower_than_the_minimum_rate_runs_out_of_waiting() {
    // 5 KiB/s against 10 KiB/s: each second of waiting earns half a second, so the allowance
    // (the send timeout, 1 s) lasts about two seconds: about 10 KiB.
    let started = tokio::time::Instant::now();
    let written = write_to_a_slow_reader(10 * 1024)
        .await
        .expect_err("given up");
    assert!(
        (6 * 1024..16 * 1024).contains(&written),
        "{written} bytes written"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Faster than the minimum (5 KiB/s against 4 KiB/s), or no minimum: it all goes through,
    // although it takes far longer than the send timeout.
    assert_eq!(write_to_a_slow_reader(4 * 1024).await, Ok(64 * 1024));
    assert_eq!(write_to_a_slow_reader(0).await, Ok(64 * 1024));
}

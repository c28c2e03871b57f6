//! The response memory budget: shares, chunks, and memory given back.

use super::{GRAIN, ResponseMemory};

#[test]
fn memory_is_held_by_the_bytes_and_refused_beyond_the_budget() {
    // 16 grains; an account may hold 4.
    let memory = ResponseMemory::new(16 * GRAIN);
    let list = |account| {
        let mut body = memory.body(account);
        body.write(|bytes| bytes.extend_from_slice(&[b'x'; 4 * GRAIN]));
        body.into_json_response()
    };
    let held: Vec<_> = ["a", "b", "c", "d"]
        .map(|account| list(account).expect("within the budget"))
        .into();
    // While their bytes live, the budget is spent, whoever asks.
    assert!(list("e").is_err());
    drop(held);
    assert!(list("e").is_ok());
}

#[test]
fn one_account_holds_at_most_a_quarter_and_others_keep_the_rest() {
    // 64 grains: an account may hold 16 beyond the first of each list.
    let memory = ResponseMemory::new(64 * GRAIN);
    let todo = vec![b'x'; 30 * 1024];
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..4 {
        let mut body = memory.body("attacker");
        for _ in 0..(8 * GRAIN / todo.len()) {
            body.write(|bytes| bytes.extend_from_slice(&todo));
        }
        match body.into_json_response() {
            Ok(response) => held.push(response),
            Err(_) => refused += 1,
        }
        let charged = memory
            .accounts
            .held
            .lock()
            .expect("lock")
            .get("attacker")
            .copied();
        assert!(charged.is_some_and(|grains| grains <= 16), "{charged:?}");
    }
    assert!(
        !held.is_empty() && refused > 0,
        "{} held, {refused} refused",
        held.len()
    );
    assert!(memory.grains.available_permits() >= 64 - 16 - 4);
    // Another account gets the rest.
    let mut victim = memory.body("victim");
    for _ in 0..(8 * GRAIN / todo.len()) {
        assert!(victim.write(|bytes| bytes.extend_from_slice(&todo)));
    }
    assert!(victim.into_json_response().is_ok());
    drop(held);
    // Given back: the attacker's next lists fit again.
    let mut again = memory.body("attacker");
    assert!(again.write(|bytes| bytes.extend_from_slice(&[b'x'; 8 * GRAIN])));
    assert!(
        memory
            .accounts
            .held
            .lock()
            .expect("lock")
            .contains_key("attacker")
    );
    drop(again);
    assert!(memory.accounts.held.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_list_gives_its_memory_back_as_its_chunks_are_written() {
    use http_body_util::BodyExt;
    let memory = ResponseMemory::new(256 * GRAIN);
    let mut body = memory.body("reader");
    let todo = vec![b'x'; 16 * 1024];
    for _ in 0..(2 * 1024 * 1024 / todo.len()) {
        assert!(body.write(|bytes| bytes.extend_from_slice(&todo)));
    }
    let response = body.into_json_response().expect("within the budget");
    assert_eq!(
        hyper::body::Body::size_hint(response.body()).exact(),
        Some(2 * 1024 * 1024)
    );
    let free = || memory.grains.available_permits();
    let mut body = response.into_body();
    let before = free();
    assert!(
        before <= 256 - 32,
        "the list holds its 2 MiB: {before} grains free"
    );
    let mut read = 0;
    while let Some(frame) = body.frame().await {
        let chunk = frame.expect("infallible").into_data().expect("data");
        read += chunk.len();
        drop(chunk);
        if read < 1024 * 1024 {
            continue;
        }
        // Half of it written: at least a third of its memory back.
        assert!(
            free() >= before + 10,
            "{} grains free after {read} bytes",
            free()
        );
        break;
    }
    drop(body);
    assert_eq!(free(), 256);
}

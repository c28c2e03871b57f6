//! The service's log writer: request threads append their lines to one buffer, and a thread of
//! its own writes the buffer out every [`INTERVAL`] at most, in one `write`.
//!
//! Why not `tracing-appender`'s non-blocking writer: it hands each line over a channel and
//! wakes the writing thread for it. Measured with `strace -c -f` over 2,000 sequential
//! `GET /todos` at `info`: per request, 0.8 `futex` calls and 2.6 `sched_yield` (the channel's
//! receiver spinning before it sleeps), besides the `write` of the line. Here a line costs a
//! short lock and a copy; the writing thread is woken once per batch.
//!
//! A request thread never waits for the output. When the output stalls (a pipe nobody reads,
//! a log shipper that hangs) and [`MAX_BUFFERED`] bytes are waiting, further lines are dropped
//! and counted (`log_lines_dropped_total`, and a warning once the output moves again): the
//! service goes on answering, health checks and signals included, rather than stopping behind
//! its log. Lines are written in the order they were appended. A `kill -9` loses what is
//! buffered (the last [`INTERVAL`] of lines, more when the output is slow); a clean stop writes
//! all of it ([`Flusher`]'s drop).

use std::{
    io::Write,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// How long lines wait in the buffer at most before they are written (under load, the
/// writing thread wakes this often; idle, not at all).
const INTERVAL: Duration = Duration::from_millis(20);

/// The bytes the buffer holds at most; lines past it are dropped until it is written.
const MAX_BUFFERED: usize = 4 << 20;

struct Shared<W> {
    /// The lines not yet handed to the output.
    buffer: Mutex<Vec<u8>>,
    /// The output, held while a batch is written (so batches keep their order).
    output: Mutex<W>,
    stop: AtomicBool,
    /// Lines dropped since the last warning about it.
    dropped: AtomicU64,
}

impl<W: Write> Shared<W> {
    /// Takes what is buffered and writes it, in order with every other batch. A line that
    /// cannot be written (stderr on a full disk) is dropped, as `tracing` drops it.
    fn flush(&self) {
        let mut output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        let batch =
            std::mem::take(&mut *self.buffer.lock().unwrap_or_else(PoisonError::into_inner));
        if !batch.is_empty() {
            let _ = output.write_all(&batch);
            let _ = output.flush();
        }
    }
}

/// The writer the subscriber formats into: see the module's documentation.
pub struct BatchWriter<W> {
    shared: Arc<Shared<W>>,
    thread: std::thread::Thread,
}

/// Keeps the writing thread; dropping it writes what is left and stops the thread.
pub struct Flusher<W: Write + Send + 'static> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

/// A writer to `output` and its flusher (keep it until the process ends); the error when the
/// writing thread cannot be started.
pub fn batched<W: Write + Send + 'static>(
    output: W,
) -> std::io::Result<(BatchWriter<W>, Flusher<W>)> {
    let shared = Arc::new(Shared {
        buffer: Mutex::new(Vec::with_capacity(64 * 1024)),
        output: Mutex::new(output),
        stop: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    let writing = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            loop {
                // Woken by the first line after a write (or by the stop).
                std::thread::park();
                if writing.stop.load(Ordering::Acquire) {
                    break;
                }
                // Lets the lines of a burst gather into one write.
                std::thread::sleep(INTERVAL);
                writing.flush();
                let dropped = writing.dropped.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    tracing::warn!(
                        dropped,
                        "log lines dropped: the log's output did not keep up"
                    );
                }
            }
            writing.flush();
        })?;
    let writer = BatchWriter {
        shared: shared.clone(),
        thread: thread.thread().clone(),
    };
    Ok((
        writer,
        Flusher {
            shared,
            thread: Some(thread),
        },
    ))
}

/// How long a stop waits for the last lines to be written: an output that stalls (a pipe
/// nobody reads) must not keep the process from exiting.
const LAST_WRITE: Duration = Duration::from_secs(1);

impl<W: Write + Send + 'static> Drop for Flusher<W> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let Some(thread) = self.thread.take() else {
            return;
        };
        thread.thread().unpark();
        let deadline = std::time::Instant::now() + LAST_WRITE;
        while !thread.is_finished() {
            if std::time::Instant::now() > deadline {
                // Stuck writing: the process exits without the rest.
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = thread.join();
        // Lines logged after the thread's last write (by another thread, late).
        self.shared.flush();
    }
}

/// One line being written.
pub struct Line<'a, W> {
    writer: &'a BatchWriter<W>,
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let shared = &self.writer.shared;
        let first = {
            let mut buffer = shared.buffer.lock().unwrap_or_else(PoisonError::into_inner);
            if buffer.len() + bytes.len() > MAX_BUFFERED {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("log_lines_dropped_total").increment(1);
                return Ok(bytes.len());
            }
            let first = buffer.is_empty();
            buffer.extend_from_slice(bytes);
            first
        };
        if first {
            // No system call unless the writing thread is asleep.
            self.writer.thread.unpark();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'static> MakeWriter<'a> for BatchWriter<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        Line { writer: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_are_all_written_whole_and_in_each_threads_order() {
        let output = Shared::default();
        let (writer, flusher) = batched(output.clone()).expect("thread");
        let writer = Arc::new(writer);
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for line in 0..20_000 {
                        writer
                            .make_writer()
                            .write_all(format!("{thread} {line}\n").as_bytes())
                            .expect("write");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("join");
        }
        drop(flusher);
        let text = String::from_utf8(output.0.lock().expect("lock").clone()).expect("utf-8");
        let mut next = [0; 4];
        for line in text.lines() {
            let (thread, number) = line.split_once(' ').expect("a whole line");
            let thread: usize = thread.parse().expect("thread");
            assert_eq!(number.parse::<usize>().expect("number"), next[thread]);
            next[thread] += 1;
        }
        assert_eq!(next, [20_000; 4], "every line written, none twice");
    }

    /// An output that blocks until released, as a pipe nobody reads.
    struct Stalled(Arc<(Mutex<bool>, std::sync::Condvar)>, Shared);

    impl Write for Stalled {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let (released, wake) = &*self.0;
            let mut released = released.lock().expect("lock");
            while !*released {
                released = wake.wait(released).expect("wait");
            }
            self.1.write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_drops_lines_past_the_bound_and_never_blocks_the_caller() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let output = Shared::default();
        let (writer, flusher) = batched(Stalled(gate.clone(), output.clone())).expect("thread");
        let line = [b'x'; 1023]
            .iter()
            .copied()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        let started = std::time::Instant::now();
        // 16 MiB of lines while the output is stuck: at most 4 MiB (plus the batch the
        // writing thread holds) is kept, and the caller never waits.
        for _ in 0..16 * 1024 {
            writer.make_writer().write_all(&line).expect("write");
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the caller waited"
        );
        assert!(
            writer.shared.dropped.load(Ordering::Relaxed) > 0,
            "nothing dropped"
        );
        // A stop while the output is stuck does not wait for it beyond its second.
        let stopping = std::time::Instant::now();
        let (tell, stopped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(flusher);
            let _ = tell.send(());
        });
        stopped
            .recv_timeout(Duration::from_secs(5))
            .expect("the stop returned");
        assert!(
            stopping.elapsed() >= LAST_WRITE,
            "it did not wait for the output"
        );
        *gate.0.lock().expect("lock") = true;
        gate.1.notify_all();
        // The writing thread finishes its batch once released.
        std::thread::sleep(Duration::from_millis(100));
        let written = output.0.lock().expect("lock").len();
        assert!(
            written <= 2 * MAX_BUFFERED + line.len(),
            "{written} bytes kept"
        );
        assert_eq!(written % line.len(), 0, "a line was cut");
    }

    #[test]
    fn an_idle_writer_writes_a_line_within_its_interval() {
        let output = Shared::default();
        let (writer, _flusher) = batched(output.clone()).expect("thread");
        writer.make_writer().write_all(b"one\n").expect("write");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while output.0.lock().expect("lock").is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(&*output.0.lock().expect("lock"), b"one\n");
    }
}

//! Memory for large response bodies (todo lists), shared by every request: a list is built
//! in memory, and a client that does not read holds it until the send timeout, so without a
//! bound twenty such clients held gigabytes. Each list takes its share as it grows; the share
//! travels with the bytes and comes back when the last of them has been written (or the
//! connection dropped). A list that cannot get its share is a 503 (`Retry-After`), never an
//! unbounded allocation.

use std::sync::Arc;

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::error::ApiError;

/// Memory is taken in grains of this many bytes (one permit each).
const GRAIN: usize = 64 * 1024;

/// The budget for response bodies, over all requests.
#[derive(Clone, Debug)]
pub struct ResponseMemory(Arc<Semaphore>);

impl ResponseMemory {
    /// A budget of `bytes` (at least one grain).
    pub fn new(bytes: usize) -> Self {
        let grains = (bytes / GRAIN).clamp(1, Semaphore::MAX_PERMITS);
        Self(Arc::new(Semaphore::new(grains)))
    }

    /// An empty body that takes its memory from this budget.
    pub fn body(&self) -> BoundedBody {
        BoundedBody {
            bytes: Vec::new(),
            memory: Arc::clone(&self.0),
            held: None,
            spent: false,
        }
    }
}

/// A response body being written, within the budget.
pub struct BoundedBody {
    bytes: Vec<u8>,
    memory: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
    /// The budget ran out: nothing more is written and the answer will be a 503.
    spent: bool,
}

impl BoundedBody {
    /// Appends what `write` writes, if the budget has room for it (after the fact: a write is
    /// at most one todo, a few tens of kilobytes). Returns whether the body is still whole.
    pub fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> bool {
        if self.spent {
            return false;
        }
        write(&mut self.bytes);
        let held = self
            .held
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits);
        let needed = self.bytes.capacity().div_ceil(GRAIN);
        if needed > held {
            let more = u32::try_from(needed - held).unwrap_or(u32::MAX);
            match Arc::clone(&self.memory).try_acquire_many_owned(more) {
                Ok(permit) => match &mut self.held {
                    Some(held) => held.merge(permit),
                    None => self.held = Some(permit),
                },
                Err(_) => {
                    // Give the memory back now, not when the request ends.
                    self.bytes = Vec::new();
                    self.held = None;
                    self.spent = true;
                }
            }
        }
        !self.spent
    }

    /// The JSON response, holding its memory until its bytes are gone; or 503 if the budget
    /// ran out while it was written.
    pub fn into_json_response(self) -> Result<Response, ApiError> {
        if self.spent {
            return Err(ApiError::ResponsesBusy);
        }
        let bytes = Bytes::from_owner(Owned {
            bytes: self.bytes,
            _memory: self.held,
        });
        Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response())
    }
}

/// The bytes and the memory they were counted against, released together.
struct Owned {
    bytes: Vec<u8>,
    _memory: Option<OwnedSemaphorePermit>,
}

impl AsRef<[u8]> for Owned {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::{GRAIN, ResponseMemory};

    #[test]
    fn memory_is_held_by_the_bytes_and_refused_beyond_the_budget() {
        let memory = ResponseMemory::new(4 * GRAIN);
        let mut first = memory.body();
        assert!(first.write(|bytes| bytes.extend_from_slice(&[b'x'; 3 * GRAIN])));
        let response = first.into_json_response().expect("within the budget");
        // While the first response's bytes live, a second one of the same size does not fit.
        let mut second = memory.body();
        assert!(!second.write(|bytes| bytes.extend_from_slice(&[b'y'; 3 * GRAIN])));
        assert!(second.into_json_response().is_err());
        drop(response);
        let mut third = memory.body();
        assert!(third.write(|bytes| bytes.extend_from_slice(&[b'z'; 3 * GRAIN])));
    }
}

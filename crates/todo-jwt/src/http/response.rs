//! Memory for large response bodies (todo lists), shared by every request: a list is built
//! in memory, and a client that reads slowly (or not at all) holds it while it is sent, so
//! without a bound twenty such clients held gigabytes. Three rules make the budget fair:
//!
//! - **a list takes its share as it grows**, from the budget of the whole service; a list that
//!   cannot get it is a 503 (`Retry-After`), never an unbounded allocation;
//! - **one account holds at most a quarter of the budget** over all its lists at once (its
//!   first 64 KiB per list excepted, so small lists never count): three connections of one
//!   account reading their lists slowly held 127 of 128 MiB, and every other user's lists
//!   were 503; now they hold 32 MiB at most, and the rest is everyone else's;
//! - **the share is charged by bytes not yet written**: the list is kept in chunks of about
//!   320 KiB, each holding its own memory, and a chunk gives it back as soon as it has been
//!   handed to the connection. A client that reads slowly holds only what it has not read.

use std::{
    collections::{HashMap, VecDeque},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::error::ApiError;

/// Memory is taken in grains of this many bytes (one permit each).
const GRAIN: usize = 64 * 1024;

/// A chunk of a list is handed over, before the next todo is written, once it holds this many
/// bytes, or at least a grain and too little room for a todo as large as the largest so far
/// (so chunks rarely grow: grown by doubling, they held twice what they used). The last chunk
/// holds the closing bracket.
const CHUNK: usize = 192 * 1024;

/// The fraction of the budget one account may hold: 1 / `ACCOUNT_SHARE`.
const ACCOUNT_SHARE: usize = 4;

/// The budget for response bodies, over all requests.
#[derive(Clone, Debug)]
pub struct ResponseMemory {
    grains: Arc<Semaphore>,
    accounts: Arc<Accounts>,
}

/// The grains each account holds beyond the first of each of its lists.
#[derive(Debug)]
struct Accounts {
    held: Mutex<HashMap<Arc<str>, usize>>,
    /// The most one account may hold.
    limit: usize,
}

impl Accounts {
    /// Charges `grains` more to `account`, if its share has room for them.
    fn charge(&self, account: &Arc<str>, grains: usize) -> bool {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let entry = held.entry(Arc::clone(account)).or_default();
        if *entry + grains > self.limit {
            if *entry == 0 {
                held.remove(account);
            }
            return false;
        }
        *entry += grains;
        true
    }

    fn release(&self, account: &Arc<str>, grains: usize) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(entry) = held.get_mut(account) {
            *entry = entry.saturating_sub(grains);
            if *entry == 0 {
                held.remove(account);
            }
        }
    }
}

impl ResponseMemory {
    /// A budget of `bytes` (at least one grain; an account may hold a quarter of it, and at
    /// least one grain beyond each list's first).
    pub fn new(bytes: usize) -> Self {
        let grains = (bytes / GRAIN).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            grains: Arc::new(Semaphore::new(grains)),
            accounts: Arc::new(Accounts {
                held: Mutex::default(),
                limit: (grains / ACCOUNT_SHARE).max(1),
            }),
        }
    }

    /// An empty body for `account`'s list that takes its memory from this budget, within the
    /// account's share.
    pub fn body<'a>(&self, account: &'a str) -> BoundedBody<'a> {
        BoundedBody {
            chunks: VecDeque::new(),
            current: Vec::new(),
            memory: self.clone(),
            account: Account::Named(account),
            held: Held::default(),
            largest: 0,
            first_grain_free: true,
            spent: false,
        }
    }
}

/// A response body being written, within the budget.
pub struct BoundedBody<'a> {
    /// Chunks handed over, each holding its memory.
    chunks: VecDeque<Bytes>,
    /// The chunk being written.
    current: Vec<u8>,
    memory: ResponseMemory,
    account: Account<'a>,
    /// What `current` holds.
    held: Held,
    /// The largest write so far (a chunk is handed over before a write like it would make it
    /// grow).
    largest: usize,
    /// Whether the list's first grain is still uncharged to the account (it never is).
    first_grain_free: bool,
    /// The budget ran out: nothing more is written and the answer will be a 503.
    spent: bool,
}

/// Whose list a body is: its name is copied for the chunks once one is charged (most lists
/// never are, and cost no allocation for it).
enum Account<'a> {
    Named(&'a str),
    Shared(Arc<str>),
}

impl Account<'_> {
    fn shared(&mut self) -> &Arc<str> {
        if let Self::Named(name) = self {
            *self = Self::Shared(Arc::from(*name));
        }
        match self {
            Self::Shared(shared) => shared,
            Self::Named(_) => unreachable!("just shared"),
        }
    }
}

/// The memory one chunk holds: grains of the whole budget, and how many of them are charged
/// to an account (given back to both when the chunk is dropped).
#[derive(Default)]
struct Held {
    grains: Option<OwnedSemaphorePermit>,
    charged: Option<(Arc<Accounts>, Arc<str>, usize)>,
}

impl Held {
    fn grains(&self) -> usize {
        self.grains
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((accounts, account, grains)) = self.charged.take() {
            accounts.release(&account, grains);
        }
    }
}

impl BoundedBody<'_> {
    /// Appends what `write` writes, if the budget and the account's share have room for it
    /// (after the fact: a write is at most one todo, a few hundred kilobytes at most). Returns
    /// whether the body is still whole.
    pub fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> bool {
        if self.spent {
            return false;
        }
        let (length, room) = (
            self.current.len(),
            self.current.capacity() - self.current.len(),
        );
        if length >= CHUNK || (length >= GRAIN && room < self.largest) {
            self.hand_over();
        }
        let before = self.current.len();
        write(&mut self.current);
        self.largest = self.largest.max(self.current.len() - before);
        let needed = self.current.capacity().div_ceil(GRAIN);
        let more = needed.saturating_sub(self.held.grains());
        if more > 0 && !self.take(more) {
            // Give the memory back now, not when the request ends.
            self.chunks = VecDeque::new();
            self.current = Vec::new();
            self.held = Held::default();
            self.spent = true;
            return false;
        }
        true
    }

    /// Takes `more` grains for the current chunk.
    fn take(&mut self, more: usize) -> bool {
        let free = usize::from(std::mem::take(&mut self.first_grain_free));
        let charge = more - free.min(more);
        if charge > 0 {
            let accounts = &self.memory.accounts;
            let account = self.account.shared();
            if !accounts.charge(account, charge) {
                return false;
            }
            match &mut self.held.charged {
                Some((_, _, grains)) => *grains += charge,
                None => {
                    self.held.charged = Some((Arc::clone(accounts), Arc::clone(account), charge));
                }
            }
        }
        let Ok(permit) = Arc::clone(&self.memory.grains)
            .try_acquire_many_owned(u32::try_from(more).unwrap_or(u32::MAX))
        else {
            return false;
        };
        match &mut self.held.grains {
            Some(held) => held.merge(permit),
            None => self.held.grains = Some(permit),
        }
        true
    }

    /// Appends the list's last bytes (its closing bracket): into the current chunk's spare
    /// room when they fit, where no more memory is needed; otherwise as any write.
    pub fn finish_with(&mut self, last: &[u8]) -> bool {
        if self.spent {
            return false;
        }
        if self.current.capacity() - self.current.len() >= last.len() {
            self.current.extend_from_slice(last);
            return true;
        }
        self.write(|bytes| bytes.extend_from_slice(last))
    }

    /// Makes the current chunk a finished one, with its memory, and starts the next with room
    /// for two todos as large as the largest so far (whole grains, from one to five).
    fn hand_over(&mut self) {
        let room = (2 * self.largest).div_ceil(GRAIN).clamp(1, 5) * GRAIN;
        let bytes = std::mem::replace(&mut self.current, Vec::with_capacity(room));
        let held = std::mem::take(&mut self.held);
        self.chunks
            .push_back(Bytes::from_owner(Owned { bytes, _held: held }));
    }

    /// The whole body, when it is one chunk and complete: what a cache may copy.
    pub fn whole(&self) -> Option<&[u8]> {
        (!self.spent && self.chunks.is_empty()).then_some(self.current.as_slice())
    }

    /// The JSON response, holding its memory until its bytes are gone; or 503 if the budget
    /// ran out while it was written.
    pub fn into_json_response(mut self) -> Result<Response, ApiError> {
        if self.spent {
            return Err(ApiError::ResponsesBusy);
        }
        let content_type = [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )];
        if self.chunks.is_empty() {
            // One chunk (most lists): a plain body.
            let bytes = std::mem::take(&mut self.current);
            let held = std::mem::take(&mut self.held);
            return Ok((
                content_type,
                Bytes::from_owner(Owned { bytes, _held: held }),
            )
                .into_response());
        }
        let last = std::mem::take(&mut self.current);
        let held = std::mem::take(&mut self.held);
        self.chunks.push_back(Bytes::from_owner(Owned {
            bytes: last,
            _held: held,
        }));
        let remaining = self.chunks.iter().map(|chunk| chunk.len() as u64).sum();
        let chunks = Chunks {
            chunks: std::mem::take(&mut self.chunks),
            remaining,
        };
        Ok((content_type, Body::new(chunks)).into_response())
    }
}

/// The bytes and the memory they were counted against, released together.
struct Owned {
    bytes: Vec<u8>,
    _held: Held,
}

impl AsRef<[u8]> for Owned {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// A list's chunks, handed to the connection one by one (each freed once written), with their
/// total length announced.
struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let next = self.chunks.pop_front();
        if let Some(chunk) = &next {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(next.map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests;

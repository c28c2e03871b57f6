//! Giving freed memory back to the system while the service is idle.
//!
//! mimalloc (the binary's allocator, see `main.rs`) returns freed memory lazily: the purge of
//! freed ranges is scheduled with a delay (1 s) and runs at the next page free after it. A busy
//! service frees pages all the time; an idle one does not, so it kept what a burst had freed
//! for good (measured: 58 MiB after a login burst, where it started at 35; 212 MiB after the
//! stalled-upload attack). [`return_freed_memory`], called every few seconds, is such a page
//! free.

/// Larger than what mimalloc's arenas serve (32 MiB), so it is mapped and unmapped on its own:
/// freeing it is a page free, and it never reuses (and so never keeps) a freed range.
const NUDGE_BYTES: usize = 40 << 20;

/// Makes the allocator purge the memory freed more than its delay ago: one allocation that is
/// never written (so never resident) and its free. Under another allocator this costs one
/// map and unmap. Measured with `bench/login_memory.sh`: RSS back from 58 to 20 MiB 12 s after
/// the last login, where it stayed at 58 before.
pub fn return_freed_memory() {
    drop(std::hint::black_box(Vec::<u8>::with_capacity(NUDGE_BYTES)));
}

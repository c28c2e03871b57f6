//! The service's global allocator: mimalloc ([`Mimalloc`]), and the collection of the calling
//! thread's heap ([`collect`]), which Rust's allocator interface has no word for.
//!
//! This is the one crate of the workspace with `unsafe` code: an allocator is unsafe by
//! definition, and each block here is a direct call into mimalloc with its reason beside it.

use std::alloc::{GlobalAlloc, Layout};

use libmimalloc_sys as ffi;

/// The alignment every mimalloc block has, whatever its size: its blocks are whole words, and
/// its pages start on word boundaries.
const WORD_ALIGN: usize = std::mem::size_of::<usize>();

/// mimalloc as the global allocator.
///
/// Unlike the `mimalloc` crate's allocator, which asks for every block with its alignment
/// (`mi_malloc_aligned`), a block whose alignment is at most a word (nearly all of them) takes
/// the plain path (`mi_malloc`). mimalloc 3's aligned path serves a block over 1 KiB whose size
/// is not a power of two by over-allocating and offsetting it, even at alignment 8: a request's
/// boxed futures took that path, and allocation cost 3,900 instructions of a 45,000-instruction
/// `GET /whoAmI` (callgrind).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mimalloc;

fn plain(layout: Layout) -> bool {
    layout.align() <= WORD_ALIGN
}

// SAFETY: every block comes from mimalloc and goes back to it (`mi_free` takes blocks from any of
// its allocation functions); the plain path is taken only for alignments every mimalloc block
// has (`WORD_ALIGN`), and the aligned functions for the others, so each block has its layout's
// alignment.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's allocation functions take any size and alignment (a power of two,
        // as every `Layout`'s is) and return null when they cannot allocate.
        unsafe {
            if plain(layout) {
                ffi::mi_malloc(layout.size()).cast()
            } else {
                ffi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if plain(layout) {
                ffi::mi_zalloc(layout.size()).cast()
            } else {
                ffi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the caller passes a block this allocator returned (`GlobalAlloc`'s contract).
        unsafe { ffi::mi_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is a block of this allocator with `layout` (`GlobalAlloc`'s contract);
        // the block keeps `layout`'s alignment, which the plain path has for any size.
        unsafe {
            if plain(layout) {
                ffi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                ffi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// Frees what the calling thread's heap holds but no longer uses: blocks other threads freed
/// into its pages, its empty pages, and (process-wide) the arena ranges whose purge delay has
/// passed.
///
/// mimalloc gives each thread its own heap. A block freed by another thread is only queued on
/// the page it came from; the owning thread takes it back when it next allocates from that page,
/// and gives an empty page back when it next collects. An idle thread does neither, so what
/// others freed into its pages stays resident while it idles; this is that collection.
///
/// Cheap when there is nothing to do (a walk over the heap's page queues). A no-op in effect when
/// mimalloc is not the global allocator (it then only sets up an empty heap for the thread).
#[allow(unsafe_code)]
pub fn collect() {
    // SAFETY: `mi_collect` takes no pointer and has no precondition: any thread may call it at
    // any time (mimalloc documents it for this case, a thread whose blocks others free), and
    // with `force = false` it returns only memory that is free.
    unsafe { ffi::mi_collect(false) }
}

#[cfg(test)]
mod tests;

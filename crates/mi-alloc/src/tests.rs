use std::{sync::mpsc, thread, time::Duration};

#[global_allocator]
static GLOBAL: super::Mimalloc = super::Mimalloc;

/// Resident memory of this process, from `/proc/self/statm` (pages of 4 KiB).
fn resident_mib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("rss");
    (pages * 4096) >> 20
}

/// The service's case: a thread allocates, another frees, and the first then idles. Its pages
/// stay resident until it collects; after its collection (and the arena's purge delay, 1 s,
/// ended by a second collection) they are gone.
#[test]
fn what_other_threads_freed_leaves_memory_once_the_owner_collects() {
    let (blocks_tx, blocks_rx) = mpsc::channel::<Vec<Box<[u8]>>>();
    let (command_tx, command_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let owner = thread::spawn(move || {
        let blocks: Vec<Box<[u8]>> = (0..256 * 1024).map(|i| vec![i as u8; 256].into()).collect();
        blocks_tx.send(blocks).expect("send");
        while command_rx.recv().is_ok() {
            super::collect();
            done_tx.send(()).expect("done");
        }
    });
    let blocks = blocks_rx.recv().expect("blocks");
    let holding = resident_mib();
    drop(blocks);
    let freed_elsewhere = resident_mib();
    command_tx.send(()).expect("collect");
    done_rx.recv().expect("collected");
    thread::sleep(Duration::from_millis(1100));
    command_tx.send(()).expect("collect");
    done_rx.recv().expect("collected");
    let collected = resident_mib();
    drop(command_tx);
    owner.join().expect("owner");
    assert!(
        freed_elsewhere + 32 > holding,
        "64 MiB freed by another thread were expected to stay resident until the owner collects: \
         {holding} MiB -> {freed_elsewhere} MiB"
    );
    assert!(
        collected + 48 < freed_elsewhere,
        "the owner's collection gave back too little: {freed_elsewhere} MiB -> {collected} MiB"
    );
}

/// Every alignment a `Layout` can ask for, on both paths, at sizes across mimalloc's size
/// classes (small, over 1 KiB and not a power of two, large): each block has its alignment,
/// keeps its bytes through a realloc, and zeroed blocks are zero.
#[test]
#[allow(unsafe_code)]
fn blocks_have_their_layouts_alignment_on_both_paths() {
    use std::alloc::{GlobalAlloc, Layout};
    let allocator = super::Mimalloc;
    for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
        for size in [1, 7, 8, 24, 40, 1000, 1500, 3000, 70_000, 600_000] {
            let size = size.max(align) / align * align;
            let layout = Layout::from_size_align(size, align).expect("layout");
            // SAFETY: a non-zero size; each block is written within its size and freed once
            // with its layout.
            unsafe {
                let block = allocator.alloc(layout);
                assert!(!block.is_null());
                assert_eq!(block as usize % align, 0, "size {size} align {align}");
                block.write_bytes(0xA5, size);
                let grown = allocator.realloc(block, layout, size * 3);
                assert_eq!(
                    grown as usize % align,
                    0,
                    "realloc: size {size} align {align}"
                );
                assert!(
                    (0..size).all(|i| *grown.add(i) == 0xA5),
                    "realloc kept the bytes"
                );
                let grown_layout = Layout::from_size_align(size * 3, align).expect("layout");
                allocator.dealloc(grown, grown_layout);
                let zeroed = allocator.alloc_zeroed(layout);
                assert_eq!(
                    zeroed as usize % align,
                    0,
                    "zeroed: size {size} align {align}"
                );
                assert!((0..size).all(|i| *zeroed.add(i) == 0), "zeroed");
                allocator.dealloc(zeroed, layout);
            }
        }
    }
}

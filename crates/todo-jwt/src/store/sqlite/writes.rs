//! The write count behind `Store::write_mark`: one per database file this process has open,
//! shared by every engine on the file, so that a second store on the same file in this process
//! (a second server, a test's) moves the first one's mark too. (Other processes cannot open the
//! file at all while one is open here: see `connection::Connections`.)

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
};

/// The low bits: how many writer jobs are under way on the file.
const UNDER_WAY: u64 = 0xffff;

/// One step of the count of jobs begun and ended, above [`UNDER_WAY`].
const STEP: u64 = UNDER_WAY + 1;

/// A file's count: jobs begun and ended (moved by both), and how many are under way.
#[derive(Debug, Default)]
pub(super) struct Writes(AtomicU64);

impl Writes {
    /// A writer job (a write, or a transaction on the lent connection) begins.
    pub(super) fn begin(&self) {
        self.0.fetch_add(STEP + 1, Ordering::SeqCst);
    }

    /// A writer job has ended: what it wrote is committed (or undone).
    pub(super) fn end(&self) {
        self.0.fetch_add(STEP - 1, Ordering::SeqCst);
    }

    /// The count, when no job is under way: it changes with every job that begins or ends.
    pub(super) fn mark(&self) -> Option<u64> {
        let count = self.0.load(Ordering::SeqCst);
        (count & UNDER_WAY == 0).then_some(count)
    }
}

/// The files open in this process, by their canonical path.
static FILES: Mutex<Option<HashMap<PathBuf, Weak<Writes>>>> = Mutex::new(None);

/// The count of the file at `path` (which exists), shared with every engine of this process
/// that has it open.
pub(super) fn of(path: &Path) -> std::io::Result<Arc<Writes>> {
    let path = std::fs::canonicalize(path)?;
    let mut files = FILES.lock().unwrap_or_else(PoisonError::into_inner);
    let files = files.get_or_insert_default();
    files.retain(|_, writes| writes.strong_count() > 0);
    if let Some(writes) = files.get(&path).and_then(Weak::upgrade) {
        return Ok(writes);
    }
    let writes = Arc::new(Writes::default());
    files.insert(path, Arc::downgrade(&writes));
    Ok(writes)
}

/// Whether an engine of this process has the file at `path` open.
pub(super) fn open_here(path: &Path) -> bool {
    let Ok(path) = std::fs::canonicalize(path) else {
        return false;
    };
    let files = FILES.lock().unwrap_or_else(PoisonError::into_inner);
    files
        .as_ref()
        .and_then(|files| files.get(&path))
        .is_some_and(|writes| writes.strong_count() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_absent_while_any_job_is_under_way_and_moves_with_each() {
        let writes = Writes::default();
        let idle = writes.mark().expect("idle");
        writes.begin();
        assert_eq!(writes.mark(), None);
        // A second writer (another engine on the file) begins and ends inside the first.
        writes.begin();
        writes.end();
        assert_eq!(writes.mark(), None, "the first is still under way");
        writes.end();
        let after = writes.mark().expect("idle again");
        assert_ne!(after, idle);
        assert_eq!(after, idle + 4 * STEP);
    }

    #[test]
    fn engines_on_one_file_share_its_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shared.sqlite3");
        std::fs::write(&path, b"").expect("file");
        assert!(!open_here(&path));
        let first = of(&path).expect("count");
        // Through another spelling of the same path.
        let second = of(&dir.path().join(".").join("shared.sqlite3")).expect("count");
        assert!(Arc::ptr_eq(&first, &second));
        assert!(open_here(&path));
        drop((first, second));
        assert!(!open_here(&path));
    }
}

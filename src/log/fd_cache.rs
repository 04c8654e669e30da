//! The descriptors of inactive segments' `.log` files, opened on demand
//! and kept in one small process-wide cache (Kafka keeps every segment
//! open and asks for a huge `ulimit -n`; runnel keeps the active segment's
//! files open and at most [`CAPACITY`] others).
//!
//! An inactive segment holds no descriptor: a read asks the cache, which
//! opens the file read-only if needed and, when full, closes the least
//! recently used entry. Entries are keyed by a segment id that is never
//! reused (not by path: the cleaner puts new files under old names). A
//! reader keeps its `Arc<File>` (a fetch's zero-copy send), so an entry
//! closed by the cache stays open until that reader is done with it.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Most descriptors of inactive segments kept open at once.
pub const CAPACITY: usize = 128;

struct Cache {
    /// Bumped at each use; an entry's tick says when it was last used.
    tick: u64,
    files: HashMap<u64, (Arc<File>, u64)>,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh segment id for [`get`] and [`forget`].
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

fn with_cache<T>(f: impl FnOnce(&mut Cache) -> T) -> T {
    let mut guard = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = guard.get_or_insert_with(|| Cache {
        tick: 0,
        files: HashMap::new(),
    });
    f(cache)
}

/// The open `.log` file of segment `id` at `path`, opened read-only if the
/// cache does not hold it.
pub(crate) fn get(id: u64, path: &Path) -> std::io::Result<Arc<File>> {
    let hit = with_cache(|c| {
        c.tick += 1;
        let tick = c.tick;
        c.files.get_mut(&id).map(|(file, used)| {
            *used = tick;
            file.clone()
        })
    });
    if let Some(file) = hit {
        return Ok(file);
    }
    // Opened without the lock held: an open can wait on the disk.
    let file = Arc::new(File::open(path)?);
    let (file, evicted) = with_cache(|c| {
        c.tick += 1;
        let mut evicted = None;
        if c.files.len() >= CAPACITY && !c.files.contains_key(&id) {
            let oldest = c
                .files
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k);
            evicted = oldest.and_then(|k| c.files.remove(&k));
        }
        let tick = c.tick;
        // Another reader may have opened it meanwhile: keep one.
        let kept = c.files.entry(id).or_insert((file, tick)).0.clone();
        (kept, evicted)
    });
    // The evicted descriptor closes here, outside the lock.
    drop(evicted);
    Ok(file)
}

/// Closes segment `id`'s cached descriptor (the segment became active
/// again, was deleted or dropped).
pub(crate) fn forget(id: u64) {
    let removed = with_cache(|c| c.files.remove(&id));
    drop(removed);
}

/// Descriptors the cache holds.
pub fn open_count() -> usize {
    with_cache(|c| c.files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_capacity_and_reuses_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        let ids: Vec<u64> = (0..CAPACITY + 10).map(|_| next_id()).collect();
        let first = get(ids[0], &path).unwrap();
        assert!(Arc::ptr_eq(&first, &get(ids[0], &path).unwrap()));
        for &id in &ids {
            get(id, &path).unwrap();
        }
        // Other tests share the cache: only its bound is certain.
        assert!(open_count() <= CAPACITY);
        for &id in &ids {
            forget(id);
        }
        // A descriptor handed out stays usable after eviction.
        assert_eq!(first.metadata().unwrap().len(), 1);
    }
}

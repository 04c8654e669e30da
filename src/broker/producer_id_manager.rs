//! Producer ids handed out by InitProducerId (Kafka's `ProducerIdManager`):
//! allocated in blocks of [`BLOCK_SIZE`] whose end is persisted in the data
//! directory's `producer-id-block` file before any id of the block is
//! handed out, so that no id is handed out twice, across restarts and
//! kill -9 included (at most the rest of a block is skipped).
//!
//! File format: one line, the decimal start of the next block not yet
//! handed out, written to a `.tmp`, fsynced, renamed over the old one and
//! the directory fsynced. A data directory without the file (new, or written
//! by a runnel that kept ids in memory, seeded from the clock in
//! milliseconds) starts at the clock in milliseconds, above every id the
//! old scheme could have given.

use crate::log::LogError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Name of the file in the data directory.
pub const PRODUCER_ID_BLOCK_FILE: &str = "producer-id-block";
/// Ids per block (Kafka's `ProducerIdsBlock` size).
pub const BLOCK_SIZE: i64 = 1000;

/// The broker's producer id allocator.
#[derive(Debug)]
pub struct ProducerIdManager {
    path: PathBuf,
    /// (next id to hand out, end of the persisted block): held only while
    /// an id is taken (and a block persisted), never across an await.
    ids: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    /// Reads `producer-id-block` in `data_dir`; nothing is handed out or
    /// written until [`Self::generate`].
    ///
    /// # Errors
    /// An unreadable or malformed file.
    pub fn open(data_dir: &Path) -> Result<Self, LogError> {
        let path = data_dir.join(PRODUCER_ID_BLOCK_FILE);
        let start = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| LogError::Corrupt {
                    path: path.clone(),
                    position: 0,
                    reason: format!("expected the next producer id block start, found {text:?}"),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => clock_ms(),
            Err(source) => return Err(LogError::Io { path, source }),
        };
        Ok(ProducerIdManager {
            path,
            ids: Mutex::new((start, start)),
        })
    }

    /// The next producer id; persists a new block first when the current
    /// one is used up.
    ///
    /// # Errors
    /// An I/O error persisting the block (no id is handed out then).
    pub fn generate(&self) -> Result<i64, LogError> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let (next, end) = *ids;
        if next >= end {
            let new_end = next + BLOCK_SIZE;
            crate::log::data_dir::write_atomic(&self.path, format!("{new_end}\n").as_bytes())?;
            ids.1 = new_end;
        }
        ids.0 = next + 1;
        Ok(next)
    }
}

fn clock_ms() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    ms & 0x0000_7fff_ffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_reopens_even_without_a_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(dir.path()).unwrap();
        let first = m.generate().unwrap();
        assert!(first > 1_600_000_000_000, "seeded from the clock: {first}");
        let text = std::fs::read_to_string(dir.path().join(PRODUCER_ID_BLOCK_FILE)).unwrap();
        assert_eq!(
            text,
            format!("{}\n", first + BLOCK_SIZE),
            "persisted before use"
        );
        let mut seen = vec![first];
        for _ in 0..1500 {
            seen.push(m.generate().unwrap());
        }
        // A "crash": the manager is dropped without anything more written.
        drop(m);
        let m = ProducerIdManager::open(dir.path()).unwrap();
        let after = m.generate().unwrap();
        assert!(after > *seen.last().unwrap());
        assert_eq!(after, first + 2 * BLOCK_SIZE);
        seen.push(after);
        let mut sorted = seen.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len());
    }

    #[test]
    fn a_malformed_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PRODUCER_ID_BLOCK_FILE), "x\n").unwrap();
        assert!(ProducerIdManager::open(dir.path()).is_err());
    }
}

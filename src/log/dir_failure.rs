//! Kafka's `LogDirFailureChannel`: how a data directory goes offline.
//!
//! After an fdatasync fails, what the page cache still holds and what
//! reached the disk is unknown (the kernel may have dropped the dirty pages
//! and will report success on the next fdatasync: "fsyncgate"), so
//! retrying is never safe. The directory is fail-stop instead: the first
//! failed fdatasync, or any write error other than a full disk, takes it
//! offline. From then on every log of the directory refuses appends and
//! reads (clients get KAFKA_STORAGE_ERROR), nothing more is acknowledged,
//! no checkpoint or clean-shutdown marker is written, and the reason is
//! logged once. The broker keeps serving everything else; a restart
//! recovers the directory from what is on disk.
//!
//! A full disk (ENOSPC, EDQUOT on a write) is not a failure of the
//! directory: the append fails cleanly and writes resume once space is
//! freed. One channel is shared by the data directory, its partition logs
//! and the group commit that syncs them.

use super::error::{LogError, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The offline state of one data directory, shared by its logs.
#[derive(Debug)]
pub struct LogDirFailureChannel {
    dir: PathBuf,
    /// Why the directory went offline; set once, never cleared.
    offline: OnceLock<String>,
}

impl LogDirFailureChannel {
    /// A channel for the data directory `dir`, online.
    pub fn new(dir: &Path) -> Arc<LogDirFailureChannel> {
        Arc::new(LogDirFailureChannel {
            dir: dir.to_path_buf(),
            offline: OnceLock::new(),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the directory offline for `reason`; the first call logs it.
    pub fn mark_offline(&self, reason: &str) {
        let mut first = false;
        self.offline.get_or_init(|| {
            first = true;
            reason.to_string()
        });
        if first {
            tracing::error!(
                "data directory {} is offline: {reason}; its partitions answer \
                 KAFKA_STORAGE_ERROR until the broker restarts",
                self.dir.display()
            );
        }
    }

    /// Whether the directory is offline.
    pub fn is_offline(&self) -> bool {
        self.offline.get().is_some()
    }

    /// [`LogError::Offline`] once the directory is offline.
    ///
    /// # Errors
    /// `LogError::Offline` with the reason, once the directory is offline.
    pub fn check(&self) -> Result<()> {
        match self.offline.get() {
            None => Ok(()),
            Some(reason) => Err(LogError::Offline {
                path: self.dir.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// Takes the directory offline if `e` is an I/O error that is not a
    /// full disk (a full disk fails only the operation that met it).
    pub fn on_io_error(&self, e: &LogError) {
        if let LogError::Io { path, source } = e
            && !is_out_of_space(source)
        {
            self.mark_offline(&format!("{}: {source}", path.display()));
        }
    }

    /// Takes the directory offline if `e` is an I/O error of any kind: for
    /// fdatasync, after which nothing is known about the unsynced data.
    pub fn on_sync_error(&self, e: &LogError) {
        if let LogError::Io { path, source } = e {
            self.mark_offline(&format!("fdatasync of {}: {source}", path.display()));
        }
    }
}

/// Whether an I/O error means "no space" (ENOSPC, or EDQUOT for a quota).
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_not_a_directory_failure_but_eio_is() {
        let ch = LogDirFailureChannel::new(Path::new("/data"));
        let io = |errno| LogError::Io {
            path: PathBuf::from("/data/t-0/00000000000000000000.log"),
            source: std::io::Error::from_raw_os_error(errno),
        };
        ch.on_io_error(&io(libc::ENOSPC));
        ch.on_io_error(&io(libc::EDQUOT));
        assert!(!ch.is_offline() && ch.check().is_ok());
        ch.on_io_error(&io(libc::EIO));
        assert!(ch.is_offline());
        ch.mark_offline("a second reason is not kept");
        match ch.check() {
            Err(LogError::Offline { reason, .. }) => assert!(reason.contains("t-0"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // An fdatasync error of any kind is fail-stop, ENOSPC included.
        let ch = LogDirFailureChannel::new(Path::new("/data"));
        ch.on_sync_error(&io(libc::ENOSPC));
        assert!(ch.is_offline());
    }
}

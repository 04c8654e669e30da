//! Group commit: many appends waiting to be durable share one fdatasync per file.
//!
//! A failed fdatasync is fail-stop: it takes the data directory offline
//! through its [`LogDirFailureChannel`] before any waiter of that round is
//! answered, and from then on every waiter gets an error, whatever later
//! fdatasyncs return (after a failure they may report success for pages
//! the kernel dropped).

use super::dir_failure::LogDirFailureChannel;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::oneshot;

/// A shared syncer: callers hand it files to fdatasync and wait; requests
/// that arrive while a sync runs are served together by the next one.
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Error of a shared sync, cloneable for every waiter.
pub type SyncError = Arc<std::io::Error>;

type Waiter = (Vec<Arc<File>>, oneshot::Sender<Result<(), SyncError>>);

struct Queue {
    waiting: Vec<Waiter>,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    rounds: AtomicU64,
    fdatasyncs: AtomicU64,
    /// The data directory to take offline when an fdatasync fails.
    failures: Option<Arc<LogDirFailureChannel>>,
}

impl GroupCommit {
    /// Starts the syncer thread.
    pub fn start() -> Arc<GroupCommit> {
        GroupCommit::start_with(None)
    }

    /// Starts the syncer thread for the files of one data directory: a
    /// failed fdatasync takes the directory offline through `failures`,
    /// and once it is offline every sync answers with an error.
    pub fn start_for(failures: Arc<LogDirFailureChannel>) -> Arc<GroupCommit> {
        GroupCommit::start_with(Some(failures))
    }

    fn start_with(failures: Option<Arc<LogDirFailureChannel>>) -> Arc<GroupCommit> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                stop: false,
            }),
            wake: Condvar::new(),
            rounds: AtomicU64::new(0),
            fdatasyncs: AtomicU64::new(0),
            failures,
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || worker.run())
            .ok();
        Arc::new(GroupCommit { shared, thread })
    }

    /// Asks for `files` to be fdatasynced; the receiver completes once a sync
    /// that started after this call has finished (usable from async code by
    /// awaiting it, or from threads with `blocking_recv`).
    pub fn sync(
        &self,
        files: Vec<Arc<File>>,
    ) -> tokio::sync::oneshot::Receiver<Result<(), SyncError>> {
        let (tx, rx) = oneshot::channel();
        if self.thread.is_none() {
            // No syncer thread: sync inline.
            let outcome = self.shared.settle(sync_files(&files, &self.shared));
            let _ = tx.send(outcome);
            return rx;
        }
        let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.waiting.push((files, tx));
        drop(q);
        self.shared.wake.notify_one();
        rx
    }

    /// Number of sync rounds run so far (each serves every waiter queued before it).
    pub fn rounds(&self) -> u64 {
        self.shared.rounds.load(Ordering::Relaxed)
    }

    /// Number of fdatasync calls made so far.
    pub fn fdatasyncs(&self) -> u64 {
        self.shared.fdatasyncs.load(Ordering::Relaxed)
    }
}

/// A file's identity (device, inode), or its address if it cannot be statted.
fn file_id(f: &Arc<File>) -> (u64, u64) {
    f.metadata()
        .map(|m| (m.dev(), m.ino()))
        .unwrap_or((u64::MAX, Arc::as_ptr(f) as u64))
}

/// Starts writing `f`'s dirty pages without waiting for them
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Not a durability point: an
/// error shows again in the fdatasync that follows.
fn start_writeback(f: &File) {
    // SAFETY: sync_file_range on a valid descriptor; 0, 0 means the whole file.
    unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

fn sync_files(files: &[Arc<File>], shared: &Shared) -> Result<(), SyncError> {
    for f in files {
        shared.fdatasyncs.fetch_add(1, Ordering::Relaxed);
        super::fail_points::inject("group_commit::fdatasync")
            .and_then(|()| f.sync_data())
            .map_err(Arc::new)?;
    }
    Ok(())
}

impl Shared {
    /// The answer for one waiter whose own sync gave `outcome`: an error
    /// takes the directory offline, and an offline directory fails every
    /// waiter, even one whose fdatasync reported success.
    fn settle(&self, outcome: Result<(), SyncError>) -> Result<(), SyncError> {
        let Some(failures) = &self.failures else {
            return outcome;
        };
        if let Err(e) = &outcome {
            failures.mark_offline(&format!("fdatasync failed: {e}"));
        }
        match failures.check() {
            Ok(()) => outcome,
            Err(offline) => Err(outcome
                .err()
                .unwrap_or_else(|| Arc::new(std::io::Error::other(offline.to_string())))),
        }
    }

    /// Whether the directory is already offline (nothing to sync for).
    fn offline(&self) -> bool {
        self.failures.as_ref().is_some_and(|f| f.is_offline())
    }

    fn run(&self) {
        loop {
            let batch = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                while q.waiting.is_empty() && !q.stop {
                    q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                if q.waiting.is_empty() {
                    return;
                }
                std::mem::take(&mut q.waiting)
            };
            self.rounds.fetch_add(1, Ordering::Relaxed);
            // One fdatasync per distinct file (by device and inode).
            let ids: Vec<Vec<(u64, u64)>> = batch
                .iter()
                .map(|(files, _)| files.iter().map(file_id).collect())
                .collect();
            let mut unique = Vec::new();
            let mut seen = HashSet::new();
            for ((files, _), ids) in batch.iter().zip(&ids) {
                for (f, id) in files.iter().zip(ids) {
                    if seen.insert(*id) {
                        unique.push((*id, f));
                    }
                }
            }
            // Start every file's writeback first, so their writes reach the
            // device together rather than one file's after another's.
            if unique.len() > 1 {
                for (_, f) in &unique {
                    start_writeback(f);
                }
            }
            let offline = self.offline();
            let results: HashMap<(u64, u64), Result<(), SyncError>> = unique
                .into_iter()
                .map(|(id, f)| {
                    if offline {
                        return (id, Ok(()));
                    }
                    (id, sync_files(std::slice::from_ref(f), self))
                })
                .collect();
            // Take the directory offline before answering anyone.
            if let Some(e) = results.values().find_map(|r| r.clone().err()) {
                self.settle(Err(e)).ok();
            }
            for ((_, tx), ids) in batch.into_iter().zip(ids) {
                let outcome = ids
                    .iter()
                    .filter_map(|id| results[id].clone().err())
                    .next()
                    .map_or(Ok(()), Err);
                let _ = tx.send(self.settle(outcome));
            }
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        {
            let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn concurrent_waiters_share_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let gc = GroupCommit::start();
        let files: Vec<Arc<File>> = (0..4)
            .map(|i| Arc::new(File::create(dir.path().join(format!("f{i}"))).unwrap()))
            .collect();
        let n = 64;
        // All waiters ask at once (as concurrent producers do), not one
        // after another as the threads happen to start.
        let start = Arc::new(std::sync::Barrier::new(n));
        let waiters: Vec<_> = (0..n)
            .map(|i| {
                let f = files[i % files.len()].clone();
                let gc = gc.clone();
                let start = start.clone();
                std::thread::spawn(move || {
                    (&*f).write_all(b"some bytes").unwrap();
                    start.wait();
                    gc.sync(vec![f]).blocking_recv().unwrap()
                })
            })
            .collect();
        for w in waiters {
            w.join().unwrap().unwrap();
        }
        let syncs = gc.fdatasyncs();
        assert!(gc.rounds() >= 1);
        assert!(syncs < n as u64 / 2, "{syncs} fdatasyncs for {n} waiters");
        // A later request gets a sync of its own.
        let before = gc.rounds();
        gc.sync(vec![files[0].clone()])
            .blocking_recv()
            .unwrap()
            .unwrap();
        assert_eq!(gc.rounds(), before + 1);
    }

    #[test]
    fn once_the_directory_is_offline_no_sync_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let failures = LogDirFailureChannel::new(dir.path());
        let gc = GroupCommit::start_for(failures.clone());
        let f = Arc::new(File::create(dir.path().join("a")).unwrap());
        gc.sync(vec![f.clone()]).blocking_recv().unwrap().unwrap();
        // As after a failed fdatasync: later fdatasyncs would report
        // success, but nothing more may be acknowledged.
        failures.mark_offline("fdatasync failed: Input/output error");
        let syncs = gc.fdatasyncs();
        let err = gc.sync(vec![f]).blocking_recv().unwrap().unwrap_err();
        assert!(err.to_string().contains("offline"), "{err}");
        assert_eq!(
            gc.fdatasyncs(),
            syncs,
            "nothing synced for an offline directory"
        );
    }

    #[tokio::test]
    async fn awaitable_from_async_code() {
        let dir = tempfile::tempdir().unwrap();
        let gc = GroupCommit::start();
        let f = Arc::new(File::create(dir.path().join("a")).unwrap());
        let rxs: Vec<_> = (0..10)
            .map(|_| gc.sync(vec![f.clone(), f.clone()]))
            .collect();
        for rx in rxs {
            rx.await.unwrap().unwrap();
        }
        assert!(gc.fdatasyncs() <= 10);
    }
}

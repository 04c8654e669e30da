//! Background jobs: time and size retention every
//! `log.retention.check.interval.ms`, and the log cleaner for compacted
//! topics every `log.cleaner.backoff.ms` (if `log.cleaner.enable`).

use super::state::Broker;
use crate::log::cleaner::{CleanOptions, LogCleaner};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Applies retention to every partition once; returns segments deleted.
pub fn retention_pass(broker: &Broker) -> usize {
    let now = now_ms();
    let mut deleted = 0;
    for topic in broker.topics() {
        for p in &topic.partitions {
            // An offline partition was reported once, at start.
            let Ok(mut log) = p.log() else { continue };
            if p.is_deleted() {
                continue;
            }
            let result = log.apply_retention(now);
            drop(log);
            match result {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(
                            "retention deleted {n} segment(s) of {}-{}",
                            p.topic,
                            p.index
                        );
                    }
                    deleted += n;
                }
                Err(e) => tracing::warn!("retention on {}-{}: {e}", p.topic, p.index),
            }
        }
    }
    deleted
}

/// Compacts every partition whose `cleanup.policy` includes compact and
/// whose dirty ratio reached `min.cleanable.dirty.ratio`; returns the
/// partitions cleaned. The partition's log is locked while it is cleaned.
pub fn cleaner_pass(broker: &Broker) -> usize {
    let opts = CleanOptions {
        now_ms: now_ms(),
        dry_run: false,
        force: false,
    };
    let mut cleaned = 0;
    for topic in broker.topics() {
        for p in &topic.partitions {
            let Ok(mut log) = p.log() else { continue };
            if p.is_deleted() || !log.config().compact {
                continue;
            }
            let result = LogCleaner::clean(&mut log, &opts, &mut |_, _| {});
            drop(log);
            match result {
                Ok(stats) if stats.skipped.is_none() => {
                    cleaned += 1;
                    tracing::info!(
                        "compacted {}-{}: {} -> {} records, {} -> {} bytes",
                        p.topic,
                        p.index,
                        stats.records_before,
                        stats.records_after,
                        stats.bytes_before,
                        stats.bytes_after
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("compacting {}-{}: {e}", p.topic, p.index),
            }
        }
    }
    cleaned
}

/// Starts the background jobs; they end when `stop` turns true.
pub fn spawn(broker: Arc<Broker>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let interval = Duration::from_millis(broker.config.retention_check_interval_ms.max(1));
    let mut jobs = Vec::new();
    let b = broker.clone();
    jobs.push(periodic(interval, stop.clone(), move || {
        retention_pass(&b);
    }));
    if broker.config.cleaner_enable {
        let backoff = Duration::from_millis(broker.config.cleaner_backoff_ms.max(1));
        let b = broker.clone();
        jobs.push(periodic(backoff, stop, move || {
            cleaner_pass(&b);
        }));
    }
    jobs
}

/// Runs `job` on a blocking thread every `interval` until `stop`.
fn periodic<F>(interval: Duration, mut stop: watch::Receiver<bool>, job: F) -> JoinHandle<()>
where
    F: Fn() + Send + Sync + 'static,
{
    let job = Arc::new(job);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let j = job.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || j()).await {
                tracing::error!("background job failed: {e}");
            }
        }
    })
}

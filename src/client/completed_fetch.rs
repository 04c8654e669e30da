//! The read_committed filter of a fetched partition, as the
//! `CompletedFetch` of Kafka's consumer (`org.apache.kafka.clients.consumer.internals`):
//! which batches of a Fetch response (or of a log read in direct mode) hold
//! records of aborted transactions.
//!
//! A read_committed Fetch answers, per partition, the aborted transactions
//! that overlap the data returned: each a producer id and the offset of its
//! first record. Walking the batches in offset order, a producer becomes
//! "aborted" once a batch reaches its first offset; its transactional
//! batches are then skipped until its ABORT marker (a control batch whose
//! record key is version 0, type 0) ends that transaction. Control batches
//! are never records for users, in either isolation level; the callers
//! skip them.

use std::collections::HashSet;

use crate::record::BatchSummary;
use crate::record::control::{ControlRecordType, marker_of_batch};

/// Whether a control batch is an ABORT marker (a marker that cannot be
/// read is not).
fn is_abort_marker(batch: &[u8]) -> bool {
    matches!(marker_of_batch(batch), Ok(Some(m)) if m.control == ControlRecordType::Abort)
}

/// An aborted transaction as a read_committed Fetch returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// Producer id.
    pub producer_id: i64,
    /// Offset of the transaction's first record.
    pub first_offset: i64,
}

/// Tells, batch by batch in offset order, whether a batch holds records of
/// an aborted transaction.
#[derive(Debug, Default)]
pub struct AbortedFilter {
    /// Aborted transactions not reached yet, by first offset, latest first
    /// (popped from the end).
    pending: Vec<AbortedTxn>,
    /// Producers whose aborted transaction has begun and not yet ended.
    aborted_producers: HashSet<i64>,
}

impl AbortedFilter {
    /// A filter over the aborted transactions of one fetched partition.
    pub fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
        AbortedFilter {
            pending: aborted,
            aborted_producers: HashSet::new(),
        }
    }

    /// Whether the batch `summary` (bytes `batch`) is aborted data to skip.
    /// Control batches are never aborted data (an ABORT marker ends its
    /// producer's aborted transaction); skip them anyway.
    pub fn is_aborted(&mut self, summary: &BatchSummary, batch: &[u8]) -> bool {
        if summary.producer_id < 0 {
            return false;
        }
        while let Some(next) = self.pending.last()
            && next.first_offset <= summary.last_offset
        {
            self.aborted_producers.insert(next.producer_id);
            self.pending.pop();
        }
        if summary.is_control {
            if is_abort_marker(batch) {
                self.aborted_producers.remove(&summary.producer_id);
            }
            return false;
        }
        summary.is_transactional && self.aborted_producers.contains(&summary.producer_id)
    }
}

/// Test and tool helpers: transactional batches and markers as a
/// transactional producer and the broker write them.
pub mod build {
    use crate::record::control::{ControlRecordType, EndTxnMarker, build_control_batch};
    use crate::record::{BatchBuilder, Compression, batch};

    /// A transactional batch of `values` at `base_offset` by `producer_id`.
    pub fn transactional(base_offset: i64, producer_id: i64, values: &[&str]) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None, 1_000)
            .producer(producer_id, 0, 0)
            .transactional(true);
        for v in values {
            b.push(1_000, None, Some(v.as_bytes()), &[]);
        }
        let mut bytes = b.finish();
        batch::set_base_offset(&mut bytes, base_offset);
        bytes
    }

    /// A COMMIT (`commit`) or ABORT marker of `producer_id` at `offset`.
    pub fn marker(offset: i64, producer_id: i64, commit: bool) -> Vec<u8> {
        let control = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let marker = EndTxnMarker {
            control,
            coordinator_epoch: 0,
        };
        let mut bytes = build_control_batch(producer_id, 0, &marker, 1_000);
        batch::set_base_offset(&mut bytes, offset);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::build::{marker, transactional};
    use super::*;
    use crate::record::scan;

    /// The offsets of the records kept from `data` (control batches dropped).
    fn kept(data: &[u8], aborted: Vec<AbortedTxn>) -> Vec<i64> {
        let mut filter = AbortedFilter::new(aborted);
        let mut out = Vec::new();
        for entry in scan(data) {
            let (_, summary, bytes) = entry.expect("a batch");
            if filter.is_aborted(&summary, bytes) || summary.is_control {
                continue;
            }
            out.extend(summary.base_offset..=summary.last_offset);
        }
        out
    }

    #[test]
    fn abort_markers_are_told_from_commit_markers() {
        assert!(!is_abort_marker(&marker(5, 1, true)));
        assert!(is_abort_marker(&marker(5, 1, false)));
    }

    #[test]
    fn aborted_transactions_are_skipped_and_committed_interleaved_ones_kept() {
        // Producer 1 aborts offsets 0-1 and 4; producer 2 commits 2-3 in between.
        let mut data = transactional(0, 1, &["a", "b"]);
        data.extend(transactional(2, 2, &["c", "d"]));
        data.extend(transactional(4, 1, &["e"]));
        data.extend(marker(5, 1, false));
        data.extend(marker(6, 2, true));
        // Producer 1 again, committed this time: kept.
        data.extend(transactional(7, 1, &["f"]));
        data.extend(marker(8, 1, true));
        let aborted = vec![AbortedTxn {
            producer_id: 1,
            first_offset: 0,
        }];
        assert_eq!(kept(&data, aborted), vec![2, 3, 7]);
        // read_uncommitted (no aborted list): everything but the markers.
        assert_eq!(kept(&data, Vec::new()), vec![0, 1, 2, 3, 4, 7]);
    }

    #[test]
    fn an_aborted_transaction_starts_at_its_first_offset() {
        // Producer 1 commits 0, then aborts from 2 on.
        let mut data = transactional(0, 1, &["a"]);
        data.extend(marker(1, 1, true));
        data.extend(transactional(2, 1, &["b", "c"]));
        data.extend(marker(4, 1, false));
        let aborted = vec![AbortedTxn {
            producer_id: 1,
            first_offset: 2,
        }];
        assert_eq!(kept(&data, aborted), vec![0]);
    }

    #[test]
    fn non_transactional_batches_are_never_aborted() {
        let mut plain =
            crate::record::BatchBuilder::new(crate::record::Compression::None, 0).producer(1, 0, 0);
        plain.push(0, None, Some(b"x"), &[]);
        let plain = plain.finish();
        let aborted = vec![AbortedTxn {
            producer_id: 1,
            first_offset: 0,
        }];
        assert_eq!(kept(&plain, aborted), vec![0]);
    }
}

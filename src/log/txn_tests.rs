//! Tests of the log side of transactions: markers, the last stable offset,
//! the transaction index, bounded reads and their recovery (kept apart from
//! `partition_log.rs`'s tests, which cover the non-transactional log).

use super::partition_log::Log;
use super::txn_index::{AbortedTxn, txn_index_file};
use super::{LogConfig, LogError};
use crate::record::batch::BatchIter;
use crate::record::control::{ControlRecordType, EndTxnMarker, marker_of_batch};
use crate::record::{BatchBuilder, Compression};
use std::path::Path;

fn small_config() -> LogConfig {
    let mut c = LogConfig::default();
    c.segment_bytes = 2000;
    c.index_interval_bytes = 200;
    c.segment_index_bytes = 4096;
    c
}

fn now() -> i64 {
    super::segment::now_ms()
}

/// A batch of `n` records of producer `pid` (epoch 0), transactional or not.
fn txn_batch(pid: i64, seq: i32, n: usize, transactional: bool) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, now())
        .producer(pid, 0, seq)
        .transactional(transactional);
    for _ in 0..n {
        b.push(now(), None, Some(b"txn"), &[]);
    }
    b.finish()
}

fn plain(n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, now());
    for _ in 0..n {
        b.push(now(), None, Some(b"plain"), &[]);
    }
    b.finish()
}

fn marker(control: ControlRecordType, coordinator_epoch: i32) -> EndTxnMarker {
    EndTxnMarker {
        control,
        coordinator_epoch,
    }
}

fn commit(log: &mut Log, pid: i64) -> i64 {
    log.append_control(pid, 0, marker(ControlRecordType::Commit, 0))
        .unwrap()
        .base_offset
}

fn abort(log: &mut Log, pid: i64) -> i64 {
    log.append_control(pid, 0, marker(ControlRecordType::Abort, 0))
        .unwrap()
        .base_offset
}

fn open(dir: &Path) -> Log {
    Log::open(dir, small_config(), false).unwrap().0
}

fn aborted(pid: i64, first: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
    }
}

/// (base offset, is control) of every batch in the log from `offset`.
fn batches_from(log: &Log, offset: i64, max_offset: i64) -> Vec<(i64, bool)> {
    let mut out = Vec::new();
    let mut at = offset;
    while let Some(s) = log.read_bounded(at, 1 << 20, true, max_offset).unwrap() {
        let bytes = s.read_to_vec().unwrap();
        for (h, _) in BatchIter::new(&bytes) {
            if h.last_offset() >= at {
                out.push((h.base_offset, h.is_control()));
            }
            at = h.last_offset() + 1;
        }
    }
    out
}

#[test]
fn last_stable_offset_follows_open_transactions_and_markers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&plain(2)).unwrap(); // 0..=1
    assert_eq!(
        (log.last_stable_offset(), log.first_unstable_offset()),
        (2, None)
    );
    log.append(&txn_batch(7, 0, 3, true)).unwrap(); // 2..=4
    log.append(&txn_batch(8, 0, 2, true)).unwrap(); // 5..=6
    log.append(&txn_batch(7, 3, 1, true)).unwrap(); // 7
    assert_eq!(log.first_unstable_offset(), Some(2));
    assert_eq!(log.last_stable_offset(), 2);
    let e = log.producer_state().last_entry(7).unwrap();
    assert_eq!(
        e.current_txn_first_offset,
        Some(2),
        "the first batch opens it"
    );
    assert_eq!(commit(&mut log, 7), 8);
    assert_eq!(
        log.last_stable_offset(),
        5,
        "producer 8's transaction is open"
    );
    assert_eq!(abort(&mut log, 8), 9);
    assert_eq!(log.last_stable_offset(), 10);
    assert_eq!(log.first_unstable_offset(), None);
    assert_eq!(
        log.aborted_transactions(0, 10).unwrap(),
        vec![aborted(8, 5)]
    );
    // A marker goes to the log as a control batch with the marker's record.
    let s = log.read(9, 1000, true).unwrap().unwrap();
    let bytes = s.read_to_vec().unwrap();
    let (h, b) = BatchIter::new(&bytes).next().unwrap();
    assert_eq!((h.base_offset, h.producer_id, h.is_control()), (9, 8, true));
    assert!(h.is_transactional());
    crate::record::batch::validate(b).unwrap();
    assert_eq!(
        marker_of_batch(b).unwrap(),
        Some(marker(ControlRecordType::Abort, 0))
    );
    let e = log.producer_state().last_entry(8).unwrap();
    assert_eq!((e.current_txn_first_offset, e.coordinator_epoch), (None, 0));
}

#[test]
fn an_abort_indexes_the_last_stable_offset_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&txn_batch(1, 0, 1, true)).unwrap(); // 0
    log.append(&txn_batch(2, 0, 1, true)).unwrap(); // 1
    abort(&mut log, 2); // 2: producer 1 still open at 0
    abort(&mut log, 1); // 3
    let path = txn_index_file(dir.path(), 0);
    let entries = super::txn_index::decode_entries(&std::fs::read(path).unwrap()).unwrap();
    let got: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.producer_id,
                e.first_offset,
                e.last_offset,
                e.last_stable_offset,
            )
        })
        .collect();
    assert_eq!(got, vec![(2, 1, 2, 0), (1, 0, 3, 4)]);
    // Kafka's collectAbortedTxns: overlap with [start, upper).
    assert_eq!(log.aborted_transactions(0, 1).unwrap(), vec![aborted(1, 0)]);
    assert_eq!(
        log.aborted_transactions(1, 4).unwrap(),
        vec![aborted(2, 1), aborted(1, 0)]
    );
    assert_eq!(log.aborted_transactions(4, 5).unwrap(), vec![]);
}

#[test]
fn marker_epoch_rules_follow_append_end_txn_marker() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let mut b = BatchBuilder::new(Compression::None, now())
        .producer(7, 3, 0)
        .transactional(true);
    b.push(now(), None, Some(b"v"), &[]);
    log.append(&b.finish()).unwrap();
    log.append_control(7, 3, marker(ControlRecordType::Commit, 5))
        .unwrap();
    let end = log.log_end_offset();
    let old_epoch = log
        .append_control(7, 2, marker(ControlRecordType::Abort, 5))
        .unwrap_err();
    assert!(
        matches!(old_epoch, LogError::InvalidProducerEpoch(_)),
        "{old_epoch}"
    );
    let fenced = log
        .append_control(7, 3, marker(ControlRecordType::Abort, 4))
        .unwrap_err();
    assert!(
        matches!(fenced, LogError::TransactionCoordinatorFenced(_)),
        "{fenced}"
    );
    assert_eq!(log.log_end_offset(), end, "nothing written");
    // No transaction open: the marker is written and completes nothing.
    let info = log
        .append_control(7, 3, marker(ControlRecordType::Abort, 6))
        .unwrap();
    assert_eq!((info.base_offset, info.records), (end, 1));
    assert_eq!(log.aborted_transactions(0, 100).unwrap(), vec![]);
    // A newer epoch in a marker (the coordinator's fence) is taken.
    log.append_control(7, 4, marker(ControlRecordType::Abort, 6))
        .unwrap();
    let e = log.producer_state().last_entry(7).unwrap();
    assert_eq!((e.producer_epoch, e.coordinator_epoch), (4, 6));
    assert!(
        log.append(&txn_batch(7, 0, 1, true)).is_err(),
        "epoch 0 < 4"
    );
    // Marker for a producer never seen: written.
    log.append_control(99, 0, marker(ControlRecordType::Commit, 0))
        .unwrap();
}

#[test]
fn non_transactional_batch_during_a_transaction_is_invalid_txn_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&txn_batch(7, 0, 1, true)).unwrap();
    let err = log.append(&txn_batch(7, 1, 1, false)).unwrap_err();
    assert!(matches!(err, LogError::InvalidTxnState(_)), "{err}");
    commit(&mut log, 7);
    log.append(&txn_batch(7, 1, 1, false)).unwrap();
}

#[test]
fn read_bounded_stops_before_the_last_stable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for _ in 0..60 {
        log.append(&plain(3)).unwrap();
    }
    assert!(log.segment_count() > 2);
    let lso_at = log.log_end_offset(); // 180
    log.append(&txn_batch(7, 0, 2, true)).unwrap();
    log.append(&plain(1)).unwrap();
    let lso = log.last_stable_offset();
    assert_eq!(lso, lso_at);
    let got = batches_from(&log, 0, lso);
    assert_eq!(got.len(), 60);
    assert!(got.iter().all(|(b, _)| *b < lso));
    assert!(log.read_bounded(lso, 1 << 20, true, lso).unwrap().is_none());
    assert!(
        log.read_bounded(lso + 1, 1 << 20, true, lso)
            .unwrap()
            .is_none()
    );
    // Within a batch below the bound: the batch is returned whole.
    let s = log
        .read_bounded(lso - 2, 1 << 20, true, lso)
        .unwrap()
        .unwrap();
    assert_eq!(s.len, plain(3).len());
    commit(&mut log, 7);
    let lso = log.last_stable_offset();
    assert_eq!(lso, log.log_end_offset());
    let got = batches_from(&log, lso_at - 10, lso);
    assert_eq!(got.last(), Some(&(lso_at + 3, true)));
    // Unbounded reads are unchanged.
    assert_eq!(
        log.read(0, 1 << 20, true).unwrap().unwrap().len,
        log.read_bounded(0, 1 << 20, true, i64::MAX)
            .unwrap()
            .unwrap()
            .len
    );
}

#[test]
fn aborted_transactions_are_found_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&txn_batch(7, 0, 1, true)).unwrap(); // 0
    for _ in 0..40 {
        log.append(&plain(3)).unwrap();
    }
    abort(&mut log, 7); // marker in a later segment than the data
    assert!(log.segment_count() > 2);
    let marker_at = log.log_end_offset() - 1;
    assert_eq!(log.aborted_transactions(0, 1).unwrap(), vec![aborted(7, 0)]);
    assert_eq!(
        log.aborted_transactions(50, 60).unwrap(),
        vec![aborted(7, 0)]
    );
    assert_eq!(
        log.aborted_transactions(marker_at + 1, marker_at + 2)
            .unwrap(),
        vec![]
    );
    let seg = log.segments().last().unwrap().base_offset();
    assert!(txn_index_file(dir.path(), seg).exists());
    assert!(!txn_index_file(dir.path(), 0).exists(), "created lazily");
}

#[test]
fn unclean_stop_mid_transaction_restores_the_last_stable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for _ in 0..20 {
        log.append(&plain(3)).unwrap();
    }
    let first = log.log_end_offset();
    log.append(&txn_batch(7, 0, 2, true)).unwrap();
    for _ in 0..20 {
        log.append(&plain(3)).unwrap();
    }
    log.append(&txn_batch(7, 2, 2, true)).unwrap();
    drop(log); // no clean close: no snapshot at the log end
    let (log, _) = Log::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(log.last_stable_offset(), first);
    assert_eq!(log.first_unstable_offset(), Some(first));
    // And after a clean close, from the snapshot alone.
    log.close().unwrap();
    let log = open(dir.path());
    assert_eq!(log.last_stable_offset(), first);
}

#[test]
fn aborts_survive_reopen_and_a_lost_or_corrupt_active_txnindex_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&txn_batch(7, 0, 2, true)).unwrap(); // 0..=1
    for _ in 0..20 {
        log.append(&plain(3)).unwrap();
    }
    abort(&mut log, 7);
    log.append(&txn_batch(8, 0, 1, true)).unwrap();
    abort(&mut log, 8);
    let expect = vec![aborted(7, 0), aborted(8, log.log_end_offset() - 2)];
    assert_eq!(log.aborted_transactions(0, i64::MAX).unwrap(), expect);
    let active = log.active_base();
    let path = txn_index_file(dir.path(), active);
    let bytes = std::fs::read(&path).unwrap();
    log.close().unwrap();
    let log = open(dir.path());
    assert_eq!(log.aborted_transactions(0, i64::MAX).unwrap(), expect);
    drop(log);
    // Corrupt (a torn entry): rebuilt from the markers at a clean open.
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let log = open(dir.path());
    assert_eq!(log.aborted_transactions(0, i64::MAX).unwrap(), expect);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    drop(log);
    // Missing after an unclean stop: recovery rebuilds it.
    std::fs::remove_file(&path).unwrap();
    let (log, _) = Log::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(log.aborted_transactions(0, i64::MAX).unwrap(), expect);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

fn compact_config() -> LogConfig {
    let mut c = small_config();
    c.compact = true;
    c.delete = false;
    c.segment_bytes = 1500;
    c
}

/// A keyed batch of producer `pid` (epoch 0), transactional or not (`pid` -1: plain).
fn keyed(pid: i64, seq: i32, transactional: bool, recs: &[(&str, &str)]) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, now()).transactional(transactional);
    if pid >= 0 {
        b = b.producer(pid, 0, seq);
    }
    for (k, v) in recs {
        b.push(now(), Some(k.as_bytes()), Some(v.as_bytes()), &[]);
    }
    b.finish()
}

/// (offset, key, value) of every data record, and the control batches'
/// (offset, marker), read from the log start.
#[allow(clippy::type_complexity)]
fn contents(log: &Log) -> (Vec<(i64, String, String)>, Vec<(i64, EndTxnMarker)>) {
    let (mut data, mut markers) = (Vec::new(), Vec::new());
    let mut at = log.log_start_offset();
    while let Some(s) = log.read(at, 1 << 20, true).unwrap() {
        let bytes = s.read_to_vec().unwrap();
        for (h, b) in BatchIter::new(&bytes) {
            if let Some(m) = marker_of_batch(b).unwrap() {
                markers.push((h.base_offset, m));
            } else {
                for r in crate::record::decode_batch(b).unwrap() {
                    let s =
                        |x: Option<bytes::Bytes>| String::from_utf8(x.unwrap().to_vec()).unwrap();
                    data.push((r.offset, s(r.key), s(r.value)));
                }
            }
            at = h.last_offset() + 1;
        }
    }
    (data, markers)
}

fn clean(log: &mut Log) -> super::CleanStats {
    let opts = super::CleanOptions {
        now_ms: now(),
        dry_run: false,
        force: true,
    };
    super::LogCleaner::clean(log, &opts, &mut |_, _| {}).unwrap()
}

#[test]
fn cleaner_drops_aborted_data_and_keeps_markers_and_committed_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(), false).unwrap().0;
    log.append(&keyed(7, 0, true, &[("a", "committed")]))
        .unwrap(); // 0
    commit(&mut log, 7); // 1
    log.append(&keyed(8, 0, true, &[("a", "aborted"), ("c", "aborted")]))
        .unwrap(); // 2..=3
    abort(&mut log, 8); // 4
    for i in 0..30 {
        log.append(&keyed(-1, 0, false, &[("b", &format!("v{i}"))]))
            .unwrap();
    }
    log.roll().unwrap();
    log.append(&keyed(-1, 0, false, &[("z", "active")]))
        .unwrap();
    let aborted_before = log.aborted_transactions(0, i64::MAX).unwrap();
    assert_eq!(aborted_before, vec![aborted(8, 2)]);
    let stats = clean(&mut log);
    assert_eq!(stats.aborted_dropped, 2);
    let (data, markers) = contents(&log);
    let last_b = 4 + 30;
    assert_eq!(
        data,
        vec![
            (0, "a".into(), "committed".into()),
            (last_b, "b".into(), "v29".into()),
            (last_b + 1, "z".into(), "active".into()),
        ],
        "the aborted value of a does not supersede the committed one"
    );
    assert_eq!(
        markers,
        vec![
            (1, marker(ControlRecordType::Commit, 0)),
            (4, marker(ControlRecordType::Abort, 0))
        ]
    );
    assert_eq!(
        log.aborted_transactions(0, i64::MAX).unwrap(),
        aborted_before
    );
    let after = contents(&log);
    log.close().unwrap();
    let log = Log::open(dir.path(), compact_config(), false).unwrap().0;
    assert_eq!(contents(&log), after);
    assert_eq!(
        log.aborted_transactions(0, i64::MAX).unwrap(),
        aborted_before
    );
    drop(log);
    // A full recovery rebuilds the indexes from the markers whose data is
    // left: the abort's data is gone, so its entry may go too.
    let log = Log::open(dir.path(), compact_config(), true).unwrap().0;
    assert_eq!(contents(&log), after);
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
}

#[test]
fn cleaner_never_cleans_at_or_past_the_first_unstable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(), false).unwrap().0;
    for i in 0..30 {
        log.append(&keyed(-1, 0, false, &[("b", &format!("v{i}"))]))
            .unwrap();
    }
    let open_at = log.log_end_offset();
    log.append(&keyed(7, 0, true, &[("a", "open")])).unwrap();
    for i in 30..90 {
        log.append(&keyed(-1, 0, false, &[("b", &format!("v{i}"))]))
            .unwrap();
    }
    log.roll().unwrap();
    log.append(&keyed(-1, 0, false, &[("z", "active")]))
        .unwrap();
    assert!(log.segment_count() > 3);
    let before = contents(&log).0;
    clean(&mut log);
    let after = contents(&log).0;
    // Everything from the segment holding the open transaction on is as it was.
    let unstable_seg = log
        .segments()
        .map(|s| s.base_offset())
        .filter(|&b| b <= open_at)
        .max()
        .unwrap();
    let tail = |v: &[(i64, String, String)]| -> Vec<(i64, String, String)> {
        v.iter().filter(|r| r.0 >= unstable_seg).cloned().collect()
    };
    assert_eq!(tail(&after), tail(&before));
    assert!(after.len() < before.len(), "below it, b was compacted");
    assert!(after.iter().any(|r| r.2 == "open"));
}

#[test]
fn retention_deletes_txnindex_with_its_segment_and_lso_stays_at_or_above_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append(&txn_batch(7, 0, 1, true)).unwrap(); // 0
    abort(&mut log, 7); // 1: .txnindex of segment 0
    log.append(&txn_batch(8, 0, 1, true)).unwrap(); // 2: stays open
    for _ in 0..40 {
        log.append(&plain(3)).unwrap();
    }
    assert!(txn_index_file(dir.path(), 0).exists());
    assert_eq!(log.last_stable_offset(), 2);
    let second = log.segments().nth(1).unwrap().base_offset();
    log.advance_log_start_offset(second + 1).unwrap();
    assert!(
        !txn_index_file(dir.path(), 0).exists(),
        "deleted with its segment"
    );
    assert!(
        log.producer_state().last_entry(8).is_some(),
        "a producer with an open transaction is kept"
    );
    assert_eq!(log.first_unstable_offset(), Some(second + 1));
    assert_eq!(
        log.last_stable_offset(),
        second + 1,
        "never below the log start"
    );
    commit(&mut log, 8);
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
}

#[test]
fn orphan_txnindex_is_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.close().unwrap();
    let orphan = txn_index_file(dir.path(), 12345);
    std::fs::write(&orphan, [0u8; 34]).unwrap();
    let _log = open(dir.path());
    assert!(!orphan.exists());
}

#[test]
fn leader_epoch_checkpoint_follows_the_log_start_and_answers_offset_for_leader_epoch() {
    use super::leader_epoch::LEADER_EPOCH_CHECKPOINT;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LEADER_EPOCH_CHECKPOINT);
    let mut log = open(dir.path());
    assert!(
        !path.exists(),
        "written at the first append, not at creation"
    );
    assert_eq!(log.leader_epoch(), 0);
    for _ in 0..40 {
        log.append(&plain(3)).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n1\n0 0\n");
    let end = log.log_end_offset();
    assert_eq!(log.end_offset_for_epoch(0), (0, end));
    assert_eq!(log.end_offset_for_epoch(1), (-1, -1));
    assert_eq!(log.end_offset_for_epoch(-1), (-1, -1));
    let s = log.read(0, 1000, true).unwrap().unwrap();
    let bytes = s.read_to_vec().unwrap();
    assert!(BatchIter::new(&bytes).all(|(h, _)| h.partition_leader_epoch == 0));
    log.advance_log_start_offset(50).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n1\n0 50\n");
    log.close().unwrap();
    // A checkpoint that does not parse is rewritten from the log start.
    std::fs::write(&path, "0\n5\n").unwrap();
    let opts = super::LogOpenOptions {
        recover: false,
        recovery_point: end,
        log_start_offset: 50,
    };
    let (log, _) = Log::open_with(dir.path(), small_config(), opts).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n1\n0 50\n");
    assert_eq!(log.end_offset_for_epoch(0), (0, end));
}

#[test]
fn a_read_only_view_follows_the_writers_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for _ in 0..30 {
        log.append(&plain(3)).unwrap();
    }
    let first = log.log_end_offset();
    log.append(&txn_batch(7, 0, 2, true)).unwrap();
    log.append(&plain(1)).unwrap();
    let mut view = Log::open_read_only(dir.path(), small_config()).unwrap();
    assert_eq!(
        view.last_stable_offset(),
        view.log_end_offset(),
        "not loaded yet"
    );
    view.refresh_producer_state().unwrap();
    assert_eq!(view.last_stable_offset(), first);
    abort(&mut log, 7);
    log.append(&txn_batch(8, 0, 1, true)).unwrap();
    let second = log.log_end_offset() - 1;
    view.refresh().unwrap();
    view.refresh_producer_state().unwrap();
    assert_eq!(view.last_stable_offset(), second);
    assert_eq!(
        view.aborted_transactions(0, i64::MAX).unwrap(),
        vec![aborted(7, first)]
    );
    commit(&mut log, 8);
    view.refresh().unwrap();
    view.refresh_producer_state().unwrap();
    assert_eq!(view.last_stable_offset(), log.log_end_offset());
    let names = std::fs::read_dir(dir.path()).unwrap().count();
    drop(view);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        names,
        "the view wrote nothing"
    );
}

//! One transactional id's state (Kafka's `TransactionMetadata` and
//! `TransactionState`): the producer id and epoch, the transaction's state
//! and partitions, and the transitions between states.
//!
//! A transition is made in two steps, as Kafka does: `prepare_*` checks
//! it, sets the pending state (which blocks other transitions) and returns
//! the target as a [`TxnTransit`]; the coordinator writes the target to
//! `__transaction_state` and, once it is durable, applies it with
//! [`TransactionMetadata::complete_transition`] (or clears the pending
//! state when the write failed). runnel implements transactions v1
//! (KIP-98/KIP-360, and the server side of KIP-890 part 1): the epoch is
//! bumped by InitProducerId and by fencing, not at every EndTxn.

use super::schema::TxnValue;
use std::collections::BTreeSet;

/// No producer id (Kafka's `RecordBatch.NO_PRODUCER_ID`).
pub const NO_PRODUCER_ID: i64 = -1;
/// No producer epoch (Kafka's `RecordBatch.NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// The state of a transactional id's transaction, with Kafka's ids and
/// names (the names are what DescribeTransactions and ListTransactions show).
///
/// Allowed transitions (Kafka's `validPreviousStates`), target ← sources:
///
/// | target              | allowed previous states                 | event |
/// |---------------------|-----------------------------------------|-------|
/// | `Empty` (0)         | Empty, CompleteCommit, CompleteAbort     | InitProducerId (epoch bump / new producer id) |
/// | `Ongoing` (1)       | Ongoing, Empty, CompleteCommit, CompleteAbort | AddPartitionsToTxn, AddOffsetsToTxn |
/// | `PrepareCommit` (2) | Ongoing                                  | EndTxn(commit) |
/// | `PrepareAbort` (3)  | Ongoing, PrepareEpochFence               | EndTxn(abort), fencing by InitProducerId, timeout |
/// | `CompleteCommit` (4)| PrepareCommit                            | all commit markers written |
/// | `CompleteAbort` (5) | PrepareAbort                             | all abort markers written |
/// | `Dead` (6)          | Empty, CompleteCommit, CompleteAbort     | transactional id expired (a tombstone is written) |
/// | `PrepareEpochFence` (7) | Ongoing                              | epoch bump of an ongoing transaction (never written; PrepareAbort follows) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransactionState {
    /// No transaction yet (or since the last one completed and a new epoch began).
    Empty,
    /// A transaction is open: partitions have been added.
    Ongoing,
    /// EndTxn(commit) was written; commit markers are being written.
    PrepareCommit,
    /// EndTxn(abort) (or a fence/timeout) was written; abort markers are being written.
    PrepareAbort,
    /// The last transaction committed; all markers are written.
    CompleteCommit,
    /// The last transaction aborted; all markers are written.
    CompleteAbort,
    /// The transactional id is being removed.
    Dead,
    /// The epoch of an ongoing transaction is being bumped to fence its producer.
    PrepareEpochFence,
}

impl TransactionState {
    /// Every state, in id order.
    pub const ALL: [TransactionState; 8] = [
        TransactionState::Empty,
        TransactionState::Ongoing,
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
        TransactionState::Dead,
        TransactionState::PrepareEpochFence,
    ];

    /// The id stored in `__transaction_state` (`transaction_status`).
    pub fn id(self) -> i8 {
        self as i8
    }

    /// The state of a stored id.
    pub fn from_id(id: i8) -> Option<TransactionState> {
        usize::try_from(id)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// Kafka's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
            TransactionState::Dead => "Dead",
            TransactionState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state named `name` (Kafka's names).
    pub fn from_name(name: &str) -> Option<TransactionState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The states this state may be entered from (the table above).
    pub fn valid_previous_states(self) -> &'static [TransactionState] {
        use TransactionState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[Ongoing, PrepareEpochFence],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteCommit, CompleteAbort],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether a transactional id in this state may expire
    /// (`transactional.id.expiration.ms`).
    pub fn is_expiration_allowed(self) -> bool {
        matches!(
            self,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        )
    }
}

/// A transition that is not allowed from the current state: a coordinator
/// bug (Kafka throws IllegalStateException), reported as an error code to
/// the client rather than a crash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transactional id {transactional_id}: {reason}")]
pub struct IllegalTransition {
    /// The transactional id.
    pub transactional_id: String,
    /// What was wrong.
    pub reason: String,
}

/// The target of a transition (Kafka's `TxnTransitMetadata`): what is
/// written to `__transaction_state` and applied once durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnTransit {
    /// Producer id after the transition.
    pub producer_id: i64,
    /// Producer id before the transition.
    pub prev_producer_id: i64,
    /// Producer epoch after the transition.
    pub producer_epoch: i16,
    /// Last producer epoch (for retried InitProducerId of KIP-360).
    pub last_producer_epoch: i16,
    /// Transaction timeout (ms).
    pub txn_timeout_ms: i32,
    /// State after the transition.
    pub state: TransactionState,
    /// Partitions of the transaction after the transition.
    pub partitions: BTreeSet<(String, i32)>,
    /// Transaction start (ms), -1 if none.
    pub txn_start_timestamp: i64,
    /// Time of this transition (ms).
    pub txn_last_update_timestamp: i64,
}

impl TxnTransit {
    /// The `__transaction_state` value of this target.
    pub fn to_value(&self) -> TxnValue {
        let partitions = if self.state == TransactionState::Empty {
            None
        } else {
            let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
            for (topic, p) in &self.partitions {
                match topics.last_mut() {
                    Some((t, ps)) if t == topic => ps.push(*p),
                    _ => topics.push((topic.clone(), vec![*p])),
                }
            }
            Some(topics)
        };
        TxnValue {
            producer_id: self.producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: self.producer_epoch,
            transaction_timeout_ms: self.txn_timeout_ms,
            state: self.state,
            partitions,
            last_update_timestamp_ms: self.txn_last_update_timestamp,
            start_timestamp_ms: self.txn_start_timestamp,
            client_transaction_version: 0,
        }
    }
}

/// One transactional id's state (Kafka's `TransactionMetadata`). Kept in
/// the coordinator's cache and changed only under its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Producer id in use.
    pub producer_id: i64,
    /// Producer id used before the last rotation, -1 if none.
    pub previous_producer_id: i64,
    /// Current producer epoch (-1 for an id just created, before its first write).
    pub producer_epoch: i16,
    /// Epoch before the last bump by a producer that gave its epoch
    /// (KIP-360), -1 otherwise; a retry with it gets the current epoch back.
    pub last_producer_epoch: i16,
    /// Transaction timeout (ms), from InitProducerId.
    pub txn_timeout_ms: i32,
    /// Current state.
    pub state: TransactionState,
    /// Partitions of the current transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the current transaction started (first partition added), -1 if none.
    pub txn_start_timestamp: i64,
    /// When the state last changed (ms); used for expiration.
    pub txn_last_update_timestamp: i64,
    /// The state being written, if a transition is in flight.
    pub pending_state: Option<TransactionState>,
    /// A fencing epoch bump was not written; the next fence reuses the
    /// bumped epoch instead of bumping again (never returned to a client).
    pub has_failed_epoch_fence: bool,
}

impl TransactionMetadata {
    /// A new transactional id with `producer_id` and no epoch yet (state
    /// Empty), as InitProducerId creates it.
    pub fn new(transactional_id: &str, producer_id: i64, txn_timeout_ms: i32, now: i64) -> Self {
        TransactionMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms,
            state: TransactionState::Empty,
            partitions: BTreeSet::new(),
            txn_start_timestamp: -1,
            txn_last_update_timestamp: now,
            pending_state: None,
            has_failed_epoch_fence: false,
        }
    }

    /// The metadata stored in a `__transaction_state` value (loading).
    pub fn from_value(transactional_id: &str, v: &TxnValue) -> Self {
        let mut partitions = BTreeSet::new();
        if v.state != TransactionState::Empty {
            for (topic, ids) in v.partitions.iter().flatten() {
                for p in ids {
                    partitions.insert((topic.clone(), *p));
                }
            }
        }
        TransactionMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms: v.transaction_timeout_ms,
            state: v.state,
            partitions,
            txn_start_timestamp: v.start_timestamp_ms,
            txn_last_update_timestamp: v.last_update_timestamp_ms,
            pending_state: None,
            has_failed_epoch_fence: false,
        }
    }

    /// Whether the epoch of the producer id is used up (Kafka keeps
    /// `Short.MaxValue` free so the coordinator can always fence).
    pub fn is_epoch_exhausted(epoch: i16) -> bool {
        epoch >= i16::MAX - 1
    }

    /// Whether a transition is in flight.
    pub fn pending_transition_in_progress(&self) -> bool {
        self.pending_state.is_some()
    }

    fn illegal(&self, reason: String) -> IllegalTransition {
        IllegalTransition {
            transactional_id: self.transactional_id.clone(),
            reason,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_transition_to(
        &mut self,
        state: TransactionState,
        producer_id: i64,
        producer_epoch: i16,
        last_producer_epoch: i16,
        txn_timeout_ms: i32,
        partitions: BTreeSet<(String, i32)>,
        txn_start_timestamp: i64,
        now: i64,
    ) -> Result<TxnTransit, IllegalTransition> {
        if let Some(p) = self.pending_state {
            return Err(self.illegal(format!(
                "transition to {} while {} is pending",
                state.name(),
                p.name()
            )));
        }
        if producer_id < 0 {
            return Err(self.illegal(format!("illegal producer id {producer_id}")));
        }
        if state != TransactionState::Dead && producer_epoch < 0 {
            return Err(self.illegal(format!("illegal producer epoch {producer_epoch}")));
        }
        if !state.valid_previous_states().contains(&self.state) {
            return Err(self.illegal(format!(
                "{} cannot follow {}",
                state.name(),
                self.state.name()
            )));
        }
        self.pending_state = Some(state);
        Ok(TxnTransit {
            producer_id,
            prev_producer_id: self.producer_id,
            producer_epoch,
            last_producer_epoch,
            txn_timeout_ms,
            state,
            partitions,
            txn_start_timestamp,
            txn_last_update_timestamp: now,
        })
    }

    /// Fencing an ongoing transaction: the epoch is bumped (not again after
    /// a failed fence) and PrepareEpochFence becomes pending; the abort
    /// that follows writes the bumped epoch.
    pub fn prepare_fence_producer_epoch(&mut self) -> Result<TxnTransit, IllegalTransition> {
        if self.producer_epoch == i16::MAX {
            return Err(self.illegal("cannot fence an epoch of i16::MAX".into()));
        }
        let bumped = if self.has_failed_epoch_fence {
            self.producer_epoch
        } else {
            self.producer_epoch + 1
        };
        self.prepare_transition_to(
            TransactionState::PrepareEpochFence,
            self.producer_id,
            bumped,
            NO_PRODUCER_EPOCH,
            self.txn_timeout_ms,
            self.partitions.clone(),
            self.txn_start_timestamp,
            self.txn_last_update_timestamp,
        )
    }

    /// InitProducerId on an existing id: bumps the epoch (to Empty).
    /// `expected_epoch` is the epoch the producer gave (KIP-360): the
    /// current one bumps, the last one (a retry) returns the current epoch,
    /// any other is `Ok(Err(PRODUCER_FENCED))`.
    pub fn prepare_increment_producer_epoch(
        &mut self,
        txn_timeout_ms: i32,
        expected_epoch: Option<i16>,
        now: i64,
    ) -> Result<Result<TxnTransit, i16>, IllegalTransition> {
        if Self::is_epoch_exhausted(self.producer_epoch) {
            return Err(self.illegal("producer epoch exhausted".into()));
        }
        let bumped = self.producer_epoch + 1;
        let (epoch, last) = match expected_epoch {
            None => (bumped, NO_PRODUCER_EPOCH),
            Some(e) if self.producer_epoch == NO_PRODUCER_EPOCH || e == self.producer_epoch => {
                (bumped, self.producer_epoch)
            }
            Some(e) if e == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return Ok(Err(super::coordinator::codes::PRODUCER_FENCED)),
        };
        self.prepare_transition_to(
            TransactionState::Empty,
            self.producer_id,
            epoch,
            last,
            txn_timeout_ms,
            BTreeSet::new(),
            -1,
            now,
        )
        .map(Ok)
    }

    /// InitProducerId when the epoch is exhausted: a new producer id with
    /// epoch 0 (to Empty).
    pub fn prepare_producer_id_rotation(
        &mut self,
        new_producer_id: i64,
        txn_timeout_ms: i32,
        now: i64,
        record_last_epoch: bool,
    ) -> Result<TxnTransit, IllegalTransition> {
        if matches!(
            self.state,
            TransactionState::Ongoing
                | TransactionState::PrepareAbort
                | TransactionState::PrepareCommit
        ) {
            return Err(self.illegal("rotating the producer id during a transaction".into()));
        }
        let last = if record_last_epoch {
            self.producer_epoch
        } else {
            NO_PRODUCER_EPOCH
        };
        self.prepare_transition_to(
            TransactionState::Empty,
            new_producer_id,
            0,
            last,
            txn_timeout_ms,
            BTreeSet::new(),
            -1,
            now,
        )
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: to Ongoing with `added`
    /// partitions; the start time is set when the transaction begins.
    pub fn prepare_add_partitions(
        &mut self,
        added: &BTreeSet<(String, i32)>,
        now: i64,
    ) -> Result<TxnTransit, IllegalTransition> {
        let start = match self.state {
            TransactionState::Empty
            | TransactionState::CompleteAbort
            | TransactionState::CompleteCommit => now,
            _ => self.txn_start_timestamp,
        };
        let partitions = self.partitions.union(added).cloned().collect();
        self.prepare_transition_to(
            TransactionState::Ongoing,
            self.producer_id,
            self.producer_epoch,
            self.last_producer_epoch,
            self.txn_timeout_ms,
            partitions,
            start,
            now,
        )
    }

    /// EndTxn: to PrepareCommit or PrepareAbort.
    pub fn prepare_abort_or_commit(
        &mut self,
        state: TransactionState,
        now: i64,
    ) -> Result<TxnTransit, IllegalTransition> {
        self.prepare_transition_to(
            state,
            self.producer_id,
            self.producer_epoch,
            self.last_producer_epoch,
            self.txn_timeout_ms,
            self.partitions.clone(),
            self.txn_start_timestamp,
            now,
        )
    }

    /// All markers written: to CompleteCommit or CompleteAbort.
    pub fn prepare_complete(&mut self, now: i64) -> Result<TxnTransit, IllegalTransition> {
        let state = if self.state == TransactionState::PrepareCommit {
            TransactionState::CompleteCommit
        } else {
            TransactionState::CompleteAbort
        };
        self.has_failed_epoch_fence = false;
        self.prepare_transition_to(
            state,
            self.producer_id,
            self.producer_epoch,
            self.producer_epoch,
            self.txn_timeout_ms,
            BTreeSet::new(),
            self.txn_start_timestamp,
            now,
        )
    }

    /// Expiry of the transactional id: to Dead (a tombstone is written).
    pub fn prepare_dead(&mut self) -> Result<TxnTransit, IllegalTransition> {
        self.prepare_transition_to(
            TransactionState::Dead,
            self.producer_id,
            self.producer_epoch,
            self.last_producer_epoch,
            self.txn_timeout_ms,
            BTreeSet::new(),
            self.txn_start_timestamp,
            self.txn_last_update_timestamp,
        )
    }

    /// Applies a transition once its record is durable; checks it as
    /// Kafka's `completeTransitionTo` does (pending state, epochs,
    /// partitions, timeout).
    pub fn complete_transition(&mut self, t: &TxnTransit) -> Result<(), IllegalTransition> {
        use TransactionState::*;
        let Some(to) = self.pending_state else {
            return Err(self.illegal("completing a transition with none pending".into()));
        };
        let bad = |s: &Self| s.illegal(format!("unexpected transition {t:?} from {s:?}"));
        if to != t.state {
            return Err(bad(self));
        }
        let same_epoch =
            t.producer_epoch == self.producer_epoch && t.producer_id == self.producer_id;
        match to {
            Empty => {
                let bump = t.producer_epoch == self.producer_epoch.wrapping_add(1)
                    || (t.producer_epoch == 0 && t.producer_id != self.producer_id);
                if (self.producer_epoch != t.producer_epoch && !bump)
                    || !t.partitions.is_empty()
                    || t.txn_start_timestamp != -1
                {
                    return Err(bad(self));
                }
                self.txn_timeout_ms = t.txn_timeout_ms;
                self.producer_epoch = t.producer_epoch;
                self.last_producer_epoch = t.last_producer_epoch;
                self.producer_id = t.producer_id;
                self.previous_producer_id = t.prev_producer_id;
            }
            Ongoing => {
                if !same_epoch
                    || !self.partitions.is_subset(&t.partitions)
                    || self.txn_timeout_ms != t.txn_timeout_ms
                {
                    return Err(bad(self));
                }
                self.txn_start_timestamp = t.txn_start_timestamp;
                self.partitions = t.partitions.clone();
            }
            PrepareAbort | PrepareCommit => {
                if !same_epoch
                    || self.partitions != t.partitions
                    || self.txn_timeout_ms != t.txn_timeout_ms
                    || self.txn_start_timestamp != t.txn_start_timestamp
                {
                    return Err(bad(self));
                }
            }
            CompleteAbort | CompleteCommit => {
                if !same_epoch
                    || self.txn_timeout_ms != t.txn_timeout_ms
                    || t.txn_start_timestamp == -1
                {
                    return Err(bad(self));
                }
                self.txn_start_timestamp = t.txn_start_timestamp;
                self.partitions.clear();
            }
            PrepareEpochFence | Dead => return Err(bad(self)),
        }
        self.txn_last_update_timestamp = t.txn_last_update_timestamp;
        self.pending_state = None;
        self.state = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionState::*;

    #[test]
    fn ids_and_names_are_kafkas() {
        for (i, s) in TransactionState::ALL.iter().enumerate() {
            assert_eq!(s.id() as usize, i);
            assert_eq!(TransactionState::from_id(i as i8), Some(*s));
            assert_eq!(TransactionState::from_name(s.name()), Some(*s));
        }
        assert_eq!(TransactionState::from_id(8), None);
        assert_eq!(PrepareEpochFence.name(), "PrepareEpochFence");
    }

    fn parts(ps: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
        ps.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    fn apply(m: &mut TransactionMetadata, t: Result<TxnTransit, IllegalTransition>) {
        let t = t.unwrap();
        m.complete_transition(&t).unwrap();
    }

    #[test]
    fn every_transition_of_the_table_is_allowed_and_others_refused() {
        // Walk a transactional id through its life: init, add, commit,
        // add, abort, fence, expire.
        let mut m = TransactionMetadata::new("t", 7, 1000, 1);
        let t = m
            .prepare_increment_producer_epoch(1000, None, 2)
            .unwrap()
            .unwrap();
        apply(&mut m, Ok(t));
        assert_eq!((m.state, m.producer_epoch), (Empty, 0));
        let t = m.prepare_add_partitions(&parts(&[("a", 0)]), 3);
        apply(&mut m, t);
        assert_eq!((m.state, m.txn_start_timestamp), (Ongoing, 3));
        let t = m.prepare_add_partitions(&parts(&[("b", 1)]), 4);
        apply(&mut m, t);
        assert_eq!(m.partitions, parts(&[("a", 0), ("b", 1)]));
        assert_eq!(m.txn_start_timestamp, 3, "start kept while ongoing");
        let t = m.prepare_abort_or_commit(PrepareCommit, 5);
        apply(&mut m, t);
        // Nothing but completion may follow PrepareCommit.
        assert!(
            m.clone()
                .prepare_add_partitions(&parts(&[("c", 0)]), 6)
                .is_err()
        );
        assert!(m.clone().prepare_abort_or_commit(PrepareAbort, 6).is_err());
        assert!(m.clone().prepare_dead().is_err());
        let t = m.prepare_complete(6);
        apply(&mut m, t);
        assert_eq!((m.state, m.partitions.len()), (CompleteCommit, 0));
        let t = m.prepare_add_partitions(&parts(&[("c", 0)]), 7);
        apply(&mut m, t);
        assert_eq!(m.txn_start_timestamp, 7, "a new transaction starts");
        // A second pending transition is refused.
        let t = m.prepare_fence_producer_epoch().unwrap();
        assert_eq!((t.state, t.producer_epoch), (PrepareEpochFence, 1));
        assert!(m.prepare_abort_or_commit(PrepareAbort, 8).is_err());
        // The coordinator turns the fence into PrepareAbort with the bumped epoch.
        m.pending_state = None;
        m.producer_epoch = t.producer_epoch;
        let t = m.prepare_abort_or_commit(PrepareAbort, 8);
        apply(&mut m, t);
        let t = m.prepare_complete(9);
        apply(&mut m, t);
        assert_eq!((m.state, m.producer_epoch), (CompleteAbort, 1));
        assert!(
            m.clone()
                .prepare_abort_or_commit(PrepareCommit, 10)
                .is_err()
        );
        let t = m.prepare_dead().unwrap();
        assert_eq!(t.state, Dead);
        assert!(
            m.complete_transition(&t).is_err(),
            "Dead is never completed"
        );
    }

    #[test]
    fn kip_360_epochs() {
        let mut m = TransactionMetadata::new("t", 7, 1000, 1);
        m.producer_epoch = 4;
        // The current epoch bumps and remembers it.
        let t = m
            .prepare_increment_producer_epoch(1000, Some(4), 2)
            .unwrap()
            .unwrap();
        m.complete_transition(&t).unwrap();
        assert_eq!((m.producer_epoch, m.last_producer_epoch), (5, 4));
        // A retry with the old epoch gets the same epoch back.
        let t = m
            .prepare_increment_producer_epoch(1000, Some(4), 3)
            .unwrap()
            .unwrap();
        m.complete_transition(&t).unwrap();
        assert_eq!(m.producer_epoch, 5);
        // Another epoch is fenced.
        assert_eq!(
            m.prepare_increment_producer_epoch(1000, Some(2), 4)
                .unwrap(),
            Err(super::super::coordinator::codes::PRODUCER_FENCED)
        );
        // Exhaustion.
        assert!(TransactionMetadata::is_epoch_exhausted(i16::MAX - 1));
        m.producer_epoch = i16::MAX - 1;
        assert!(m.prepare_increment_producer_epoch(1000, None, 5).is_err());
        let t = m.prepare_producer_id_rotation(8, 1000, 5, false).unwrap();
        m.complete_transition(&t).unwrap();
        assert_eq!(
            (m.producer_id, m.producer_epoch, m.previous_producer_id),
            (8, 0, 7)
        );
    }

    #[test]
    fn values_round_trip_through_the_log_schema() {
        let mut m = TransactionMetadata::new("t", 7, 1000, 1);
        m.producer_epoch = 0;
        let t = m
            .prepare_add_partitions(&parts(&[("a", 1), ("a", 0), ("b", 3)]), 3)
            .unwrap();
        let v = t.to_value();
        assert_eq!(
            v.partitions,
            Some(vec![("a".into(), vec![0, 1]), ("b".into(), vec![3])])
        );
        let bytes = v.encode();
        let back = TransactionMetadata::from_value(
            "t",
            &super::super::schema::TxnValue::decode(&bytes).unwrap(),
        );
        assert_eq!(back.partitions, t.partitions);
        assert_eq!(back.state, Ongoing);
        assert_eq!(back.txn_start_timestamp, 3);
    }
}

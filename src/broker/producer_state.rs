//! Idempotent producers: the last few batches each producer id appended to
//! a partition, so that a batch sent again (a retry after a lost response)
//! is answered with its original offsets instead of being appended twice,
//! as Kafka does. State lives in memory only; after a restart, sequences
//! are accepted as they come.

use crate::record::BatchHeader;
use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer (Kafka's limit of in-flight requests
/// with idempotence).
const REMEMBERED: usize = 5;

/// One appended batch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Appended {
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

/// Recent batches of every producer id on one partition.
#[derive(Debug, Default)]
pub struct ProducerState {
    producers: HashMap<i64, VecDeque<Appended>>,
}

impl ProducerState {
    /// If `header` is a batch this producer already appended, its
    /// (base offset, last offset).
    pub fn duplicate_of(&self, header: &BatchHeader) -> Option<(i64, i64)> {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return None;
        }
        let last_seq = header.base_sequence.wrapping_add(header.last_offset_delta);
        self.producers
            .get(&header.producer_id)?
            .iter()
            .find_map(|a| {
                (a.epoch == header.producer_epoch
                    && a.first_seq == header.base_sequence
                    && a.last_seq == last_seq)
                    .then_some((a.base_offset, a.last_offset))
            })
    }

    /// Records that `header`'s batch was appended at `base_offset`.
    pub fn appended(&mut self, header: &BatchHeader, base_offset: i64) {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return;
        }
        let entry = Appended {
            epoch: header.producer_epoch,
            first_seq: header.base_sequence,
            last_seq: header.base_sequence.wrapping_add(header.last_offset_delta),
            base_offset,
            last_offset: base_offset + header.last_offset_delta as i64,
        };
        let batches = self.producers.entry(header.producer_id).or_default();
        if batches.back().is_some_and(|b| b.epoch != entry.epoch) {
            batches.clear();
        }
        if batches.len() == REMEMBERED {
            batches.pop_front();
        }
        batches.push_back(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression};

    fn header(pid: i64, epoch: i16, seq: i32, n: usize) -> BatchHeader {
        let mut b = BatchBuilder::new(Compression::None, 0).producer(pid, epoch, seq);
        for _ in 0..n {
            b.push(0, None, Some(b"v"), &[]);
        }
        BatchHeader::parse(&b.finish()).unwrap()
    }

    #[test]
    fn retried_batches_are_found_others_not() {
        let mut s = ProducerState::default();
        let a = header(7, 0, 0, 3);
        let b = header(7, 0, 3, 2);
        assert_eq!(s.duplicate_of(&a), None);
        s.appended(&a, 100);
        s.appended(&b, 103);
        assert_eq!(s.duplicate_of(&a), Some((100, 102)));
        assert_eq!(s.duplicate_of(&b), Some((103, 104)));
        assert_eq!(s.duplicate_of(&header(7, 1, 0, 3)), None, "other epoch");
        assert_eq!(s.duplicate_of(&header(8, 0, 0, 3)), None, "other producer");
        assert_eq!(
            s.duplicate_of(&header(-1, -1, -1, 3)),
            None,
            "not idempotent"
        );
        for i in 0..5 {
            s.appended(&header(7, 0, 5 + i, 1), 105 + i as i64);
        }
        assert_eq!(s.duplicate_of(&a), None, "only the last five are kept");
        s.appended(&header(7, 1, 0, 1), 200);
        assert_eq!(
            s.duplicate_of(&header(7, 0, 9, 1)),
            None,
            "a new epoch forgets the old"
        );
    }
}

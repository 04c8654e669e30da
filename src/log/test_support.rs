//! Test-only helpers: batches built with the record module's BatchBuilder.

use crate::record::{BatchBuilder, Compression, Header};

/// A test record: timestamp, key, value.
pub type TestRecord<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>);

/// An uncompressed v2 batch of (timestamp, key, value) records, base offset 0.
pub fn batch(records: &[TestRecord]) -> Vec<u8> {
    batch_with(Compression::None, records, &[])
}

/// A v2 batch with a codec and the same headers on every record.
pub fn batch_with(codec: Compression, records: &[TestRecord], headers: &[Header]) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec, records.first().map_or(0, |r| r.0));
    for (ts, k, v) in records {
        b.push(*ts, *k, *v, headers);
    }
    b.finish()
}

/// A batch of `n` records with value `value` and timestamp `ts`.
pub fn simple(n: usize, ts: i64, value: &[u8]) -> Vec<u8> {
    let recs: Vec<_> = (0..n).map(|_| (ts, None, Some(value))).collect();
    batch(&recs)
}

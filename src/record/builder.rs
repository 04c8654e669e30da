//! Encoding records into a v2 record batch.

use super::{Compression, Header};

/// Accumulates records and encodes them as one v2 record batch
/// (base offset 0 until the log assigns one).
pub struct BatchBuilder {
    _compression: Compression,
}

impl BatchBuilder {
    /// A new, empty batch whose first record has `base_timestamp`.
    pub fn new(compression: Compression, base_timestamp: i64) -> Self {
        let _ = base_timestamp;
        todo!("record helper: BatchBuilder::new {compression:?}")
    }

    /// Appends one record; its offset delta is the count of records so far.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        let _ = (timestamp, key, value, headers);
        todo!()
    }

    /// Number of records pushed.
    pub fn len(&self) -> usize {
        todo!()
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Uncompressed bytes of the records pushed so far (for size limits).
    pub fn estimated_size(&self) -> usize {
        todo!()
    }

    /// Encodes the batch (compressed if asked) with a valid CRC32C.
    pub fn finish(self) -> Vec<u8> {
        todo!()
    }
}

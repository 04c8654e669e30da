//! Opening `__consumer_offsets` on a real data directory for the group tests.

use runnel::broker::group::{LogStore, OffsetsStore};
use runnel::log::{DataDir, GroupCommit};
use std::path::Path;
use std::sync::Arc;

/// Partitions of `__consumer_offsets` in tests (fewer than Kafka's 50 to keep them quick).
pub const TEST_OFFSETS_PARTITIONS: i32 = 5;

/// The store of `__consumer_offsets` in the data directory at `dir`
/// (created if needed). The data directory stays open as long as the store.
pub fn open_store(dir: &Path) -> Arc<KeepOpen> {
    let data_dir = DataDir::open(dir, true).expect("data dir opens");
    let store = LogStore::open(&data_dir, TEST_OFFSETS_PARTITIONS, GroupCommit::start())
        .expect("offsets topic opens");
    Arc::new(KeepOpen {
        store,
        _data_dir: data_dir,
    })
}

/// A store that holds its data directory (and so its lock) open.
pub struct KeepOpen {
    /// The store on the log engine.
    pub store: LogStore,
    _data_dir: DataDir,
}

impl OffsetsStore for KeepOpen {
    fn partitions(&self) -> i32 {
        self.store.partitions()
    }
    fn load(
        &self,
        partition: i32,
    ) -> Result<Vec<runnel::broker::group::StoredRecord>, runnel::broker::group::StoreError> {
        self.store.load(partition)
    }
    fn append(
        &self,
        partition: i32,
        records: &[runnel::broker::group::StoredRecord],
        timestamp_ms: i64,
    ) -> Result<runnel::broker::group::store::Durable, runnel::broker::group::StoreError> {
        self.store.append(partition, records, timestamp_ms)
    }
    fn load_entries(
        &self,
        partition: i32,
    ) -> Result<Vec<runnel::broker::group::store::LoadedEntry>, runnel::broker::group::StoreError>
    {
        self.store.load_entries(partition)
    }
    fn append_transactional(
        &self,
        partition: i32,
        records: &[runnel::broker::group::StoredRecord],
        producer_id: i64,
        producer_epoch: i16,
        timestamp_ms: i64,
        guard: &mut dyn FnMut() -> Result<(), i16>,
    ) -> Result<Result<runnel::broker::group::store::Durable, i16>, runnel::broker::group::StoreError>
    {
        self.store.append_transactional(
            partition,
            records,
            producer_id,
            producer_epoch,
            timestamp_ms,
            guard,
        )
    }
    fn close(&self) -> Result<(), runnel::broker::group::StoreError> {
        self.store.close()
    }
}

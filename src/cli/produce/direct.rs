//! Producing into a data directory: the records go into one batch per
//! partition, and each full batch is appended to the partition's log.

use super::{Sink, SinkConfig};
use crate::cli::direct::DirectBackend;
use crate::record::BatchBuilder;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes records into a data directory.
pub(super) struct DirectSink<'a> {
    dir: &'a mut DirectBackend,
    config: SinkConfig,
    builders: Vec<Option<BatchBuilder>>,
}

impl<'a> DirectSink<'a> {
    /// A sink for a topic of `partitions` partitions.
    pub(super) fn new(dir: &'a mut DirectBackend, config: SinkConfig, partitions: i32) -> Self {
        DirectSink {
            dir,
            config,
            builders: (0..partitions).map(|_| None).collect(),
        }
    }

    /// Appends `partition`'s pending batch to its log.
    fn send(&mut self, partition: i32) -> anyhow::Result<()> {
        if let Some(builder) = self.builders[partition as usize].take() {
            self.dir
                .append(&self.config.topic, partition, builder.finish())?;
        }
        Ok(())
    }
}

impl Sink for DirectSink<'_> {
    /// Adds the record to `partition`'s batch, sending the batch first if
    /// the record would not fit.
    fn push(
        &mut self,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        size: usize,
    ) -> anyhow::Result<()> {
        let index = partition as usize;
        if let Some(builder) = &self.builders[index]
            && builder.estimated_size() + size > self.config.batch_bytes
        {
            self.send(partition)?;
        }
        let now = now_ms();
        let (compression, capacity) = (self.config.compression, self.config.batch_bytes + 64);
        let builder = self.builders[index]
            .get_or_insert_with(|| BatchBuilder::with_capacity(compression, now, capacity));
        builder.push(now, key, value, &self.config.headers);
        Ok(())
    }

    /// Appends every pending batch, then fdatasyncs.
    fn finish(&mut self) -> anyhow::Result<()> {
        for partition in 0..self.builders.len() as i32 {
            self.send(partition)?;
        }
        self.dir.flush()
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

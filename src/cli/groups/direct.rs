//! `runnel groups list|describe -d DIR`: the consumer groups a data
//! directory keeps in its `__consumer_offsets` (written by `runnel serve` or
//! by `runnel consume -d DIR -g GROUP`), read without a broker and without
//! taking the directory's lock.

use crate::broker::group::{DirectGroupOffsets, StoredGroup};
use crate::cli::connect::Access;
use crate::cli::direct::DirectBackend;
use crate::client::group::{GroupDescription, GroupListing, GroupOffsets, PartitionLag};
use crate::log::DataDir;
use anyhow::Context;
use std::path::Path;

/// The coordinator shown for groups of a data directory: none runs.
const NO_COORDINATOR: i32 = -1;

/// Opens the groups of the data directory at `path` for reading.
fn open(path: &Path) -> anyhow::Result<DirectGroupOffsets> {
    let dir = DataDir::open_read_only(path)?;
    DirectGroupOffsets::open(&dir)
        .with_context(|| format!("cannot read the consumer groups of {}", path.display()))
}

/// Every group with committed offsets or stored metadata, sorted by id.
pub(super) fn list(path: &Path) -> anyhow::Result<Vec<GroupListing>> {
    Ok(open(path)?
        .list()?
        .into_iter()
        .map(|g| GroupListing {
            group_id: g.group_id,
            protocol_type: g.protocol_type,
            state: Some(g.state),
            coordinator: NO_COORDINATOR,
        })
        .collect())
}

/// The committed offset, log end offset and lag of every partition `group`
/// has committed offsets for. No member is shown: none is connected to a
/// data directory.
pub(super) fn describe(path: &Path, group: &str) -> anyhow::Result<GroupOffsets> {
    let Some(stored) = open(path)?.describe(group)? else {
        anyhow::bail!(
            "consumer group '{group}' does not exist in {}",
            path.display()
        );
    };
    let mut logs = DirectBackend::open(path, Access::Read)?;
    let StoredGroup {
        group_id,
        protocol_type,
        state,
        protocol,
        offsets,
        ..
    } = stored;
    let partitions = offsets
        .into_iter()
        .map(|((topic, partition), committed)| {
            // A topic deleted since the commit has no end.
            let end = logs.offsets(&topic, partition).ok().map(|(_, end)| end);
            PartitionLag {
                lag: end.map(|e| (e - committed).max(0)),
                topic,
                partition,
                current_offset: Some(committed),
                log_end_offset: end,
                member_id: None,
                client_id: None,
                host: None,
            }
        })
        .collect();
    Ok(GroupOffsets {
        group: GroupDescription {
            group_id,
            state,
            protocol_type,
            protocol,
            members: Vec::new(),
        },
        partitions,
    })
}

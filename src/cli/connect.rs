//! Where the client subcommands (`topics`, `produce`, `consume`) get their
//! data: a data directory (direct mode) or a Kafka broker.

use super::backend::Backend;
use std::path::PathBuf;

/// Default bootstrap broker.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// `-d/--data-dir` or `-b/--brokers`, shared by the client subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Work directly on this data directory instead of talking to a broker.
    ///
    /// The files are Apache Kafka's on-disk format; a writer locks the
    /// directory, readers (consume) do not. Takes precedence over --brokers.
    #[arg(
        short = 'd',
        long,
        env = "RUNNEL_DATA_DIR",
        value_name = "DIR",
        global = true
    )]
    pub data_dir: Option<PathBuf>,

    /// Bootstrap brokers to talk to, comma-separated.
    ///
    /// Any Kafka-protocol broker works (runnel serve, Apache Kafka, Redpanda...).
    #[arg(
        short = 'b',
        long,
        env = "RUNNEL_BROKERS",
        value_name = "HOST:PORT[,...]",
        default_value = DEFAULT_BROKERS,
        global = true
    )]
    pub brokers: String,
}

/// What a subcommand intends to do, so direct mode locks the data directory
/// only when it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only: no lock (can follow a topic while a writer runs).
    Read,
    /// Writes: the data directory is locked while the subcommand runs.
    Write,
    /// Writes, creating the data directory if it does not exist (`topics create`).
    Create,
}

impl ConnectArgs {
    /// Opens the backend these arguments select.
    pub fn open(&self, access: Access) -> anyhow::Result<Backend> {
        match &self.data_dir {
            Some(dir) => Backend::direct(dir, access),
            None => Backend::broker(&self.brokers),
        }
    }
}

//! Topic metadata of the broker's data directory: which topics exist, their
//! ids, partition counts and configs, and where their partition logs live.
//!
//! This is the one place the broker touches the data directory's layout;
//! the log engine's [`crate::log::DataDir`] is the owner of that format, and
//! this module keeps to it (`<topic>.properties`, `<topic>-<partition>/`).

use crate::log::{LogConfig, LogError, TopicMeta};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Result of catalog operations.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open, locked data directory as the broker sees it.
pub struct Catalog {
    dir: PathBuf,
    _lock: File,
}

const LOCK_FILE: &str = ".lock";
const PROPERTIES_SUFFIX: &str = ".properties";

impl Catalog {
    /// Opens (creating) the data directory and takes its exclusive lock.
    pub fn open(dir: &Path) -> Result<Catalog> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let mut lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // SAFETY: flock on a descriptor we own.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
            return Err(LogError::Locked {
                path: dir.to_path_buf(),
                holder: holder.trim().to_string(),
            });
        }
        lock.set_len(0).map_err(io_err(&lock_path))?;
        let cmdline: Vec<String> = std::env::args().collect();
        writeln!(lock, "pid {} {}", std::process::id(), cmdline.join(" "))
            .map_err(io_err(&lock_path))?;
        Ok(Catalog {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Directory of one partition's log.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir.join(format!("{topic}-{partition}"))
    }

    fn meta_path(&self, topic: &str) -> PathBuf {
        self.dir.join(format!("{topic}{PROPERTIES_SUFFIX}"))
    }

    /// Every topic's metadata, by name.
    pub fn load_topics(&self) -> Result<Vec<TopicMeta>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(topic) = name.strip_suffix(PROPERTIES_SUFFIX) else {
                continue;
            };
            let path = entry.path();
            let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            out.push(parse_meta(topic, &text, &path)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Writes a topic's metadata (atomically: temporary file, fsync, rename).
    pub fn write_topic(&self, meta: &TopicMeta) -> Result<()> {
        let path = self.meta_path(&meta.name);
        let tmp = self
            .dir
            .join(format!("{}{PROPERTIES_SUFFIX}.tmp", meta.name));
        let mut text = format!(
            "# runnel topic metadata\nname={}\ntopic.id={}\npartitions={}\n",
            meta.name, meta.id, meta.partitions
        );
        for (k, v) in &meta.configs {
            text.push_str(&format!("config.{k}={v}\n"));
        }
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Removes a topic's metadata and its partition directories.
    pub fn delete_topic(&self, meta: &TopicMeta) -> Result<()> {
        let path = self.meta_path(&meta.name);
        std::fs::remove_file(&path).map_err(io_err(&path))?;
        for p in 0..meta.partitions {
            let dir = self.partition_dir(&meta.name, p);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
            }
        }
        Ok(())
    }
}

fn parse_meta(topic: &str, text: &str, path: &Path) -> Result<TopicMeta> {
    let bad = |reason: &str| LogError::Corrupt {
        path: path.to_path_buf(),
        position: 0,
        reason: reason.to_string(),
    };
    let mut id = None;
    let mut partitions = None;
    let mut configs = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(bad("expected key=value"));
        };
        match k.trim() {
            "topic.id" => id = uuid::Uuid::parse_str(v.trim()).ok(),
            "partitions" => partitions = v.trim().parse().ok(),
            key => {
                if let Some(c) = key.strip_prefix("config.") {
                    configs.insert(c.to_string(), v.trim().to_string());
                }
            }
        }
    }
    Ok(TopicMeta {
        name: topic.to_string(),
        id: id.ok_or_else(|| bad("missing or invalid topic.id"))?,
        partitions: partitions.ok_or_else(|| bad("missing or invalid partitions"))?,
        configs,
    })
}

/// Builds a partition's [`LogConfig`] from effective topic configs
/// (broker-derived defaults overlaid with the topic's own).
pub fn log_config(effective: &BTreeMap<String, String>) -> LogConfig {
    fn num<T: std::str::FromStr>(m: &BTreeMap<String, String>, k: &str, d: T) -> T {
        m.get(k).and_then(|v| v.trim().parse().ok()).unwrap_or(d)
    }
    let policy = effective
        .get("cleanup.policy")
        .map(String::as_str)
        .unwrap_or("delete");
    LogConfig {
        segment_bytes: num(effective, "segment.bytes", 1 << 30),
        segment_ms: num(effective, "segment.ms", 604_800_000),
        retention_ms: num(effective, "retention.ms", 604_800_000),
        retention_bytes: num(effective, "retention.bytes", -1),
        delete: policy.split(',').any(|p| p.trim() == "delete"),
        compact: policy.split(',').any(|p| p.trim() == "compact"),
        delete_retention_ms: num(effective, "delete.retention.ms", 86_400_000),
        max_message_bytes: num(effective, "max.message.bytes", 1_048_588),
        index_interval_bytes: num(effective, "index.interval.bytes", 4096),
        segment_index_bytes: num(effective, "segment.index.bytes", 10 << 20),
        log_append_time: effective
            .get("message.timestamp.type")
            .is_some_and(|v| v == "LogAppendTime"),
        min_cleanable_dirty_ratio: num(effective, "min.cleanable.dirty.ratio", 0.5),
        min_compaction_lag_ms: num(effective, "min.compaction.lag.ms", 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_roundtrip_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(dir.path()).unwrap();
        assert!(matches!(
            Catalog::open(dir.path()),
            Err(LogError::Locked { .. })
        ));
        let meta = TopicMeta {
            name: "orders".into(),
            id: uuid::Uuid::new_v4(),
            partitions: 3,
            configs: [("retention.ms".to_string(), "1000".to_string())].into(),
        };
        cat.write_topic(&meta).unwrap();
        std::fs::create_dir(cat.partition_dir("orders", 1)).unwrap();
        assert_eq!(cat.load_topics().unwrap(), vec![meta.clone()]);
        cat.delete_topic(&meta).unwrap();
        assert!(cat.load_topics().unwrap().is_empty());
        assert!(!cat.partition_dir("orders", 1).exists());
    }

    #[test]
    fn log_config_from_effective_configs() {
        let m: BTreeMap<String, String> = [
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "-1"),
            ("message.timestamp.type", "LogAppendTime"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = log_config(&m);
        assert!(c.compact && c.delete && c.log_append_time);
        assert_eq!(c.retention_ms, -1);
        assert_eq!(c.max_message_bytes, 1_048_588);
    }
}

//! The kill -9 loop: `runnel serve` is killed with SIGKILL at random moments
//! while librdkafka (confluent-kafka from the venv) produces with acks=all,
//! and restarted on the same address and data directory each time. At the
//! end every record the producer got a delivery acknowledgement for must be
//! in the log: an acknowledged record is never lost. With a plain producer,
//! retries after a kill may append a record twice; duplicates are counted
//! and reported, not failed. The idempotent producer's loop (0 duplicates,
//! in order per partition) and the transactional one live in
//! bin/kill-loop-txn, which CI runs after `cargo test`.
//!
//! Needs `bin/setup-test-deps` once (the venv); without it this test fails
//! and says so.

mod support;

#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;

use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{Broker, free_port, runnel, signal, wait_exit};

/// Kill -9 cycles.
const CYCLES: usize = 30;
/// Each cycle lets the broker run this long (uniformly drawn, ms) before the kill.
const UP_MS: std::ops::Range<u64> = 300..1500;
/// The whole loop (not the final checks) must end within this.
const LOOP_LIMIT: Duration = Duration::from_secs(120);
const TOPIC: &str = "kill-loop";

/// What one kill loop left: acknowledged keys, and the log's records.
struct Outcome {
    acked: Vec<String>,
    in_log: Vec<Record>,
}

/// One record read back: its key.
struct Record {
    key: String,
}

impl Outcome {
    /// How often each key is in the log.
    fn counts(&self) -> HashMap<&str, usize> {
        let mut counts = HashMap::new();
        for r in &self.in_log {
            *counts.entry(r.key.as_str()).or_insert(0) += 1;
        }
        counts
    }

    /// Acknowledged keys not in the log.
    fn lost(&self) -> Vec<&str> {
        let counts = self.counts();
        let acked: HashSet<&str> = self.acked.iter().map(String::as_str).collect();
        acked
            .into_iter()
            .filter(|k| !counts.contains_key(*k))
            .collect()
    }
}

#[test]
fn no_acknowledged_record_is_lost_across_kill_9_restarts() {
    let outcome = kill_loop("plain");
    let lost = outcome.lost();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

/// Runs the kill -9 loop with the producer in `mode` (`plain`; `idempotent`
/// is bin/kill-loop-txn's); checks the producer's own success and returns what it
/// acknowledged and what the log holds.
fn kill_loop(mode: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let addr = format!("127.0.0.1:{}", free_port());
    let acked_path = dir.path().join("acked");
    let stop_path = dir.path().join("stop");
    let serve_log = |cycle: usize| dir.path().join(format!("serve-{cycle}.log"));

    let mut broker = Broker::start_at(&addr, &data, &serve_log(0), &[]);
    broker.ok(&["topics", "create", TOPIC, "-p", "2"], "");

    let mut producer = harness::python_script("kill_loop_producer.py")
        .args([&addr, TOPIC])
        .arg(&acked_path)
        .arg(&stop_path)
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kill_loop_producer.py");

    let mut rng = rand::rng();
    let started = Instant::now();
    let mut acked_before_kill = Vec::new();
    for cycle in 1..=CYCLES {
        std::thread::sleep(Duration::from_millis(rng.random_range(UP_MS)));
        acked_before_kill.push(count_lines(&acked_path));
        signal(&broker.child, libc::SIGKILL);
        let status = wait_exit(&mut broker.child, Duration::from_secs(10));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL),
            "cycle {cycle}: the broker ended before the kill ({status})"
        );
        if let Ok(Some(status)) = producer.try_wait() {
            panic!("cycle {cycle}: the producer ended early ({status})");
        }
        broker = Broker::start_at(&addr, &data, &serve_log(cycle), &[]);
        assert!(
            started.elapsed() < LOOP_LIMIT,
            "{cycle} cycles took {:?}",
            started.elapsed()
        );
    }
    let loop_time = started.elapsed();
    // Let the producer deliver what the last outage held up, then stop it.
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(&stop_path, b"").unwrap();
    let status = wait_exit(&mut producer, Duration::from_secs(60));
    let out = producer.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.success(),
        "producer failed ({status}): {summary}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    broker.stop();

    let acked: Vec<String> = std::fs::read_to_string(&acked_path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let outcome = Outcome {
        in_log: records_in_log(&data),
        acked,
    };
    let acked_set: HashSet<&str> = outcome.acked.iter().map(String::as_str).collect();
    let counts = outcome.counts();
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "kill loop ({mode}): cycles={CYCLES} loop={loop_time:.1?} acked={} (acked before each kill: \
         {acked_before_kill:?}) in_log={} lost={} duplicates={duplicates} producer={}",
        acked_set.len(),
        counts.len(),
        outcome.lost().len(),
        summary.trim()
    );
    assert!(
        acked_set.len() > 1000,
        "too few acknowledged records ({}) for the loop to mean anything",
        acked_set.len()
    );
    outcome
}

/// Lines in `path` so far (0 if it does not exist yet).
fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

/// Every record of the topic (its key), read straight from
/// the (stopped) broker's data directory.
fn records_in_log(data: &Path) -> Vec<Record> {
    let out = runnel()
        .args(["consume", TOPIC, "-o", "beginning", "--json", "-d"])
        .arg(data)
        .output()
        .expect("run runnel consume");
    assert!(
        out.status.success(),
        "runnel consume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut records = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("JSON record line");
        records.push(Record {
            key: record["key"].as_str().expect("key").to_string(),
        });
    }
    records
}

//! `runnel compact` on a data directory, through the binary.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

mod support;

/// Runs runnel with `args` in data directory `dir` and asserts success.
fn run(args: &[&str], dir: &Path, stdin: &str) -> Output {
    let out = support::run(args, &["-d", dir.to_str().expect("utf-8 path")], stdin);
    assert!(
        out.status.success(),
        "runnel {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: Output) -> String {
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Three rounds of k1..k5 (small segments, so all but the last are
/// cleanable), a tombstone for k2, and a record in the active segment.
fn compacted_topic(dir: &Path, policy: &str) {
    run(
        &[
            "topics",
            "create",
            "users",
            "-c",
            &format!("cleanup.policy={policy}"),
            "-c",
            "segment.bytes=1000",
            "-c",
            "delete.retention.ms=0",
        ],
        dir,
        "",
    );
    for round in 1..=3 {
        let lines: String = (1..=5)
            .map(|k| format!("k{k}:round{round}-{}\n", "x".repeat(100)))
            .collect();
        run(&["produce", "users", "-K", ":"], dir, &lines);
    }
    run(&["produce", "users", "-K", ":", "-Z"], dir, "k2:\n");
    run(&["produce", "users", "-K", ":"], dir, "k9:active\n");
}

fn records(dir: &Path) -> Vec<(i64, String, Option<String>)> {
    stdout(run(&["consume", "users", "--json"], dir, ""))
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            (
                v["offset"].as_i64().expect("offset"),
                v["key"].as_str().expect("key").to_string(),
                v["value"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn compaction_keeps_the_latest_record_per_key_and_offsets() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    compacted_topic(d, "compact");
    let before = records(d);
    assert_eq!(before.len(), 17);

    let dry = stdout(run(&["compact", "--dry-run", "--json"], d, ""));
    let dry: Value = serde_json::from_str(&dry).expect("JSON");
    assert_eq!(dry[0]["topic"], "users");
    assert!(dry[0]["records_after"].as_u64() < dry[0]["records_before"].as_u64());
    assert_eq!(records(d), before, "a dry run changed the data");

    let out = stdout(run(&["compact"], d, ""));
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.contains("RECORDS-BEFORE")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("users")), "{out}");
    let after = records(d);
    // Offsets keep their values; in the cleaned part, each key appears once.
    for (offset, key, value) in &after {
        let original = before
            .iter()
            .find(|(o, _, _)| o == offset)
            .expect("same offset");
        assert_eq!((&original.1, &original.2), (key, value));
    }
    let mut latest = std::collections::BTreeMap::new();
    for (offset, key, _) in &before {
        latest.insert(key.clone(), *offset);
    }
    for (key, offset) in &latest {
        assert!(
            after.iter().any(|(o, k, _)| o == offset && k == key),
            "latest {key} lost"
        );
    }
    assert!(after.len() < before.len());
    let verify = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["inspect", "--verify"])
        .arg(d)
        .output()
        .expect("inspect");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn only_compacted_topics_unless_named() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    compacted_topic(d, "delete");
    let before = records(d);
    let out = stdout(run(&["compact", "--json"], d, ""));
    assert_eq!(out.trim(), "[]");
    assert_eq!(records(d), before);
    run(&["compact", "--topic", "users"], d, "");
    assert!(records(d).len() < before.len());
}

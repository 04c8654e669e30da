//! Legacy (magic v0/v1) message sets as Apache Kafka wrote them
//! (tests/fixtures/kafka/legacy-0) inside a runnel data directory: `compact`
//! (dry run or not), `serve` with a real client (kcat) and `consume -d` read
//! them, and none of them changes a byte of them.

use runnel::record::{BatchBuilder, Compression, batch};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

const TOPIC: &str = "legacy";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kafka")
}

fn fixture_log() -> Vec<u8> {
    std::fs::read(fixture().join("legacy-0/00000000000000000000.log")).expect("fixture log")
}

/// (offset, key, value) of every record of the legacy fixture, from expected.json.
fn legacy_records() -> Vec<(i64, Option<String>, Option<String>)> {
    let text = std::fs::read_to_string(fixture().join("expected.json")).expect("expected.json");
    let expected: Value = serde_json::from_str(&text).expect("JSON");
    let string = |v: &Value| v.as_str().map(str::to_string);
    expected["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["partition_dir"] == "legacy-0")
        .map(|r| {
            (
                r["offset"].as_i64().expect("offset"),
                string(&r["key"]),
                string(&r["value"]),
            )
        })
        .collect()
}

/// The two v2 records after the legacy ones: newer values for two keys.
fn v2_records() -> Vec<(i64, Option<String>, Option<String>)> {
    vec![
        (9, Some("k2".into()), Some("k2 as v2".into())),
        (10, Some("w-a".into()), Some("w-a as v2".into())),
    ]
}

/// A data directory with topic `legacy` (compacted) whose partition 0 holds
/// the Kafka fixture's legacy segment (offsets 0..=8, with its indexes) and
/// a v2 segment at offset 9 (the active one), as Kafka left them after a
/// message format upgrade: no runnel `.lock`, no clean-shutdown marker.
fn legacy_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    support::ok_direct(
        &data,
        &[
            "topics",
            "create",
            TOPIC,
            "--partitions",
            "1",
            "-c",
            "cleanup.policy=compact",
        ],
        "",
    );
    let part = data.join("legacy-0");
    for entry in std::fs::read_dir(&part).expect("partition dir") {
        let path = entry.expect("entry").path();
        // The topic's metadata stays; its segments make way for Kafka's.
        if path.file_name() != Some(std::ffi::OsStr::new("topic.properties")) {
            std::fs::remove_file(path).expect("remove");
        }
    }
    for entry in std::fs::read_dir(fixture().join("legacy-0")).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), part.join(entry.file_name())).expect("copy");
    }
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    for (_, k, v) in v2_records() {
        let (k, v) = (k.expect("key"), v.expect("value"));
        b.push(
            1_700_000_000_000,
            Some(k.as_bytes()),
            Some(v.as_bytes()),
            &[],
        );
    }
    let mut v2 = b.finish();
    batch::set_base_offset(&mut v2, 9);
    std::fs::write(part.join("00000000000000000009.log"), v2).expect("v2 segment");
    for name in [".lock", ".kafka_cleanshutdown"] {
        let _ = std::fs::remove_file(data.join(name));
    }
    (tmp, data)
}

/// Every file under `dir` (relative path), with its bytes and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            let meta = std::fs::metadata(&path).expect("metadata");
            let rel = path.strip_prefix(dir).expect("under dir").to_path_buf();
            let bytes = std::fs::read(&path).expect("read");
            files.push((rel, bytes, meta.modified().expect("mtime")));
        }
    }
    files.sort();
    files
}

fn legacy_log(data: &Path) -> Vec<u8> {
    std::fs::read(data.join("legacy-0/00000000000000000000.log")).expect("legacy log")
}

/// `consume -d --json` from the beginning, as (offset, key, value).
fn consume_direct(data: &Path) -> Vec<(i64, Option<String>, Option<String>)> {
    support::ok_direct(data, &["consume", TOPIC, "--json"], "")
        .lines()
        .map(|l| {
            let v = support::json(l);
            let string = |v: &Value| v.as_str().map(str::to_string);
            (
                v["offset"].as_i64().expect("offset"),
                string(&v["key"]),
                string(&v["value"]),
            )
        })
        .collect()
}

fn all_records() -> Vec<(i64, Option<String>, Option<String>)> {
    let mut all = legacy_records();
    all.extend(v2_records());
    all
}

#[test]
fn compact_dry_run_on_a_legacy_dir_leaves_every_file_untouched() {
    let (_tmp, data) = legacy_dir();
    let before = snapshot(&data);
    // Modification times must be able to differ.
    std::thread::sleep(Duration::from_millis(20));
    let out = support::run(
        &["compact", "--topic", TOPIC, "--dry-run", "--json"],
        &["-d", data.to_str().expect("utf-8")],
        "",
    );
    let stdout = support::succeeded(&["compact", "--dry-run"], out);
    let after = snapshot(&data);
    let names = |s: &[(PathBuf, Vec<u8>, std::time::SystemTime)]| {
        s.iter().map(|(p, _, _)| p.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&after), names(&before), "files added or removed");
    assert!(after == before, "a file's bytes or mtime changed");
    let report = support::json(&stdout);
    // The legacy segment is the cleanable one: read whole, kept as stored.
    assert_eq!(report[0]["records_before"], 9, "{stdout}");
    assert_eq!(report[0]["records_after"], 9, "{stdout}");
    assert_eq!(report[0]["bytes_before"], fixture_log().len(), "{stdout}");
}

#[test]
fn compact_keeps_legacy_records_as_stored() {
    let (_tmp, data) = legacy_dir();
    let stdout = support::ok_direct(&data, &["compact", "--topic", TOPIC, "--json"], "");
    let report = support::json(&stdout);
    assert_eq!(report[0]["records_after"], 9, "{stdout}");
    assert_eq!(legacy_log(&data), fixture_log());
    assert_eq!(consume_direct(&data), all_records());
    // And the next open (clean this time) still finds them all.
    assert_eq!(consume_direct(&data), all_records());
}

#[test]
fn consume_direct_reads_legacy_records() {
    let (_tmp, data) = legacy_dir();
    let before = snapshot(&data);
    assert_eq!(consume_direct(&data), all_records());
    assert!(
        snapshot(&data) == before,
        "consume -d wrote to the directory"
    );
}

/// kcat with a bounded run time, parsing its `-J` output.
fn kcat_consume(addr: &str, offset: &str) -> Vec<(i64, Option<String>, Option<String>)> {
    let mut child = Command::new("kcat")
        .args([
            "-b", addr, "-q", "-C", "-J", "-e", "-t", TOPIC, "-p", "0", "-o",
        ])
        .arg(offset)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kcat is not installed (apt-get install kcat, or bin/setup-test-deps)");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kcat did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("kcat output");
    assert!(
        out.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v = support::json(l);
            let string = |v: &Value| v.as_str().map(str::to_string);
            (
                v["offset"].as_i64().expect("offset"),
                string(&v["key"]),
                string(&v["payload"]),
            )
        })
        .collect()
}

#[test]
fn serve_keeps_legacy_segments_and_kcat_fetches_them() {
    let (tmp, data) = legacy_dir();
    let broker = support::Broker::start(&data, &tmp.path().join("serve.log"));
    assert_eq!(kcat_consume(&broker.addr, "beginning"), all_records());
    // ListOffsets by timestamp looks into the gzip v1 wrapper (offsets 4..=6).
    let from_time = kcat_consume(&broker.addr, "s@1600000000008");
    assert_eq!(from_time.first().map(|r| r.0), Some(4), "{from_time:?}");
    broker.stop();
    assert_eq!(legacy_log(&data), fixture_log());
    // Restarted after a clean stop: still all there.
    let broker = support::Broker::start(&data, &tmp.path().join("serve2.log"));
    assert_eq!(kcat_consume(&broker.addr, "beginning"), all_records());
    broker.stop();
    assert_eq!(legacy_log(&data), fixture_log());
}

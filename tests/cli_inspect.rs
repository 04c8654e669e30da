//! `runnel inspect` on the Apache Kafka fixture (tests/fixtures/kafka, built
//! from the documented byte layout) and on damaged copies of it.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kafka")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("valid expected.json")
}

fn runnel(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .args(paths)
        .output()
        .expect("run runnel")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

/// A copy of the fixture in a temp dir, for damaging.
fn fixture_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    for dir in ["fixture-0", "legacy-0"] {
        let to = tmp.path().join(dir);
        std::fs::create_dir(&to).expect("mkdir");
        for entry in std::fs::read_dir(fixture().join(dir)).expect("fixture dir") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    tmp
}

#[test]
fn verify_passes_on_the_kafka_fixture() {
    let out = runnel(&["inspect", "--verify"], &[&fixture()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("ERROR"), "{text}");
    // The summary names both partitions with their record counts.
    assert!(
        text.lines()
            .any(|l| l.starts_with("fixture-0") && l.contains(" 37 ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("legacy-0") && l.contains(" 9 ")),
        "{text}"
    );
}

#[test]
fn batches_match_the_fixture_description() {
    let out = runnel(&["inspect", "--json"], &[&fixture()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    let expected = expected();
    for (dir, segments) in expected["partitions"].as_object().expect("partitions") {
        for segment in segments.as_array().expect("segments") {
            let file = format!("{dir}/{}", segment["file"].as_str().expect("file"));
            let batches: Vec<&Value> = lines
                .iter()
                .filter(|l| {
                    l["type"] == "batch" && l["file"].as_str().unwrap_or("").ends_with(&file)
                })
                .collect();
            let base = segment["base_offset"].as_i64().expect("base_offset");
            let want = segment["batches"].as_array().expect("batches");
            assert_eq!(batches.len(), want.len(), "batches of {file}");
            for (got, want) in batches.iter().zip(want) {
                for key in [
                    "position",
                    "size",
                    "base_offset",
                    "last_offset",
                    "magic",
                    "compression",
                    "max_timestamp",
                ] {
                    assert_eq!(got[key], want[key], "{key} of a batch in {file}");
                }
                assert_eq!(
                    got["count"], want["records_count"],
                    "count of a batch in {file}"
                );
                assert_eq!(got["crc_valid"], true);
            }
            let index: Vec<Value> = lines
                .iter()
                .filter(|l| {
                    l["type"] == "index_entry"
                        && l["file"]
                            .as_str()
                            .unwrap_or("")
                            .ends_with(&file.replace(".log", ".index"))
                })
                .map(|l| serde_json::json!([l["offset"], l["position"]]))
                .collect();
            // expected.json has relative offsets; inspect prints absolute ones, as Kafka's
            // DumpLogSegments does.
            let want_index: Vec<Value> = segment["index"]
                .as_array()
                .expect("index")
                .iter()
                .map(|e| serde_json::json!([e[0].as_i64().expect("offset") + base, e[1]]))
                .collect();
            assert_eq!(index, want_index, "index of {file}");
            let timeindex: Vec<Value> = lines
                .iter()
                .filter(|l| {
                    l["type"] == "timeindex_entry"
                        && l["file"]
                            .as_str()
                            .unwrap_or("")
                            .ends_with(&file.replace(".log", ".timeindex"))
                })
                .map(|l| serde_json::json!([l["timestamp"], l["offset"]]))
                .collect();
            let want_timeindex: Vec<Value> = segment["timeindex"]
                .as_array()
                .expect("timeindex")
                .iter()
                .map(|e| serde_json::json!([e[0], e[1].as_i64().expect("offset") + base]))
                .collect();
            assert_eq!(timeindex, want_timeindex, "time index of {file}");
        }
    }
}

#[test]
fn records_match_the_fixture_description() {
    let out = runnel(&["inspect", "--records", "--json"], &[&fixture()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let got: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("NDJSON line"))
        .filter(|l| l["type"] == "record")
        .map(|l| {
            let file = PathBuf::from(l["file"].as_str().expect("file"));
            let dir = file
                .parent()
                .and_then(|d| d.file_name())
                .expect("partition dir");
            serde_json::json!({
                "partition_dir": dir.to_string_lossy(),
                "offset": l["offset"], "timestamp": l["timestamp"],
                "key": l["key"], "value": l["value"], "headers": l["headers"],
            })
        })
        .collect();
    let want = expected()["records"].as_array().expect("records").clone();
    assert_eq!(got.len(), want.len());
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got, want);
    }
}

#[test]
fn a_flipped_byte_is_found_with_file_and_position() {
    let tmp = fixture_copy();
    let log = tmp.path().join("fixture-0/00000000000000000000.log");
    let mut bytes = std::fs::read(&log).expect("read log");
    bytes[300] ^= 0xff; // inside the batch at byte 279
    std::fs::write(&log, bytes).expect("write log");
    let out = runnel(&["inspect", "--verify"], &[tmp.path()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("runnel: "), "{err}");
    assert!(
        err.contains("00000000000000000000.log at byte 279"),
        "{err}"
    );
    assert!(err.contains("CRC mismatch"), "{err}");
}

#[test]
fn a_torn_segment_and_its_stale_index_entries_are_reported() {
    let tmp = fixture_copy();
    let log = tmp.path().join("fixture-0/00000000000000000000.log");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open log");
    file.set_len(1000).expect("truncate"); // inside the batch at byte 904
    let out = runnel(&["inspect", "--verify"], &[&tmp.path().join("fixture-0")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("00000000000000000000.log at byte 904: truncated batch"),
        "{text}"
    );
    assert!(
        text.contains("00000000000000000000.index at byte 32"),
        "{text}"
    );
    assert!(
        text.contains("00000000000000000000.timeindex at byte 48"),
        "{text}"
    );
}

#[test]
fn an_index_entry_off_a_batch_boundary_is_reported() {
    let tmp = fixture_copy();
    let index = tmp.path().join("legacy-0/00000000000000000000.index");
    let mut bytes = std::fs::read(&index).expect("read index");
    bytes[7] += 1; // first entry: position 110 -> 111
    std::fs::write(&index, bytes).expect("write index");
    let out = runnel(&["inspect", "--verify"], &[&index]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(".index at byte 0: entry 0: offset 3 points at byte 111"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn single_files_are_shown() {
    let log = fixture().join("fixture-0/00000000000000000028.log");
    let out = runnel(&["inspect", "--records"], &[&log]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("baseOffset: 28 lastOffset: 31 count: 4 position: 0"),
        "{text}"
    );
    assert!(text.contains("compression: snappy"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("| offset: ")).count(),
        9,
        "{text}"
    );
}

#[test]
fn unreadable_paths_exit_2() {
    let out = runnel(&["inspect"], &[Path::new("/nonexistent/runnel-test")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("runnel: cannot read /nonexistent/runnel-test"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The README's quick start on a broker: three partitions (one left empty),
/// a plain and a keyed produce. Returns the broker and its data directory.
fn quick_start(tmp: &Path) -> (support::Broker, PathBuf) {
    let data = tmp.join("runnel-data");
    let broker = support::Broker::start(&data, &tmp.join("serve.log"));
    broker.ok(&["topics", "create", "greetings", "--partitions", "3"], "");
    broker.ok(&["produce", "greetings"], "hello\n");
    broker.ok(&["produce", "greetings", "-K", ":"], "k1:v1\nk2:v2\n");
    // The active segments' indexes are preallocated (zero-filled), as Kafka's.
    let index = data.join("greetings-0/00000000000000000000.index");
    assert!(std::fs::metadata(&index).expect("index").len() > 1 << 20);
    (broker, data)
}

#[test]
fn verify_is_clean_on_a_live_quick_start_and_names_the_lock_holder() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (broker, data) = quick_start(tmp.path());
    for path in [
        data.clone(),
        data.join("greetings-1"),
        data.join("greetings-0/00000000000000000000.timeindex"),
    ] {
        let out = runnel(&["inspect", "--verify"], &[&path]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}{}",
            path.display(),
            stdout(&out),
            stderr(&out)
        );
        let pid = format!("pid {} (", broker.child.id());
        assert!(
            stderr(&out).contains("in use by a running broker") && stderr(&out).contains(&pid),
            "{}",
            stderr(&out)
        );
    }
    broker.stop();
}

#[test]
fn verify_is_clean_after_kill_9_and_still_fails_on_real_corruption() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (mut broker, data) = quick_start(tmp.path());
    support::signal(&broker.child, libc::SIGKILL);
    support::wait_exit(&mut broker.child, std::time::Duration::from_secs(10));
    let out = runnel(&["inspect", "--verify"], &[&data]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(!stderr(&out).contains("running broker"), "{}", stderr(&out));
    // Bytes after the zero-filled tail of an index are not padding.
    let index = data.join("greetings-1/00000000000000000000.index");
    let mut bytes = std::fs::read(&index).expect("index");
    bytes[4096 + 5] = 7;
    std::fs::write(&index, &bytes).expect("write index");
    let out = runnel(&["inspect", "--verify"], &[&index]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(".index at byte 4101: data after the unused (zero) tail"),
        "{}",
        stderr(&out)
    );
    // A flipped byte in a batch is still corruption.
    let log = data.join("greetings-0/00000000000000000000.log");
    let mut bytes = std::fs::read(&log).expect("log");
    bytes[30] ^= 0x55;
    std::fs::write(&log, &bytes).expect("write log");
    let out = runnel(&["inspect", "--verify"], &[&data.join("greetings-0")]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("CRC mismatch"), "{}", stdout(&out));
}

/// A producer snapshot in Kafka's version 1 layout: one producer (id 1000,
/// epoch 2, last sequence 9, last offset 42, offset delta 4).
fn kafka_snapshot() -> Vec<u8> {
    let mut rest = 1i32.to_be_bytes().to_vec();
    rest.extend_from_slice(&1000i64.to_be_bytes());
    rest.extend_from_slice(&2i16.to_be_bytes());
    rest.extend_from_slice(&9i32.to_be_bytes());
    rest.extend_from_slice(&42i64.to_be_bytes());
    rest.extend_from_slice(&4i32.to_be_bytes());
    rest.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    rest.extend_from_slice(&(-1i32).to_be_bytes());
    rest.extend_from_slice(&(-1i64).to_be_bytes());
    let mut out = 1i16.to_be_bytes().to_vec();
    out.extend_from_slice(&crc32c::crc32c(&rest).to_be_bytes());
    out.extend_from_slice(&rest);
    out
}

#[test]
fn producer_snapshots_are_decoded_and_their_crc_verified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000043.snapshot");
    std::fs::write(&path, kafka_snapshot()).unwrap();
    let out = runnel(&["inspect"], &[&path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "producer_id: 1000 epoch: 2 last_sequence: 9 last_offset: 42 offset_delta: 4"
        ),
        "{}",
        stdout(&out)
    );
    let out = runnel(&["inspect", "--json"], &[&path]);
    let entry: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(entry["type"], "producer_snapshot_entry");
    assert_eq!(entry["producer_id"], 1000);
    assert_eq!(entry["current_txn_first_offset"], -1);
    assert!(runnel(&["inspect", "--verify"], &[&path]).status.success());
    let mut bad = kafka_snapshot();
    bad[20] ^= 1;
    std::fs::write(&path, bad).unwrap();
    let out = runnel(&["inspect", "--verify"], &[&path]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("CRC mismatch"), "{}", stdout(&out));
}

/// A partition written through the log engine: producer 7's transaction
/// committed, producer 8's aborted, then a plain batch. Returns the
/// partition directory and the offset of the ABORT marker.
fn transactional_partition(root: &Path) -> (PathBuf, i64) {
    use runnel::log::{Log, LogConfig};
    use runnel::record::control::{ControlRecordType, EndTxnMarker};
    use runnel::record::{BatchBuilder, Compression};
    let dir = root.join("txn-0");
    let (mut log, _) = Log::open(&dir, LogConfig::default(), false).unwrap();
    // Current timestamps: older ones would roll the segment (segment.ms).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let batch = |pid: i64, transactional: bool| {
        let mut b = BatchBuilder::new(Compression::None, now)
            .producer(pid, 0, 0)
            .transactional(transactional);
        b.push(now, Some(b"k"), Some(b"v"), &[]);
        b.finish()
    };
    let marker = |control, coordinator_epoch| EndTxnMarker {
        control,
        coordinator_epoch,
    };
    log.append(&batch(7, true)).unwrap(); // 0
    log.append(&batch(8, true)).unwrap(); // 1
    log.append_control(7, 0, marker(ControlRecordType::Commit, 3))
        .unwrap(); // 2
    let abort = log
        .append_control(8, 0, marker(ControlRecordType::Abort, 4))
        .unwrap()
        .base_offset; // 3
    log.append(&batch(-1, false)).unwrap();
    log.close().unwrap();
    (dir, abort)
}

#[test]
fn transaction_indexes_and_markers_are_shown_and_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, abort) = transactional_partition(tmp.path());
    let txnindex = dir.join("00000000000000000000.txnindex");
    let out = runnel(&["inspect", "--verify"], &[&dir]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Text: the markers on their batch lines, the index entry.
    let out = runnel(&["inspect"], &[&dir]);
    let text = stdout(&out);
    assert!(
        text.contains(
            "control: true marker: COMMIT producerId: 7 producerEpoch: 0 coordinatorEpoch: 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("marker: ABORT producerId: 8 producerEpoch: 0 coordinatorEpoch: 4"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "producer_id: 8 first_offset: 1 last_offset: {abort} last_stable_offset: {}",
            abort + 1
        )),
        "{text}"
    );
    // JSON, for the index file alone.
    let out = runnel(&["inspect", "--json"], &[&txnindex]);
    assert!(out.status.success(), "{}", stderr(&out));
    let entry: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(entry["type"], "txnindex_entry");
    assert_eq!(
        (
            &entry["producer_id"],
            &entry["first_offset"],
            &entry["last_offset"]
        ),
        (&Value::from(8), &Value::from(1), &Value::from(abort))
    );
    let out = runnel(
        &["inspect", "--json"],
        &[&dir.join("00000000000000000000.log")],
    );
    let markers: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["is_control"] == true)
        .collect();
    assert_eq!(markers.len(), 2);
    assert_eq!(markers[1]["control_type"], "ABORT");
    assert_eq!(markers[1]["coordinator_epoch"], 4);
    // An entry that names the COMMIT marker instead: found, with file and position.
    let mut bytes = std::fs::read(&txnindex).unwrap();
    bytes[18..26].copy_from_slice(&2i64.to_be_bytes());
    std::fs::write(&txnindex, &bytes).unwrap();
    let out = runnel(&["inspect", "--verify"], &[&dir]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("00000000000000000000.txnindex at byte 0: entry 0: offset 2 holds a COMMIT marker of producer 7"),
        "{}",
        stdout(&out)
    );
    // A torn entry.
    std::fs::write(&txnindex, &bytes[..30]).unwrap();
    let out = runnel(&["inspect", "--verify"], &[&txnindex]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("not a multiple of 34"),
        "{}",
        stdout(&out)
    );
}

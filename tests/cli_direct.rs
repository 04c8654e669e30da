//! End-to-end tests of `topics`, `produce` and `consume` in direct mode
//! (`-d DIR`), through the binary.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{runnel, succeeded};

/// Runs runnel with `args` in data directory `dir`, feeding `stdin`.
fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    support::run(args, &["-d", dir.to_str().expect("utf-8 path")], stdin)
}

/// Runs runnel and asserts success; returns stdout.
fn ok(dir: &Path, args: &[&str], stdin: &str) -> String {
    succeeded(args, run(dir, args, stdin))
}

/// Runs runnel and asserts it fails with `code` and a one-line `runnel: ` error containing `needle`.
fn fails(dir: &Path, args: &[&str], stdin: &str, code: i32, needle: &str) {
    let out = run(dir, args, stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "runnel {args:?}: {err}");
    assert!(
        err.contains(needle),
        "runnel {args:?}: expected '{needle}' in: {err}"
    );
    if code == 1 {
        // Errors of ours: exactly one line.
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("runnel: "), "{err}");
    }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `runnel inspect --verify DIR` finds nothing wrong.
fn assert_verified(dir: &Path) {
    let out = runnel()
        .args(["inspect", "--verify"])
        .arg(dir)
        .output()
        .expect("run inspect");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn topics_create_list_describe_alter_delete() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(
        d,
        &[
            "topics",
            "create",
            "events",
            "-p",
            "3",
            "-c",
            "retention.ms=86400000",
        ],
        "",
    );
    ok(
        d,
        &["topics", "create", "users", "-c", "cleanup.policy=compact"],
        "",
    );

    let table = ok(d, &["topics", "list"], "");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PARTITIONS"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["events", "3"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["users", "1"]
    );

    let list: Value =
        serde_json::from_str(&ok(d, &["topics", "list", "--json"], "")).expect("JSON");
    assert_eq!(
        list,
        serde_json::json!([{"name": "events", "partitions": 3}, {"name": "users", "partitions": 1}])
    );

    ok(d, &["produce", "events", "-p", "2"], "a\nb\n");
    let desc: Value = serde_json::from_str(&ok(d, &["topics", "describe", "events", "--json"], ""))
        .expect("JSON");
    assert_eq!(desc["name"], "events");
    assert!(
        desc["id"].as_str().is_some_and(|id| id.len() == 36),
        "{desc}"
    );
    assert_eq!(
        desc["configs"],
        serde_json::json!({"retention.ms": "86400000"})
    );
    let parts = desc["partitions"].as_array().expect("partitions");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2]["log_start_offset"], 0);
    assert_eq!(parts[2]["log_end_offset"], 2);
    assert!(parts[2]["size_bytes"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(parts[2]["segments"], 1);
    assert_eq!(parts[0]["log_end_offset"], 0);

    let text = ok(d, &["topics", "describe", "events"], "");
    assert!(text.contains("retention.ms"), "{text}");
    assert!(text.contains("LOG-END-OFFSET"), "{text}");

    ok(
        d,
        &[
            "topics",
            "alter",
            "events",
            "-c",
            "segment.bytes=1048576",
            "--delete-config",
            "retention.ms",
        ],
        "",
    );
    let desc: Value = serde_json::from_str(&ok(d, &["topics", "describe", "events", "--json"], ""))
        .expect("JSON");
    assert_eq!(
        desc["configs"],
        serde_json::json!({"segment.bytes": "1048576"})
    );

    ok(d, &["topics", "delete", "events"], "");
    let list: Value =
        serde_json::from_str(&ok(d, &["topics", "list", "--json"], "")).expect("JSON");
    assert_eq!(
        list,
        serde_json::json!([{"name": "users", "partitions": 1}])
    );
    assert!(!d.join("events-0").exists());
    fails(
        d,
        &["topics", "describe", "events"],
        "",
        1,
        "unknown topic 'events'",
    );
}

#[test]
fn bad_topic_input_is_one_clear_line() {
    let tmp = data_dir();
    let d = tmp.path();
    fails(
        d,
        &["topics", "create", "bad/name"],
        "",
        1,
        "invalid topic name 'bad/name'",
    );
    fails(d, &["topics", "create", ".."], "", 1, "invalid topic name");
    let long = "x".repeat(250);
    fails(d, &["topics", "create", &long], "", 1, "invalid topic name");
    fails(
        d,
        &["topics", "create", "t", "-c", "retention.ms=soon"],
        "",
        1,
        "invalid config retention.ms=soon",
    );
    fails(
        d,
        &["topics", "create", "t", "-c", "no.such.config=1"],
        "",
        1,
        "no.such.config",
    );
    fails(
        d,
        &["topics", "create", "t", "-c", "novalue"],
        "",
        2,
        "expected KEY=VALUE",
    );
    fails(d, &["topics", "create", "t", "-p", "0"], "", 1, "partition");
    ok(d, &["topics", "create", "t"], "");
    fails(
        d,
        &["topics", "create", "t"],
        "",
        1,
        "topic 't' already exists",
    );
    fails(
        d,
        &["topics", "alter", "t", "-c", "cleanup.policy=sometimes"],
        "",
        1,
        "cleanup.policy",
    );
    fails(
        d,
        &["topics", "delete", "nope"],
        "",
        1,
        "unknown topic 'nope'",
    );
    fails(d, &["produce", "nope"], "x\n", 1, "unknown topic 'nope'");
    fails(d, &["consume", "nope"], "", 1, "unknown topic 'nope'");
    fails(
        d,
        &["produce", "t", "-p", "5"],
        "x\n",
        1,
        "partition 5 does not exist",
    );
    fails(
        d,
        &["consume", "t", "-o", "yesterday"],
        "",
        2,
        "invalid offset 'yesterday'",
    );
    fails(
        d,
        &["consume", "t", "--format", "%x"],
        "",
        2,
        "unsupported format token %x",
    );
    fails(
        d,
        &["produce", "t", "-f", "/nonexistent/input.txt"],
        "",
        1,
        "cannot open /nonexistent/input.txt",
    );
    let missing = d.join("missing");
    let out = runnel()
        .args(["consume", "t", "-d"])
        .arg(&missing)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such data directory"));
}

#[test]
fn keys_headers_and_tombstones_round_trip() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t"], "");
    let input = "k1:v1\nk2:with:colons\nno separator here\nk3:\n:empty key\n";
    ok(
        d,
        &[
            "produce", "t", "-K", ":", "-H", "h=1", "-H", "h=2", "-H", "other=x", "-Z",
        ],
        input,
    );
    let records = json_lines(&ok(d, &["consume", "t", "--json"], ""));
    assert_eq!(records.len(), 5);
    let keys: Vec<&Value> = records.iter().map(|r| &r["key"]).collect();
    let values: Vec<&Value> = records.iter().map(|r| &r["value"]).collect();
    assert_eq!(
        keys,
        [
            &Value::from("k1"),
            &"k2".into(),
            &Value::Null,
            &"k3".into(),
            &"".into()
        ]
    );
    assert_eq!(
        values,
        [
            &Value::from("v1"),
            &"with:colons".into(),
            &"no separator here".into(),
            &Value::Null,
            &"empty key".into()
        ]
    );
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["topic"], "t");
        assert_eq!(r["partition"], 0);
        assert_eq!(r["offset"], i as i64);
        assert!(
            r["timestamp"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000)
        );
        assert_eq!(
            r["headers"],
            serde_json::json!([{"key": "h", "value": "1"}, {"key": "h", "value": "2"}, {"key": "other", "value": "x"}])
        );
    }
    // Without -Z an empty value stays an empty value; without -K the whole line is the value.
    ok(d, &["produce", "t", "-K", ":"], "k4:\n");
    ok(d, &["produce", "t"], "a:b\n");
    let tail = json_lines(&ok(d, &["consume", "t", "--json", "-o", "5"], ""));
    assert_eq!(tail[0]["key"], "k4");
    assert_eq!(tail[0]["value"], "");
    assert_eq!(tail[1]["key"], Value::Null);
    assert_eq!(tail[1]["value"], "a:b");
    // Multi-character separators.
    ok(d, &["produce", "t", "-K", "=>"], "key=>value\n");
    let last = json_lines(&ok(d, &["consume", "t", "--json", "-o", "-1"], ""));
    assert_eq!(
        (&last[0]["key"], &last[0]["value"]),
        (&"key".into(), &"value".into())
    );
}

#[test]
fn non_utf8_bytes_are_base64_in_json() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t"], "");
    let mut child = runnel()
        .args(["produce", "t", "-K", ":", "-d"])
        .arg(d)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"k\xff:v\xfe\n")
        .expect("write");
    assert!(child.wait().expect("wait").success());
    let r = &json_lines(&ok(d, &["consume", "t", "--json"], ""))[0];
    assert_eq!(r["key_b64"], "a/8=");
    assert_eq!(r["value_b64"], "dv4=");
    assert!(r.get("key").is_none());
}

#[test]
fn keyed_records_land_where_kafkas_partitioner_puts_them() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t", "-p", "6"], "");
    let mut input = String::new();
    for round in 0..3 {
        for k in 0..40 {
            input.push_str(&format!("key-{k}:round-{round}\n"));
        }
    }
    ok(d, &["produce", "t", "-K", ":"], &input);
    let out = ok(d, &["consume", "t", "--format", "%p %k\n"], "");
    let mut seen = 0;
    for line in out.lines() {
        let (p, key) = line.split_once(' ').expect("partition and key");
        let want = runnel::record::murmur2::partition_for_key(key.as_bytes(), 6);
        assert_eq!(p.parse::<i32>().expect("partition"), want, "key {key}");
        seen += 1;
    }
    assert_eq!(seen, 120);
    // A known value of Kafka's Java partitioner: murmur2("key-0") on 6 partitions.
    assert_eq!(runnel::record::murmur2::partition_for_key(b"key-0", 6), {
        let h = runnel::record::murmur2::murmur2(b"key-0");
        (h & 0x7fff_ffff) % 6
    });
}

#[test]
fn unkeyed_records_are_spread_and_explicit_partitions_respected() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t", "-p", "3"], "");
    // Small batches so the sticky partition moves on.
    let input: String = (0..3000).map(|i| format!("value-{i}\n")).collect();
    ok(d, &["produce", "t", "--batch-size", "2000"], &input);
    let desc: Value =
        serde_json::from_str(&ok(d, &["topics", "describe", "t", "--json"], "")).expect("JSON");
    let ends: Vec<i64> = desc["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["log_end_offset"].as_i64().expect("end"))
        .collect();
    assert_eq!(ends.iter().sum::<i64>(), 3000);
    assert!(
        ends.iter().all(|&e| e > 0),
        "unkeyed records not spread: {ends:?}"
    );

    ok(d, &["produce", "t", "-p", "1", "-K", ":"], "a:1\nb:2\n");
    let out = ok(
        d,
        &["consume", "t", "-p", "1", "-o", "-2", "--format", "%p:%k\n"],
        "",
    );
    assert_eq!(out, "1:a\n1:b\n");
}

#[test]
fn every_offset_form_and_max_messages() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t"], "");
    let first: String = (0..10).map(|i| format!("{i}\n")).collect();
    ok(d, &["produce", "t"], &first);
    std::thread::sleep(Duration::from_millis(30));
    ok(d, &["produce", "t"], "10\n11\n");
    let values = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["consume", "t"];
        all.extend_from_slice(args);
        ok(d, &all, "").lines().map(str::to_string).collect()
    };
    let all: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    assert_eq!(values(&[]), all);
    assert_eq!(values(&["-o", "beginning"]), all);
    assert!(values(&["-o", "end"]).is_empty());
    assert_eq!(values(&["-o", "7"]), all[7..]);
    assert_eq!(values(&["-o", "-3"]), all[9..]);
    assert_eq!(values(&["-o", "-100"]), all);
    assert!(values(&["-o", "100"]).is_empty());
    assert_eq!(values(&["-n", "4"]), all[..4]);
    assert_eq!(values(&["-o", "5", "-n", "2"]), ["5", "6"]);
    let ts: i64 = ok(
        d,
        &["consume", "t", "-o", "10", "-n", "1", "--format", "%T"],
        "",
    )
    .parse()
    .expect("timestamp");
    assert_eq!(values(&["-o", &format!("@{ts}")]), ["10", "11"]);
    assert!(values(&["-o", &format!("@{}", ts + 60_000)]).is_empty());
    assert_eq!(values(&["-o", "@0"]), all);
}

#[test]
fn format_tokens() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "fmt-topic", "-p", "2"], "");
    ok(
        d,
        &[
            "produce",
            "fmt-topic",
            "-p",
            "1",
            "-K",
            "|",
            "-H",
            "a=1",
            "-H",
            "b=",
            "-Z",
        ],
        "key|value\n|\n",
    );
    let out = ok(
        d,
        &[
            "consume",
            "fmt-topic",
            "--format",
            "%t/%p/%o %k=%s (%K,%S) [%h] 100%%\\t%T\\n",
        ],
        "",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let (head, ts) = lines[0].split_once('\t').expect("tab");
    assert_eq!(head, "fmt-topic/1/0 key=value (3,5) [a=1,b=] 100%");
    assert!(ts.parse::<i64>().is_ok_and(|t| t > 0));
    // Empty key, null value (tombstone): printed empty, sizes 0 and -1.
    assert!(
        lines[1].starts_with("fmt-topic/1/1 = (0,-1) [a=1,b=] 100%"),
        "{out}"
    );
    // The default format is the value and a newline.
    assert_eq!(ok(d, &["consume", "fmt-topic", "-n", "1"], ""), "value\n");
}

#[test]
fn a_record_over_max_message_bytes_is_refused_and_nothing_written() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(
        d,
        &["topics", "create", "t", "-c", "max.message.bytes=1000"],
        "",
    );
    let big = format!("{}\n", "x".repeat(2000));
    fails(
        d,
        &["produce", "t"],
        &big,
        1,
        "exceeds max.message.bytes=1000",
    );
    let desc: Value =
        serde_json::from_str(&ok(d, &["topics", "describe", "t", "--json"], "")).expect("JSON");
    assert_eq!(desc["partitions"][0]["log_end_offset"], 0);
    // Small records still go through, in batches that respect the limit.
    let many: String = (0..100).map(|i| format!("record number {i}\n")).collect();
    ok(d, &["produce", "t"], &many);
    assert_eq!(ok(d, &["consume", "t"], "").lines().count(), 100);
    assert_verified(d);
}

#[test]
fn a_second_writer_is_told_who_holds_the_lock() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t"], "");
    // A produce waiting for stdin holds the lock.
    let mut holder = runnel()
        .args(["produce", "t", "-d"])
        .arg(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn holder");
    // Wait until the holder has taken the lock and written its name (a
    // second writer probing earlier would race the holder for the lock).
    let deadline = Instant::now() + Duration::from_secs(10);
    let holder_name = format!("pid {} (", holder.id());
    while !std::fs::read_to_string(d.join(".lock")).is_ok_and(|s| s.contains(&holder_name)) {
        assert!(
            holder.try_wait().expect("try_wait").is_none(),
            "the holder exited early"
        );
        assert!(Instant::now() < deadline, "the holder never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = run(d, &["topics", "create", "u"], "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is locked by"), "{err}");
    assert!(err.contains(&holder_name), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Readers need no lock.
    ok(d, &["consume", "t"], "");
    holder
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"x\n")
        .expect("write");
    assert!(holder.wait().expect("wait").success());
    ok(d, &["topics", "create", "u"], "");
}

fn wait_for_line(reader: &mut impl BufRead, want: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read consume output");
        assert!(n > 0, "consume ended before printing {want}");
        if line.trim_end() == want {
            return;
        }
    }
}

fn interrupt(child: &Child) {
    // SAFETY: sending a signal to a child process we spawned.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
}

#[test]
fn follow_shows_new_records_and_stops_cleanly_on_ctrl_c() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t", "-p", "2"], "");
    ok(d, &["produce", "t", "-p", "0"], "before\n");
    let mut follower = runnel()
        .args(["consume", "t", "-f", "-d"])
        .arg(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn follower");
    let mut out = BufReader::new(follower.stdout.take().expect("stdout"));
    wait_for_line(&mut out, "before");
    ok(d, &["produce", "t", "-p", "1"], "after-1\n");
    wait_for_line(&mut out, "after-1");
    ok(d, &["produce", "t", "-p", "0"], "after-2\nafter-3\n");
    wait_for_line(&mut out, "after-2");
    wait_for_line(&mut out, "after-3");
    interrupt(&follower);
    let status = follower.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    follower
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(err.contains("consumed 4 records"), "{err}");
    assert!(err.contains("interrupted"), "{err}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t"], "");
    let input: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
    ok(d, &["produce", "t"], &input);
    let mut child = runnel()
        .args(["consume", "t", "-d"])
        .arg(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("read");
    assert_eq!(first, "line 0\n");
    drop(out);
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!err.contains("rror"), "{err}");
}

#[test]
fn produce_reads_files_and_reports_a_summary() {
    let tmp = data_dir();
    let d = tmp.path();
    ok(d, &["topics", "create", "t", "-p", "4"], "");
    let file = d.join("input.txt");
    let input: String = (0..5000)
        .map(|i| format!("k{}:{}\n", i % 50, "v".repeat(i % 300)))
        .collect();
    std::fs::write(&file, &input).expect("write input");
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let out = run(
            d,
            &[
                "produce",
                "t",
                "-K",
                ":",
                "--compression",
                codec,
                "-f",
                file.to_str().expect("path"),
            ],
            "",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("produced 5000 records"), "{err}");
        assert!(err.contains("records/s"), "{err}");
    }
    let count = ok(d, &["consume", "t", "--format", "%k\n"], "")
        .lines()
        .count();
    assert_eq!(count, 25_000);
    assert_verified(d);
}

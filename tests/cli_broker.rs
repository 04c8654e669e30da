//! End-to-end tests of `topics`, `produce` and `consume` against a running
//! `runnel serve` (`-b HOST:PORT`), through the binary, and the same
//! commands in direct mode (`-d DIR`) giving the same output.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// Asserts exit code 1 and exactly one stderr line, `runnel: ` and `want`.
fn fails_with(out: Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err, format!("runnel: {want}\n"));
}

/// `topics describe --json` without what only a data directory knows (id,
/// sizes, segment counts).
fn comparable_description(text: &str) -> Value {
    let mut desc = json(text);
    desc["id"] = Value::Null;
    for p in desc["partitions"].as_array_mut().expect("partitions") {
        p["size_bytes"] = Value::Null;
        p["segments"] = Value::Null;
    }
    desc
}

#[test]
fn topics_through_the_broker_look_as_in_a_data_directory() {
    let broker = TempBroker::start();
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let create = [
        "topics",
        "create",
        "events",
        "-p",
        "3",
        "-c",
        "retention.ms=86400000",
    ];
    broker.ok(&create, "");
    ok_direct(d, &create, "");
    let compacted = ["topics", "create", "users", "-c", "cleanup.policy=compact"];
    broker.ok(&compacted, "");
    ok_direct(d, &compacted, "");

    let list = ["topics", "list", "--json"];
    assert_eq!(
        json(&broker.ok(&list, "")),
        serde_json::json!([{"name": "events", "partitions": 3}, {"name": "users", "partitions": 1}])
    );
    assert_eq!(broker.ok(&list, ""), ok_direct(d, &list, ""));
    let table = ["topics", "list"];
    assert_eq!(broker.ok(&table, ""), ok_direct(d, &table, ""));

    broker.ok(&["produce", "events", "-p", "2"], "a\nb\n");
    ok_direct(d, &["produce", "events", "-p", "2"], "a\nb\n");
    let describe = ["topics", "describe", "events", "--json"];
    let desc = json(&broker.ok(&describe, ""));
    assert_eq!(desc["id"], Value::Null, "{desc}");
    assert_eq!(desc["partitions"][2]["size_bytes"], Value::Null);
    assert_eq!(desc["partitions"][2]["log_end_offset"], 2);
    assert_eq!(
        desc["configs"],
        serde_json::json!({"retention.ms": "86400000"})
    );
    assert_eq!(
        comparable_description(&broker.ok(&describe, "")),
        comparable_description(&ok_direct(d, &describe, ""))
    );
    let text = broker.ok(&["topics", "describe", "events"], "");
    assert!(
        text.contains("LOG-END-OFFSET") && text.contains("retention.ms"),
        "{text}"
    );

    let alter = [
        "topics",
        "alter",
        "events",
        "-c",
        "segment.bytes=1048576",
        "--delete-config",
        "retention.ms",
    ];
    broker.ok(&alter, "");
    ok_direct(d, &alter, "");
    assert_eq!(
        json(&broker.ok(&describe, ""))["configs"],
        serde_json::json!({"segment.bytes": "1048576"})
    );
    assert_eq!(
        comparable_description(&broker.ok(&describe, "")),
        comparable_description(&ok_direct(d, &describe, ""))
    );

    broker.ok(&["topics", "delete", "events"], "");
    ok_direct(d, &["topics", "delete", "events"], "");
    assert_eq!(broker.ok(&list, ""), ok_direct(d, &list, ""));
    fails_with(
        broker.run(&["topics", "describe", "events"], ""),
        "unknown topic 'events'",
    );
}

/// Lines with keys, no keys, empty keys, empty values (tombstones with -Z),
/// tabs and non-ASCII text.
fn mixed_input() -> String {
    let mut input = String::new();
    for i in 0..600 {
        match i % 9 {
            0 => input.push_str(&format!("plain value {i}\n")),
            1 => input.push_str(&format!("user-{}:\n", i % 13)),
            2 => input.push_str(&format!(":empty key {i}\n")),
            3 => input.push('\n'),
            4 => input.push_str(&format!("tab\there-{i}:välue ✓ {i}\n")),
            _ => input.push_str(&format!(
                "user-{}:event-{i}:{}\n",
                i % 13,
                "x".repeat(i % 50)
            )),
        }
    }
    input
}

/// JSON lines without their timestamps (set by the producing clock).
fn without_timestamps(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let mut v = json(line);
            v.as_object_mut().expect("object").remove("timestamp");
            v
        })
        .collect()
}

#[test]
fn the_same_input_gives_the_same_output_with_a_broker_and_a_data_directory() {
    let broker = TempBroker::start();
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let create = ["topics", "create", "t", "-p", "3"];
    broker.ok(&create, "");
    ok_direct(d, &create, "");
    let input = mixed_input();
    // Small batches, so unkeyed records move from partition to partition.
    let runs: [&[&str]; 3] = [
        &[
            "produce",
            "t",
            "-K",
            ":",
            "-Z",
            "-H",
            "source=test",
            "-H",
            "empty=",
            "--batch-size",
            "1500",
        ],
        &["produce", "t", "-p", "1", "--compression", "zstd"],
        &[
            "produce",
            "t",
            "-K",
            ":",
            "--compression",
            "lz4",
            "--acks",
            "1",
        ],
    ];
    for args in runs {
        broker.ok(args, &input);
        ok_direct(d, args, &input);
    }

    let formatted = ["consume", "t", "--format", "%p %o %k %s %h %K %S\\n"];
    let from_broker = broker.ok(&formatted, "");
    assert_eq!(from_broker.lines().count(), 3 * 600);
    assert_eq!(from_broker, ok_direct(d, &formatted, ""));
    let partitions: std::collections::BTreeSet<&str> = from_broker
        .lines()
        .filter(|l| l.contains("plain value"))
        .map(|l| &l[..1])
        .collect();
    assert_eq!(partitions.len(), 3, "unkeyed records not spread");

    let as_json = ["consume", "t", "--json"];
    assert_eq!(
        without_timestamps(&broker.ok(&as_json, "")),
        without_timestamps(&ok_direct(d, &as_json, ""))
    );
    for extra in [
        &["-o", "-7"][..],
        &["-o", "250"],
        &["-o", "end"],
        &["-p", "1"],
        &["-p", "2", "-o", "3", "-n", "4"],
        &["-n", "1000"],
    ] {
        let mut args = formatted.to_vec();
        args.extend_from_slice(extra);
        assert_eq!(broker.ok(&args, ""), ok_direct(d, &args, ""), "{extra:?}");
    }
    let describe = ["topics", "describe", "t", "--json"];
    assert_eq!(
        comparable_description(&broker.ok(&describe, "")),
        comparable_description(&ok_direct(d, &describe, ""))
    );
}

#[test]
fn keys_headers_tombstones_and_every_offset_form() {
    let broker = TempBroker::start();
    broker.ok(&["topics", "create", "t", "-p", "2"], "");
    broker.ok(
        &[
            "produce", "t", "-p", "1", "-K", "|", "-H", "a=1", "-H", "b=", "-Z",
        ],
        "key|value\n|\nno key\n",
    );
    let out = broker.ok(
        &[
            "consume",
            "t",
            "--format",
            "%t/%p/%o %k=%s (%K,%S) [%h] 100%%\\t%T\\n",
        ],
        "",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let (head, ts) = lines[0].split_once('\t').expect("tab");
    assert_eq!(head, "t/1/0 key=value (3,5) [a=1,b=] 100%");
    assert!(ts.parse::<i64>().is_ok_and(|t| t > 1_600_000_000_000));
    assert!(
        lines[1].starts_with("t/1/1 = (0,-1) [a=1,b=] 100%"),
        "{out}"
    );
    assert!(lines[2].starts_with("t/1/2 =no key (-1,6)"), "{out}");
    let records: Vec<Value> = broker
        .ok(&["consume", "t", "--json"], "")
        .lines()
        .map(json)
        .collect();
    assert_eq!(records[1]["key"], "");
    assert_eq!(records[1]["value"], Value::Null);
    assert_eq!(records[2]["key"], Value::Null);
    assert_eq!(
        records[0]["headers"],
        serde_json::json!([{"key": "a", "value": "1"}, {"key": "b", "value": ""}])
    );

    broker.ok(&["topics", "create", "o"], "");
    let first: String = (0..10).map(|i| format!("{i}\n")).collect();
    broker.ok(&["produce", "o"], &first);
    std::thread::sleep(Duration::from_millis(30));
    broker.ok(&["produce", "o"], "10\n11\n");
    let values = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["consume", "o"];
        all.extend_from_slice(args);
        broker.ok(&all, "").lines().map(str::to_string).collect()
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
    let ts: i64 = broker
        .ok(
            &["consume", "o", "-o", "10", "-n", "1", "--format", "%T"],
            "",
        )
        .parse()
        .expect("timestamp");
    assert_eq!(values(&["-o", &format!("@{ts}")]), ["10", "11"]);
    assert!(values(&["-o", &format!("@{}", ts + 60_000)]).is_empty());
    assert_eq!(values(&["-o", "@0"]), all);
}

fn interrupt(child: &Child) {
    // SAFETY: sending a signal to a child process we spawned.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
}

#[test]
fn follow_from_the_end_shows_new_records_until_ctrl_c() {
    let broker = TempBroker::start();
    broker.ok(&["topics", "create", "t", "-p", "2"], "");
    broker.ok(&["produce", "t", "-p", "0"], "old\n");
    let mut follower = runnel()
        .args(["consume", "t", "-o", "end", "-f", "-b", &broker.addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn follower");
    let out = BufReader::new(follower.stdout.take().expect("stdout"));
    let (lines, seen) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // The follower starts at the end as of when it started: records are
    // produced until one shows, then every later one must show, in order.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        assert!(Instant::now() < deadline, "the follower shows nothing");
        broker.ok(&["produce", "t", "-p", "0"], "ping\n");
        if let Ok(line) = seen.recv_timeout(Duration::from_millis(300)) {
            break line;
        }
    };
    assert_eq!(first, "ping");
    broker.ok(&["produce", "t", "-p", "1"], "after-1\n");
    broker.ok(&["produce", "t", "-p", "0"], "after-2\nafter-3\n");
    let mut rest = Vec::new();
    while rest.last().is_none_or(|l| l != "after-3") {
        let line = seen
            .recv_timeout(Duration::from_secs(10))
            .expect("new records show");
        rest.push(line);
    }
    let rest: Vec<&str> = rest
        .iter()
        .map(String::as_str)
        .filter(|l| *l != "ping")
        .collect();
    assert_eq!(rest, ["after-1", "after-2", "after-3"]);
    interrupt(&follower);
    let output = follower.wait_with_output().expect("wait");
    reader.join().expect("reader thread");
    assert_eq!(output.status.code(), Some(0));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("(interrupted)"), "{err}");
    assert!(!err.contains("old"), "{err}");
}

#[test]
fn many_records_with_every_acks_and_codec_keep_their_order() {
    let broker = TempBroker::start();
    broker.ok(&["topics", "create", "big", "-p", "4"], "");
    let runs: [&[&str]; 4] = [
        &["--acks", "all", "--compression", "gzip"],
        &["--acks", "1", "--compression", "snappy", "--linger-ms", "0"],
        &[
            "--acks",
            "0",
            "--compression",
            "none",
            "--batch-size",
            "4096",
        ],
        &[
            "--acks",
            "all",
            "--compression",
            "zstd",
            "--linger-ms",
            "50",
        ],
    ];
    const PER_RUN: usize = 30_000;
    for (run, options) in runs.iter().enumerate() {
        // Sequence numbers grow across runs: every partition must hold them in order.
        let input: String = (run * PER_RUN..(run + 1) * PER_RUN)
            .map(|i| format!("k{}:{i} {}\n", i % 97, "v".repeat(i % 200)))
            .collect();
        let mut args = vec!["produce", "big", "-K", ":"];
        args.extend_from_slice(options);
        let out = broker.run(&args, &input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{options:?}: {err}");
        assert!(err.contains("produced 30000 records"), "{err}");
    }
    // acks=0 is not acknowledged: wait until everything is in the log.
    let total = 4 * PER_RUN as i64;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let desc = json(&broker.ok(&["topics", "describe", "big", "--json"], ""));
        let written: i64 = desc["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .map(|p| p["log_end_offset"].as_i64().expect("end"))
            .sum();
        if written == total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{written} of {total} records in the log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = broker.ok(&["consume", "big", "--format", "%p %k %s\\n"], "");
    let mut last = [-1i64; 4];
    let mut count = 0;
    for line in out.lines() {
        let mut fields = line.split(' ');
        let p: usize = fields.next().expect("p").parse().expect("partition");
        let k = fields.next().expect("k");
        let seq: i64 = fields.next().expect("seq").parse().expect("sequence");
        let want = runnel::record::murmur2::partition_for_key(k.as_bytes(), 4);
        assert_eq!(p as i32, want, "{line}");
        assert!(seq > last[p], "partition {p}: {seq} after {}", last[p]);
        last[p] = seq;
        count += 1;
    }
    assert_eq!(count, total);
}

#[test]
fn errors_are_one_clear_line() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let refused = format!("cannot connect to {addr}: connection refused");
    for args in [
        &["topics", "list"][..],
        &["produce", "t"],
        &["consume", "t"],
    ] {
        fails_with(run(args, &["-b", &addr], "x\n"), &refused);
    }

    let broker = TempBroker::start();
    fails_with(broker.run(&["consume", "nope"], ""), "unknown topic 'nope'");
    fails_with(
        broker.run(&["produce", "nope"], "x\n"),
        "unknown topic 'nope'",
    );
    broker.ok(&["topics", "create", "t", "-p", "2"], "");
    fails_with(
        broker.run(&["consume", "t", "-p", "2"], ""),
        "partition 2 does not exist: topic 't' has 2 partitions",
    );

    // A broker-side refusal: a compacted topic takes no record without a key.
    broker.ok(
        &["topics", "create", "c", "-c", "cleanup.policy=compact"],
        "",
    );
    let out = broker.run(&["produce", "c", "-K", ":"], "k:v\nno key\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("runnel: produce to c-0: INVALID_RECORD"),
        "{err}"
    );

    // A record above max.message.bytes is refused as in -d, after the lines before it.
    let tmp = tempfile::tempdir().expect("temp dir");
    let create = ["topics", "create", "small", "-c", "max.message.bytes=200"];
    broker.ok(&create, "");
    ok_direct(tmp.path(), &create, "");
    let big = format!("ok\n{}\n", "x".repeat(300));
    let out = broker.run(&["produce", "small"], &big);
    let direct = run(
        &["produce", "small"],
        &["-d", tmp.path().to_str().expect("utf-8 path")],
        &big,
    );
    assert_eq!(
        String::from_utf8_lossy(&direct.stderr),
        String::from_utf8_lossy(&out.stderr)
    );
    fails_with(
        out,
        "line 2: record of 397 bytes exceeds max.message.bytes=200 of topic 'small' (the lines before it were written)",
    );
    assert_eq!(broker.ok(&["consume", "small"], ""), "ok\n");
}

//! `runnel consume -g GROUP` through the binary: members of one group share
//! a topic against `runnel serve`, committed offsets make later runs resume
//! (and show in `runnel groups describe`), `--commit-before-print` commits
//! before the output is written, and in a data directory (`-d`) the group's
//! offsets are kept in `__consumer_offsets` where `runnel serve` finds them.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// `n` records `k{i}:v{i}` for `produce -K :`, from `first`.
fn keyed(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("k{i}:v{i}\n")).collect()
}

fn values(first: usize, n: usize) -> BTreeSet<String> {
    (first..first + n).map(|i| format!("v{i}")).collect()
}

fn lines(out: &str) -> Vec<String> {
    out.lines().map(str::to_string).collect()
}

/// Sum of the lag column of `groups describe --json`, and the committed offsets.
fn lag_and_committed(desc: &Value) -> (i64, Vec<Option<i64>>) {
    let parts = desc["partitions"].as_array().expect("partitions");
    let lag = parts.iter().map(|p| p["lag"].as_i64().unwrap_or(0)).sum();
    let committed = parts.iter().map(|p| p["current_offset"].as_i64()).collect();
    (lag, committed)
}

/// A `consume -g` running in the background with its output lines collected.
struct Member {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Member {
    fn start(broker: &Broker, args: &[&str]) -> Member {
        let mut child = runnel()
            .args(args)
            .args(["-b", &broker.addr])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn runnel consume");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Member {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// Ctrl-C, then the exit status and stderr.
    fn interrupt(mut self) -> (std::process::ExitStatus, String, Vec<String>) {
        signal(&self.child, libc::SIGINT);
        let status = wait_exit(&mut self.child, Duration::from_secs(30));
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
        }
        std::thread::sleep(Duration::from_millis(100));
        self.drain();
        (status, err, self.seen)
    }
}

#[test]
fn two_members_share_a_topic_and_leave_on_ctrl_c() {
    let broker = TempBroker::start();
    broker.ok(&["topics", "create", "t", "-p", "4"], "");
    let args = ["consume", "t", "-g", "shared", "-f"];
    let mut a = Member::start(&broker, &args);
    let mut b = Member::start(&broker, &args);

    // Both joined: two members with two partitions each.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The group exists once the first member joined.
        let out = broker.run(&["groups", "describe", "shared", "--json"], "");
        let desc = if out.status.success() {
            json(&String::from_utf8_lossy(&out.stdout))
        } else {
            Value::Null
        };
        let members = desc["group"]["members"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let owners: BTreeSet<&str> = desc["partitions"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["member_id"].as_str()).collect())
            .unwrap_or_default();
        if desc["group"]["state"] == "Stable" && members.len() == 2 && owners.len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "members did not join: {desc}");
        std::thread::sleep(Duration::from_millis(200));
    }

    broker.ok(&["produce", "t", "-K", ":"], &keyed(0, 200));
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.seen.len() + b.seen.len() < 200 {
        assert!(
            Instant::now() < deadline,
            "only {} of 200 records consumed",
            a.seen.len() + b.seen.len()
        );
        std::thread::sleep(Duration::from_millis(100));
        a.drain();
        b.drain();
    }
    let (status_a, err_a, seen_a) = a.interrupt();
    let (status_b, err_b, seen_b) = b.interrupt();
    assert!(status_a.success(), "{err_a}");
    assert!(status_b.success(), "{err_b}");
    assert!(!seen_a.is_empty() && !seen_b.is_empty());
    let all: Vec<&String> = seen_a.iter().chain(&seen_b).collect();
    let unique: BTreeSet<String> = all.iter().map(|s| s.to_string()).collect();
    assert_eq!(all.len(), 200, "a record was read twice");
    assert_eq!(unique, values(0, 200));

    // Both left: the group is empty with everything committed.
    let desc = broker.describe("shared");
    assert_eq!(desc["group"]["state"], "Empty", "{desc}");
    assert_eq!(lag_and_committed(&desc).0, 0, "{desc}");
}

#[test]
fn a_group_resumes_where_it_committed_and_shows_its_lag() {
    let broker = TempBroker::start();
    broker.ok(&["topics", "create", "t", "-p", "3"], "");
    broker.ok(&["produce", "t", "-K", ":"], &keyed(0, 30));

    let consume = ["consume", "t", "-g", "g"];
    let first: BTreeSet<String> = lines(&broker.ok(&consume, "")).into_iter().collect();
    assert_eq!(first, values(0, 30));
    assert!(broker.ok(&consume, "").is_empty(), "nothing new");
    let (lag, committed) = lag_and_committed(&broker.describe("g"));
    assert_eq!(lag, 0);
    assert_eq!(committed.iter().flatten().sum::<i64>(), 30);

    broker.ok(&["produce", "t", "-K", ":"], &keyed(30, 7));
    assert_eq!(lag_and_committed(&broker.describe("g")).0, 7);
    let next: BTreeSet<String> = lines(&broker.ok(&consume, "")).into_iter().collect();
    assert_eq!(next, values(30, 7));
    assert_eq!(lag_and_committed(&broker.describe("g")).0, 0);

    // -n: exactly the records printed are committed.
    broker.ok(&["produce", "t", "-p", "0"], "a\nb\nc\nd\n");
    assert_eq!(
        lines(&broker.ok(&["consume", "t", "-g", "g", "-n", "1"], "")),
        ["a"]
    );
    assert_eq!(lag_and_committed(&broker.describe("g")).0, 3);
    assert_eq!(lines(&broker.ok(&consume, "")), ["b", "c", "d"]);

    // -o end: a new group without committed offsets starts at the end.
    assert!(
        broker
            .ok(&["consume", "t", "-g", "late", "-o", "end"], "")
            .is_empty()
    );

    // A partition cannot be picked by hand in a group.
    let out = broker.run(&["consume", "t", "-g", "g", "-p", "0"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn commit_before_print_commits_even_when_the_output_is_closed() {
    let broker = TempBroker::start();
    broker.ok(&["topics", "create", "t", "-p", "1"], "");
    broker.ok(&["produce", "t"], "one\ntwo\nthree\n");
    let closed_output = |extra: &[&str]| {
        let mut child = runnel()
            .args(["consume", "t", "-b", &broker.addr])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn runnel consume");
        // Nobody will read: the first write fails with a broken pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    closed_output(&["-g", "at-most-once", "--commit-before-print"]);
    let (lag, committed) = lag_and_committed(&broker.describe("at-most-once"));
    assert_eq!((lag, committed), (0, vec![Some(3)]));

    // At least once (the default): what was not written is not committed
    // (the member's exit commits where it must start again, or nothing).
    closed_output(&["-g", "at-least-once"]);
    let (_, committed) = lag_and_committed(&broker.describe("at-least-once"));
    assert!(
        committed.iter().all(|c| c.unwrap_or(0) == 0),
        "{committed:?}"
    );
}

#[test]
fn a_data_directory_keeps_group_offsets_for_runnel_serve() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data: PathBuf = tmp.path().join("data");
    ok_direct(&data, &["topics", "create", "t", "-p", "2"], "");
    ok_direct(&data, &["produce", "t", "-K", ":"], &keyed(0, 10));

    let consume = ["consume", "t", "-g", "g"];
    let first: BTreeSet<String> = lines(&ok_direct(&data, &consume, "")).into_iter().collect();
    assert_eq!(first, values(0, 10));
    assert!(ok_direct(&data, &consume, "").is_empty(), "nothing new");
    ok_direct(&data, &["produce", "t", "-K", ":"], &keyed(10, 4));
    let next: BTreeSet<String> = lines(&ok_direct(&data, &consume, "")).into_iter().collect();
    assert_eq!(next, values(10, 4));

    // `groups -d` reads them from the directory.
    let desc = json(&ok_direct(
        &data,
        &["groups", "describe", "g", "--json"],
        "",
    ));
    let (lag, committed) = lag_and_committed(&desc);
    assert_eq!(lag, 0, "{desc}");
    assert_eq!(committed.iter().flatten().sum::<i64>(), 14, "{desc}");
    let listed = json(&ok_direct(&data, &["groups", "list", "--json"], ""));
    assert_eq!(listed[0]["group_id"], "g", "{listed}");
    assert_eq!(listed[0]["state"], "Empty", "{listed}");

    // The broker on the same directory reports what direct mode committed...
    let broker = Broker::start(&data, &tmp.path().join("serve.log"));
    let (lag, committed) = lag_and_committed(&broker.describe("g"));
    assert_eq!(lag, 0);
    assert_eq!(committed.iter().flatten().sum::<i64>(), 14);

    // ...and while it runs the data directory is locked, with a clear message.
    let out = run(&consume, &["-d", data.to_str().expect("utf-8")], "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked") && err.contains("serve"), "{err}");

    // Offsets committed through the broker are seen by direct mode.
    broker.ok(&["produce", "t", "-K", ":"], &keyed(14, 5));
    let via_broker: BTreeSet<String> = lines(&broker.ok(&consume, "")).into_iter().collect();
    assert_eq!(via_broker, values(14, 5));
    broker.stop();
    assert!(ok_direct(&data, &consume, "").is_empty(), "nothing new");
}

#[test]
fn a_data_directory_group_commits_before_printing_when_asked() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data: PathBuf = tmp.path().join("data");
    ok_direct(&data, &["topics", "create", "t", "-p", "1"], "");
    ok_direct(&data, &["produce", "t"], "one\ntwo\nthree\n");
    let closed_output = |extra: &[&str]| {
        let mut child = runnel()
            .args(["consume", "t", "-d"])
            .arg(&data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn runnel consume");
        // Nobody will read: the first write fails with a broken pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // At most once: committed although nothing could be written.
    closed_output(&["-g", "amo", "--commit-before-print"]);
    let desc = json(&ok_direct(
        &data,
        &["groups", "describe", "amo", "--json"],
        "",
    ));
    assert_eq!(lag_and_committed(&desc), (0, vec![Some(3)]), "{desc}");
    // At least once: nothing written, nothing committed past it.
    closed_output(&["-g", "alo"]);
    let desc = json(&ok_direct(&data, &["groups", "list", "--json"], ""));
    let groups: Vec<&str> = desc
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["group_id"].as_str())
        .collect();
    if groups.contains(&"alo") {
        let desc = json(&ok_direct(
            &data,
            &["groups", "describe", "alo", "--json"],
            "",
        ));
        let (_, committed) = lag_and_committed(&desc);
        assert!(committed.iter().all(|c| c.unwrap_or(0) == 0), "{desc}");
    }
    // And a normal run prints every record once, then nothing.
    let printed = ok_direct(
        &data,
        &["consume", "t", "-g", "both", "--commit-before-print"],
        "",
    );
    assert_eq!(lines(&printed), ["one", "two", "three"]);
    assert!(
        ok_direct(
            &data,
            &["consume", "t", "-g", "both", "--commit-before-print"],
            ""
        )
        .is_empty()
    );
}

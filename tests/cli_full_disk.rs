//! `runnel produce -d` on a full disk: one clear error line, exit 1, and the
//! data directory stays consistent (every record that was written before the
//! failure is readable, `inspect --verify` finds nothing wrong).
//!
//! `runnel serve` on a full disk: the broker does not die, producers get
//! KAFKA_STORAGE_ERROR, reads keep working, writes resume once a topic is
//! deleted, and a restart on the full disk (clean or after kill -9) works.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn runnel(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runnel"))
        .env_remove("RUNNEL_DATA_DIR")
        .env_remove("RUNNEL_BROKERS")
        .args(args)
        .arg("-d")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run runnel")
}

/// Unmounts the small filesystem when the test ends, whatever happens.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn produce_on_a_full_disk_fails_clearly_and_loses_nothing_written() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("run mount");
    assert!(status.success(), "mount a 2 MiB tmpfs as root");
    let _mounted = Mounted(mnt.clone());
    let data = mnt.join("data");

    let out = runnel(
        &["topics", "create", "t", "-c", "segment.index.bytes=4096"],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 6 MiB of numbered lines cannot fit in 2 MiB.
    let input = tmp.path().join("input.txt");
    let lines: String = (0..60_000)
        .map(|i| format!("{i:08}{}\n", "x".repeat(92)))
        .collect();
    std::fs::write(&input, &lines).unwrap();
    let out = runnel(&["produce", "t", "-f", input.to_str().unwrap()], &data);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let error_line = err
        .lines()
        .find(|l| l.starts_with("runnel: "))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    assert!(
        error_line
            .to_lowercase()
            .contains("no space left on device"),
        "{error_line}"
    );
    assert!(
        error_line.contains(mnt.to_str().unwrap()),
        "names the file: {error_line}"
    );

    // What was written is intact and verifies.
    let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["inspect", "--verify"])
        .arg(&data)
        .output()
        .expect("run runnel inspect");
    assert!(
        out.status.success(),
        "inspect --verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = runnel(&["consume", "t"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let consumed = String::from_utf8(out.stdout).unwrap();
    let n = consumed.lines().count();
    assert!(n > 1000 && n < 60_000, "consumed {n} records");
    // The records read back are exactly the first n input lines, in order.
    assert!(
        lines.starts_with(&consumed),
        "records differ from the input prefix"
    );
}

/// Mounts a tmpfs of `size` under a new temp dir; `None` (with a printed
/// reason) only where this process cannot mount.
fn small_tmpfs(size: &str) -> Option<(tempfile::TempDir, std::path::PathBuf, Mounted)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .expect("run mount");
    if !status.success() {
        eprintln!("skipped: this root cannot mount a tmpfs here (no CAP_SYS_ADMIN?)");
        return None;
    }
    let mounted = Mounted(mnt.clone());
    Some((tmp, mnt, mounted))
}

/// `n` numbered lines of 100 bytes.
fn numbered_lines(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("{i:08}{}\n", "x".repeat(91)))
        .collect()
}

/// Whether the broker process is still running.
fn alive(broker: &mut support::Broker) -> bool {
    matches!(broker.child.try_wait(), Ok(None))
}

#[test]
fn broker_on_a_full_disk_answers_storage_errors_and_keeps_serving() {
    let Some((tmp, mnt, _mounted)) = small_tmpfs("4m") else {
        return;
    };
    let data = mnt.join("data");
    let serve_log = tmp.path().join("serve.log");
    let mut broker = support::Broker::start(&data, &serve_log);
    // Default index sizes: two 10 MiB preallocated indexes per partition,
    // larger than the whole filesystem.
    broker.ok(&["topics", "create", "big"], "");
    broker.ok(&["topics", "create", "small"], "");
    broker.ok(&["produce", "small"], "first\n");

    // 6 MiB of lines cannot fit in 4 MiB.
    let lines = numbered_lines(0, 60_000);
    let out = broker.run(&["produce", "big"], &lines);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("KAFKA_STORAGE_ERROR"), "{err}");
    assert!(
        err.to_lowercase().contains("no space left on device"),
        "{err}"
    );
    assert!(alive(&mut broker), "the broker died on a full disk");
    let log = std::fs::read_to_string(&serve_log).unwrap();
    assert!(log.contains("No space left on device"), "logged: {log}");

    // Reads keep working: whole input lines, in input order, none twice
    // (batches in flight when the disk filled may be missing: each got
    // its error).
    let consumed = broker.ok(&["consume", "big"], "");
    let n = consumed.lines().count();
    assert!(n > 1000 && n < 60_000, "consumed {n} records");
    let input: std::collections::HashSet<&str> = lines.lines().collect();
    let numbers: Vec<u64> = consumed
        .lines()
        .map(|l| {
            assert!(input.contains(l), "not an input line: {l:?}");
            l[..8].parse().unwrap()
        })
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "out of order or twice"
    );
    // Another topic on the same full disk: the write fails, not the broker.
    // (More than the whole filesystem: the space the failed batch of "big"
    // left free, up to a batch's size, cannot take it all.)
    let out = broker.run(&["produce", "small"], &numbered_lines(0, 60_000));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KAFKA_STORAGE_ERROR"));
    assert_eq!(
        broker.ok(&["consume", "small"], "").lines().next(),
        Some("first")
    );

    // Creating topics until not even their metadata fits: a clean
    // KAFKA_STORAGE_ERROR, nothing half-created left behind.
    let mut failed = None;
    for i in 0..200 {
        let name = format!("late{i}");
        let out = broker.run(&["topics", "create", &name], "");
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(err.contains("KAFKA_STORAGE_ERROR"), "{err}");
            failed = Some(name);
            break;
        }
    }
    let failed = failed.expect("the disk never filled up");
    assert!(alive(&mut broker));
    let leftovers: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{failed}-")) || n.starts_with(&format!("{failed}.")))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    assert!(!broker.ok(&["topics", "list"], "").contains(&failed));

    // A restart on the full disk works and serves reads (clean stop).
    broker.stop();
    let mut broker = support::Broker::start(&data, &serve_log);
    assert_eq!(broker.ok(&["consume", "big"], ""), consumed);
    // And after kill -9: recovery rebuilds indexes on the full disk.
    broker.child.kill().unwrap();
    broker.child.wait().unwrap();
    let mut broker = support::Broker::start(&data, &serve_log);
    assert_eq!(broker.ok(&["consume", "big"], ""), consumed);
    assert!(alive(&mut broker));

    // Space freed by deleting a topic: writes resume by themselves.
    broker.ok(&["topics", "delete", "big"], "");
    let more = numbered_lines(100, 5_000);
    broker.ok(&["produce", "small"], &more);
    let small = broker.ok(&["consume", "small"], "");
    let small_lines: Vec<&str> = small.lines().collect();
    let records_before = small_lines.len() - 5_000;
    assert_eq!(small_lines[0], "first");
    assert_eq!(small_lines[records_before..].join("\n") + "\n", more);
    broker.stop();
}

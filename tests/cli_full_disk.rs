//! `runnel produce -d` on a full disk: one clear error line, exit 1, and the
//! data directory stays consistent (every record that was written before the
//! failure is readable, `inspect --verify` finds nothing wrong).

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

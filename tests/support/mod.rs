//! Shared by the end-to-end tests: running the binary, and `runnel serve`
//! on a free loopback port.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use serde_json::Value;
use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary, with the environment that would change its defaults removed.
pub fn runnel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnel"));
    cmd.env_remove("RUNNEL_DATA_DIR")
        .env_remove("RUNNEL_BROKERS")
        .env_remove("RUST_LOG");
    cmd
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `runnel serve` on a free loopback port over a data directory; stopped
/// (SIGTERM, then waited for) when dropped.
pub struct Broker {
    pub child: Child,
    pub addr: String,
}

impl Broker {
    pub fn start(data: &Path, log: &Path) -> Broker {
        Broker::start_with(data, log, &[])
    }

    /// [`Broker::start`] with `-c key=value` overrides.
    pub fn start_with(data: &Path, log: &Path, overrides: &[&str]) -> Broker {
        let addr = format!("127.0.0.1:{}", free_port());
        Broker::start_at(&addr, data, log, overrides)
    }

    /// [`Broker::start_with`] on a given loopback address (a restart on
    /// the address clients already know).
    pub fn start_at(addr: &str, data: &Path, log: &Path, overrides: &[&str]) -> Broker {
        let addr = addr.to_string();
        let mut child = runnel()
            .args(["serve", "--listen", &addr, "-d"])
            .arg(data)
            .args(overrides.iter().flat_map(|o| ["-c", o]))
            .stdout(Stdio::null())
            .stderr(File::create(log).expect("log file"))
            .spawn()
            .expect("spawn runnel serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                panic!("runnel serve exited ({status}): {log}");
            }
            assert!(Instant::now() < deadline, "runnel serve does not accept");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, addr }
    }

    /// Runs `runnel ARGS -b ADDR` with `stdin`.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        run(args, &["-b", &self.addr], stdin)
    }

    /// Runs runnel against the broker and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        succeeded(args, self.run(args, stdin))
    }

    /// `groups describe GROUP --json`.
    pub fn describe(&self, group: &str) -> Value {
        json(&self.ok(&["groups", "describe", group, "--json"], ""))
    }

    /// Stops the broker cleanly (SIGTERM) and waits for it.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        signal(&self.child, libc::SIGTERM);
        let _ = wait_exit(&mut self.child, Duration::from_secs(30));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A broker on a fresh temporary data directory.
pub struct TempBroker {
    broker: Broker,
    _dir: tempfile::TempDir,
}

impl TempBroker {
    pub fn start() -> TempBroker {
        TempBroker::start_with(&[])
    }

    /// [`TempBroker::start`] with `-c key=value` overrides.
    pub fn start_with(overrides: &[&str]) -> TempBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::start_with(
            &dir.path().join("data"),
            &dir.path().join("serve.log"),
            overrides,
        );
        TempBroker { broker, _dir: dir }
    }
}

impl std::ops::Deref for TempBroker {
    type Target = Broker;
    fn deref(&self) -> &Broker {
        &self.broker
    }
}

pub fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child this test spawned.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(start.elapsed() < limit, "runnel did not exit in {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs runnel with `args` then `mode` (`-b ADDR` or `-d DIR`), feeding `stdin`.
pub fn run(args: &[&str], mode: &[&str], stdin: &str) -> Output {
    let mut child = runnel()
        .args(args)
        .args(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runnel");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for runnel")
}

pub fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "runnel {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs runnel on data directory `dir` and asserts success; returns stdout.
pub fn ok_direct(dir: &Path, args: &[&str], stdin: &str) -> String {
    let dir = dir.to_str().expect("utf-8 path");
    succeeded(args, run(args, &["-d", dir], stdin))
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

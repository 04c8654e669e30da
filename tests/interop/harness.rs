//! Shared harness of the interop tests: a `runnel serve` on a free loopback port that is killed
//! on drop, bounded runs of external clients (kcat, the venv's Python, node with kafkajs), and the
//! checks every test needs (kcat JSON records, Java's murmur2 partitioner).
//!
//! Nothing here skips: a missing client is a failure that says how to install it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

/// How long any single external command may run before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the broker may take to accept connections after it was started.
const BROKER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The hint every "missing client" failure ends with.
const SETUP_HINT: &str = "run bin/setup-test-deps (installs kcat, iperf3, .venv and kafkajs)";

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `runnel` binary cargo built for these tests.
pub fn runnel_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runnel"))
}

/// Directory of the Python and JS client scripts.
pub fn scripts_dir() -> PathBuf {
    repo_root().join("tests").join("interop")
}

/// The venv's Python (`RUNNEL_PYTHON` or `.venv/bin/python`); fails with the setup hint if absent.
pub fn python() -> PathBuf {
    let path = std::env::var_os("RUNNEL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv").join("bin").join("python"));
    assert!(
        path.exists(),
        "Python venv with kafka-python and confluent-kafka not found at {}: {SETUP_HINT} \
         or set RUNNEL_PYTHON",
        path.display()
    );
    path
}

/// The node_modules holding kafkajs (`RUNNEL_NODE_MODULES` or `tests/interop/js/node_modules`).
pub fn node_modules() -> PathBuf {
    let path = std::env::var_os("RUNNEL_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| scripts_dir().join("js").join("node_modules"));
    assert!(
        path.join("kafkajs").join("package.json").exists(),
        "kafkajs not found in {}: {SETUP_HINT} or set RUNNEL_NODE_MODULES",
        path.display()
    );
    path
}

/// Fails with the setup hint unless `program` runs (`program ARG` exits, whatever its code).
pub fn require_program(program: &str, probe_arg: &str) {
    let found = Command::new(program)
        .arg(probe_arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(found, "`{program}` not found in PATH: {SETUP_HINT}");
}

/// A `kcat` command against `bootstrap`, with quiet logs.
pub fn kcat(bootstrap: &str) -> Command {
    require_program("kcat", "-V");
    let mut cmd = Command::new("kcat");
    cmd.arg("-b").arg(bootstrap).arg("-q");
    cmd
}

/// A `runnel` command, unaffected by the caller's `RUNNEL_DATA_DIR` / `RUNNEL_BROKERS`.
pub fn runnel() -> Command {
    let mut cmd = Command::new(runnel_bin());
    cmd.env_remove("RUNNEL_DATA_DIR")
        .env_remove("RUNNEL_BROKERS");
    cmd
}

/// A command running `script` (relative to tests/interop/py) with the venv's Python.
pub fn python_script(script: &str) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(scripts_dir().join("py").join(script))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// A command running `script` (relative to tests/interop/js) with node and kafkajs.
pub fn node_script(script: &str) -> Command {
    require_program("node", "--version");
    let modules = node_modules();
    let mut cmd = Command::new("node");
    cmd.arg(scripts_dir().join("js").join(script))
        .env("NODE_PATH", modules)
        .env("KAFKAJS_NO_PARTITIONER_WARNING", "1");
    cmd
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970");
    i64::try_from(since.as_millis()).expect("time fits in i64")
}

/// What a finished command left: exit status and everything it printed.
#[derive(Debug)]
pub struct Finished {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Finished {
    /// Panics with the command's output unless it exited 0.
    pub fn success(self, what: &str) -> Finished {
        assert!(
            self.status.success(),
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Standard output parsed as JSON lines (blank lines ignored).
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{}", self.stderr))
            })
            .collect()
    }

    /// The last JSON line of standard output: the summary the client scripts print.
    pub fn summary(&self) -> Value {
        self.json_lines()
            .pop()
            .unwrap_or_else(|| panic!("no JSON summary printed; stderr:\n{}", self.stderr))
    }
}

/// Runs `cmd` with `input` on stdin, failing the test if it runs longer than `timeout`.
pub fn run_with_timeout(cmd: &mut Command, input: &[u8], timeout: Duration) -> Finished {
    let description = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        // A client that exits early closes its stdin; that is its own failure to report.
        let _ = stdin.write_all(&input);
    });
    let stdout = read_in_background(child.stdout.take().expect("piped stdout"));
    let stderr = read_in_background(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = stderr.join().unwrap_or_default();
                let out = stdout.join().unwrap_or_default();
                panic!(
                    "{description} still running after {timeout:?}, killed\n--- stdout\n{out}\n\
                     --- stderr\n{err}"
                );
            }
            Err(e) => panic!("waiting for {description}: {e}"),
        }
    };
    let _ = writer.join();
    Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs `cmd` with `input` on stdin within [`COMMAND_TIMEOUT`].
pub fn run(cmd: &mut Command, input: &[u8]) -> Finished {
    run_with_timeout(cmd, input, COMMAND_TIMEOUT)
}

/// Runs `cmd` with `input` on stdin and panics unless it exits 0.
pub fn run_ok(cmd: &mut Command, input: &[u8], what: &str) -> Finished {
    run(cmd, input).success(what)
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0")
}

/// A `runnel serve` process on a free loopback port with its own data directory.
///
/// Dropping it kills the broker (and prints the tail of its log if the test is failing).
pub struct Broker {
    data: TempDir,
    extra_args: Vec<String>,
    child: Option<Child>,
    port: u16,
    starts: usize,
}

impl Broker {
    /// Starts a broker with default settings.
    pub fn start() -> Broker {
        Broker::start_with(&[])
    }

    /// Starts a broker with extra `serve` arguments (e.g. `["-c", "num.partitions=3"]`).
    pub fn start_with(extra_args: &[&str]) -> Broker {
        let data = tempfile::Builder::new()
            .prefix("runnel-interop-")
            .tempdir()
            .expect("create temp dir");
        let mut broker = Broker {
            data,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
            port: 0,
            starts: 0,
        };
        broker.launch();
        broker
    }

    /// `127.0.0.1:PORT` of the running broker.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("data")
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker running").id()
    }

    /// Kills the broker with SIGKILL (an unclean stop) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the broker with SIGTERM and asserts that it exits 0 within 20 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: sending a signal to our own child process, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    assert!(
                        status.success(),
                        "runnel serve exited with {status} after SIGTERM\n{}",
                        self.log_tail()
                    );
                    return;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "runnel serve did not exit within 20 s of SIGTERM\n{}",
                        self.log_tail()
                    );
                }
            }
        }
    }

    /// Starts the broker again on the same data directory (on a new free port).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn log_path(&self) -> PathBuf {
        self.data.path().join(format!("serve-{}.log", self.starts))
    }

    /// The last lines the broker logged.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(40);
        format!(
            "--- runnel serve log ({}), last lines:\n{}",
            self.log_path().display(),
            lines[start..].join("\n")
        )
    }

    fn launch(&mut self) {
        self.starts += 1;
        self.port = free_port();
        let log = std::fs::File::create(self.log_path()).expect("create broker log");
        let log_err = log.try_clone().expect("clone log handle");
        let child = Command::new(runnel_bin())
            .arg("serve")
            .arg("--listen")
            .arg(self.bootstrap())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .expect("start runnel serve");
        self.child = Some(child);
        self.wait_until_listening();
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + BROKER_START_TIMEOUT;
        let addr = self.bootstrap();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!(
                    "runnel serve --listen {addr} exited with {status} before listening\n{}",
                    self.log_tail()
                );
            }
            if TcpStream::connect(&addr).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "runnel serve did not accept connections on {addr} within {:?}\n{}",
                    BROKER_START_TIMEOUT,
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let was_running = self.child.is_some();
        self.kill();
        if was_running && thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// A long-running client process whose stdout lines (JSON events) arrive on a channel.
///
/// Dropping it kills the process.
pub struct Member {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    name: String,
}

impl Member {
    /// Spawns `cmd`, reading its stdout line by line and its stderr in the background.
    pub fn spawn(mut cmd: Command, name: &str) -> Member {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let pipe = child.stderr.take().expect("piped stderr");
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        Member {
            child: Some(child),
            lines,
            stderr,
            name: name.to_string(),
        }
    }

    /// The next JSON event, or `None` if none arrives within `timeout` or the process ended.
    pub fn next_event(&self, timeout: Duration) -> Option<Value> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("{}: not a JSON line ({e}): {line}", self.name);
        }))
    }

    /// What the process wrote to stderr so far, labelled with its name.
    pub fn stderr(&self) -> String {
        let text = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        format!("--- {} stderr:\n{text}", self.name)
    }

    /// Kills the process with SIGKILL (no goodbye to the group) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("{}", self.stderr());
        }
    }
}

/// The API keys and version ranges the broker advertises (ApiVersions v0 over a raw socket).
pub fn api_versions(bootstrap: &str) -> BTreeMap<i16, (i16, i16)> {
    let client_id = b"interop";
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // v0
    body.extend_from_slice(&1i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    let mut stream = TcpStream::connect(bootstrap).expect("connect for ApiVersions");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .write_all(&(body.len() as i32).to_be_bytes())
        .and_then(|()| stream.write_all(&body))
        .expect("send ApiVersions");
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .expect("ApiVersions response size");
    let mut resp = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
    stream.read_exact(&mut resp).expect("ApiVersions response");
    let i16_at = |at: usize| i16::from_be_bytes([resp[at], resp[at + 1]]);
    assert!(resp.len() >= 10, "short ApiVersions response {resp:?}");
    assert_eq!(i16_at(4), 0, "ApiVersions error code");
    let count = i32::from_be_bytes([resp[6], resp[7], resp[8], resp[9]]).max(0) as usize;
    assert!(
        resp.len() >= 10 + 6 * count,
        "truncated ApiVersions response"
    );
    (0..count)
        .map(|i| {
            let at = 10 + 6 * i;
            (i16_at(at), (i16_at(at + 2), i16_at(at + 4)))
        })
        .collect()
}

/// Creates `topic` with `partitions` partitions through the broker's CreateTopics API (with
/// confluent-kafka's admin client, so that tests of other clients do not hinge on runnel's own;
/// `runnel topics create` is exercised by the CLI tests) and waits until every partition has a
/// leader.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: u32) {
    run_ok(
        python_script("create_topic.py")
            .arg(bootstrap)
            .arg(topic)
            .arg(partitions.to_string()),
        b"",
        "create_topic.py",
    );
}

/// Java's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), as a signed 32-bit value.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Java's default partitioner picks for `key` among `partitions`.
pub fn java_partition(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) as u32) & 0x7fff_ffff) % partitions
}

/// One record as a test expects or reads it (text keys and values; `None` = null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
    /// Key (`None` = null).
    pub key: Option<String>,
    /// Value (`None` = null, a tombstone).
    pub value: Option<String>,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Timestamp in ms.
    pub timestamp: i64,
}

/// Parses kcat's `-J` consumer output lines into records (errors on anything unexpected).
pub fn parse_kcat_json(lines: &[Value]) -> Vec<Rec> {
    lines
        .iter()
        .map(|v| {
            assert_eq!(v["tstype"], "create", "kcat record not CreateTime: {v}");
            let headers = match &v["headers"] {
                Value::Null => Vec::new(),
                Value::Array(items) => items
                    .chunks(2)
                    .map(|pair| (text(&pair[0]), text(&pair[1])))
                    .collect(),
                other => panic!("unexpected kcat headers {other}"),
            };
            Rec {
                partition: int(&v["partition"]) as u32,
                offset: int(&v["offset"]),
                key: v["key"].as_str().map(str::to_string),
                value: v["payload"].as_str().map(str::to_string),
                headers,
                timestamp: int(&v["ts"]),
            }
        })
        .collect()
}

/// Parses `runnel consume --json` lines into records.
///
/// Headers may come as an object, an array of `[key, value]` pairs or of `{key, value}` objects.
pub fn parse_runnel_json(lines: &[Value]) -> Vec<Rec> {
    lines
        .iter()
        .map(|v| {
            let headers = match &v["headers"] {
                Value::Null => Vec::new(),
                Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::Array(pair) if pair.len() == 2 => (text(&pair[0]), text(&pair[1])),
                        Value::Object(o) => (text(&o["key"]), text(&o["value"])),
                        other => panic!("unexpected header entry {other} in {v}"),
                    })
                    .collect(),
                other => panic!("unexpected headers {other} in {v}"),
            };
            Rec {
                partition: int(&v["partition"]) as u32,
                offset: int(&v["offset"]),
                key: v["key"].as_str().map(str::to_string),
                value: v["value"].as_str().map(str::to_string),
                headers,
                timestamp: int(&v["timestamp"]),
            }
        })
        .collect()
}

fn int(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("expected an integer, got {v}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => panic!("expected a string, got {other}"),
    }
}

/// Reads partition `partition` of `topic` from the beginning to its end with `kcat -C -J`.
pub fn kcat_read_partition(bootstrap: &str, topic: &str, partition: u32) -> Vec<Rec> {
    let out = run_ok(
        kcat(bootstrap)
            .args(["-C", "-J", "-e", "-o", "beginning", "-t", topic, "-p"])
            .arg(partition.to_string()),
        b"",
        "kcat -C",
    );
    parse_kcat_json(&out.json_lines())
}

/// Checks that `got` holds exactly the `expected` records (compared without timestamps), in
/// offset order, and that every timestamp lies in `[from_ms, to_ms]`.
pub fn assert_records(got: &[Rec], expected: &[Rec], from_ms: i64, to_ms: i64) {
    assert_eq!(
        got.len(),
        expected.len(),
        "record count differs: got {got:#?}"
    );
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(
            (g.partition, g.offset, &g.key, &g.value, &g.headers),
            (e.partition, e.offset, &e.key, &e.value, &e.headers),
            "record differs"
        );
        assert!(
            (from_ms..=to_ms).contains(&g.timestamp),
            "timestamp {} of {g:?} outside the produce window [{from_ms}, {to_ms}]",
            g.timestamp
        );
    }
}

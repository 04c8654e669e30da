//! `runnel serve` as a process: it prints where it listens, survives
//! kill -9 (acks=all records are there after restart), stops cleanly on
//! SIGTERM with exit 0 and the clean-shutdown marker, and refuses a data
//! directory another broker holds.

use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `runnel serve` on a free port; returns the child and its address.
fn serve(data_dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["serve", "--listen", "127.0.0.1:0", "-d"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("runnel serve printed where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("runnel listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining stderr so the broker never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "runnel serve did not exit in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn records(n: i64) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: Some(format!("k{i}").into_bytes()),
            value: Some(format!("v{i}").into_bytes()),
            headers: Default::default(),
            timestamp: Utc.timestamp_millis_opt(1_700_000_000_000 + i).unwrap(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = serve(&data);

    // A second broker on the same data directory is refused.
    let second = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["serve", "--listen", "127.0.0.1:0", "-d"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("locked"));

    let client = ClientBuilder::new(vec![addr.clone()])
        .build()
        .await
        .unwrap();
    client
        .controller_client()
        .unwrap()
        .create_topic("durable", 1, 1, 5_000)
        .await
        .unwrap();
    let pc = client
        .partition_client("durable", 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    // rskafka produces with acks=all: acknowledged means fsynced.
    pc.produce(records(25), Compression::NoCompression)
        .await
        .unwrap();
    drop(pc);
    drop(client);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!data.join(".kafka_cleanshutdown").exists());

    let (mut child, addr) = serve(&data);
    let client = ClientBuilder::new(vec![addr]).build().await.unwrap();
    let pc = client
        .partition_client("durable", 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let (got, hw) = pc.fetch_records(0, 1..1_000_000, 1_000).await.unwrap();
    assert_eq!(hw, 25);
    assert_eq!(got.len(), 25);
    assert_eq!(got[24].record, records(25)[24]);
    drop(pc);
    drop(client);

    // SIGTERM: clean stop, exit 0, marker written.
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    assert!(data.join(".kafka_cleanshutdown").exists());
}

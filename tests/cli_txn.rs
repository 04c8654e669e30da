//! Transactions end to end against `runnel serve` (issue 9): the client's
//! idempotent and transactional producer, `runnel produce --transactional-id`
//! (all-or-nothing loads: committed at the end, aborted on error or Ctrl-C)
//! and `runnel consume --isolation` both ways.

use std::io::{BufRead, BufReader, Write};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use runnel::client::{Client, ClientError, ProducerConfig, ProducerRecord, TransactionState};
use serde_json::Value;

mod support;
use support::*;

/// A broker on a temporary data directory whose path the test knows.
struct Setup {
    broker: Broker,
    data: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let broker = Broker::start(&data, &dir.path().join("serve.log"));
    Setup {
        broker,
        data,
        _dir: dir,
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// The values of `topic` as `consume --isolation LEVEL` prints them.
fn consume(broker: &Broker, topic: &str, isolation: &str) -> String {
    broker.ok(&["consume", topic, "--isolation", isolation], "")
}

fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit code 1, stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The batches of `topic`-0 as `runnel inspect --json` reports them.
fn batches(data: &std::path::Path, topic: &str) -> Vec<Value> {
    let dir = data.join(format!("{topic}-0"));
    let out = runnel()
        .args(["inspect", "--json"])
        .arg(&dir)
        .output()
        .expect("run inspect");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .filter(|v| v["type"] == "batch")
        .collect()
}

#[test]
fn transactional_id_is_refused_in_a_data_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("d");
    let data = data.to_str().expect("utf-8");
    ok_direct(std::path::Path::new(data), &["topics", "create", "t"], "");
    let out = run(
        &["produce", "t", "--transactional-id", "load"],
        &["-d", data],
        "a\n",
    );
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--transactional-id"), "{stderr}");
    assert_eq!(
        ok_direct(std::path::Path::new(data), &["consume", "t"], ""),
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_stamps_its_id_and_per_partition_sequences() {
    let s = start();
    s.broker.ok(&["topics", "create", "idem"], "");
    let client = Client::connect(&s.broker.addr).await.expect("connect");
    let producer = client.producer(ProducerConfig {
        enable_idempotence: true,
        linger: Duration::ZERO,
        ..ProducerConfig::default()
    });
    let sizes = [3usize, 1, 4];
    let mut n = 0;
    for size in sizes {
        for _ in 0..size {
            producer
                .send(ProducerRecord {
                    topic: "idem".into(),
                    partition: Some(0),
                    value: Some(Bytes::from(format!("v{n}"))),
                    ..Default::default()
                })
                .await
                .expect("send");
            n += 1;
        }
        producer.flush().await.expect("acknowledged");
    }
    let (producer_id, epoch) = producer
        .transaction_manager()
        .expect("idempotent")
        .producer_id_and_epoch();
    assert!(producer_id >= 0, "a producer id from InitProducerId");
    // Each batch starts at the sequence after the previous batch's records.
    let batches = batches(&s.data, "idem");
    assert!(batches.len() >= 3, "{batches:?}");
    let mut next = 0;
    for b in &batches {
        let stamp = (
            b["producer_id"].as_i64().expect("id"),
            b["producer_epoch"].as_i64().expect("epoch"),
            b["base_sequence"].as_i64().expect("sequence"),
            b["is_transactional"].as_bool().expect("bit"),
        );
        assert_eq!(stamp, (producer_id, i64::from(epoch), next, false), "{b}");
        next += b["count"].as_i64().expect("count");
    }
    assert_eq!(next, 8);
    let values = consume(&s.broker, "idem", "read_committed");
    assert_eq!(
        lines(&values),
        (0..8).map(|i| format!("v{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn a_transactional_load_is_committed_and_read_both_ways() {
    let s = start();
    s.broker.ok(&["topics", "create", "orders", "-p", "3"], "");
    let input: String = (0..500).map(|i| format!("k{i}:v{i}\n")).collect();
    let out = s.broker.run(
        &[
            "produce",
            "orders",
            "-K",
            ":",
            "--transactional-id",
            "load-1",
        ],
        &input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("500 records") && stderr.contains("committed"),
        "{stderr}"
    );
    for isolation in ["read_committed", "read_uncommitted"] {
        let mut got = lines(&consume(&s.broker, "orders", isolation))
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        got.sort();
        let mut want: Vec<String> = (0..500).map(|i| format!("v{i}")).collect();
        want.sort();
        assert_eq!(got, want, "{isolation}");
    }
    // Each partition holds transactional batches closed by a COMMIT marker.
    let batches = batches(&s.data, "orders");
    assert!(batches.iter().any(|b| b["is_transactional"] == true));
    let last = batches.last().expect("batches");
    assert_eq!(last["is_control"], true, "{last}");
}

#[test]
fn a_large_load_over_several_partitions_is_one_committed_transaction() {
    // Runs of unkeyed records over 3 partitions: a request to the leader carries open
    // batches of partitions that are not ready yet, which must have been
    // added to the transaction too (else INVALID_TXN_STATE).
    let s = start();
    s.broker.ok(&["topics", "create", "bulk", "-p", "3"], "");
    let input: String = (0..300_000)
        .map(|i| format!("record-value-{i}\n"))
        .collect();
    let out = s.broker.run(
        &["produce", "bulk", "--transactional-id", "bulk-load"],
        &input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("300000 records"), "{stderr}");
    let committed = consume(&s.broker, "bulk", "read_committed");
    assert_eq!(committed.lines().count(), 300_000);
}

#[test]
fn a_failed_load_is_aborted_and_only_read_uncommitted_sees_it() {
    let s = start();
    s.broker.ok(
        &["topics", "create", "small", "-c", "max.message.bytes=1000"],
        "",
    );
    // A committed load first, then one that fails at its last line.
    s.broker.ok(
        &["produce", "small", "--transactional-id", "t1"],
        "kept-1\nkept-2\n",
    );
    let mut input: String = (0..50).map(|i| format!("lost-{i}\n")).collect();
    input.push_str(&"x".repeat(5000));
    input.push('\n');
    let out = s.broker.run(
        &[
            "produce",
            "small",
            "--transactional-id",
            "t1",
            "--linger-ms",
            "0",
        ],
        &input,
    );
    let stderr = fails(&out);
    assert!(
        stderr.contains("transaction aborted") && stderr.contains("max.message.bytes"),
        "{stderr}"
    );
    let committed = consume(&s.broker, "small", "read_committed");
    assert_eq!(lines(&committed), vec!["kept-1", "kept-2"]);
    let uncommitted = consume(&s.broker, "small", "read_uncommitted");
    let mut want = vec!["kept-1".to_string(), "kept-2".to_string()];
    want.extend((0..50).map(|i| format!("lost-{i}")));
    assert_eq!(lines(&uncommitted), want);
    // The default is read_committed.
    assert_eq!(s.broker.ok(&["consume", "small"], ""), committed);
}

#[test]
fn ctrl_c_aborts_the_transaction() {
    let s = start();
    s.broker.ok(&["topics", "create", "live"], "");
    let mut child = runnel()
        .args([
            "produce",
            "live",
            "--transactional-id",
            "tty",
            "--linger-ms",
            "0",
        ])
        .args(["-b", &s.broker.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn produce");
    let mut stdin = child.stdin.take().expect("stdin");
    for i in 0..20 {
        writeln!(stdin, "typed-{i}").expect("write");
    }
    stdin.flush().expect("flush");
    // The records reach the log (read_uncommitted sees them) while the
    // transaction is open; stdin stays open, as a terminal's would.
    let deadline = Instant::now() + Duration::from_secs(20);
    while lines(&consume(&s.broker, "live", "read_uncommitted")).len() < 20 {
        assert!(
            Instant::now() < deadline,
            "the records never reached the log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(consume(&s.broker, "live", "read_committed"), "");
    signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines() {
        stderr.push_str(&line.expect("utf-8"));
        stderr.push('\n');
    }
    drop(stdin);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("transaction aborted"), "{stderr}");
    assert_eq!(consume(&s.broker, "live", "read_committed"), "");
    assert_eq!(
        lines(&consume(&s.broker, "live", "read_uncommitted")).len(),
        20
    );
}

#[test]
fn a_load_slower_than_its_transaction_timeout_is_aborted_by_the_broker() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start_with(
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &["transaction.abort.timed.out.transaction.cleanup.interval.ms=200"],
    );
    broker.ok(&["topics", "create", "slow"], "");
    let mut child = runnel()
        .args(["produce", "slow", "--transactional-id", "slow-load"])
        .args(["--transaction-timeout-ms", "1000", "--linger-ms", "0"])
        .args(["-b", &broker.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn produce");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "too-late").expect("write");
    stdin.flush().expect("flush");
    // The input ends well after the transaction timed out.
    std::thread::sleep(Duration::from_secs(4));
    drop(stdin);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines() {
        stderr.push_str(&line.expect("utf-8"));
    }
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not committed") || stderr.contains("aborted"),
        "{stderr}"
    );
    assert_eq!(consume(&broker, "slow", "read_committed"), "");
    assert_eq!(consume(&broker, "slow", "read_uncommitted"), "too-late\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let s = start();
    s.broker.ok(&["topics", "create", "fence"], "");
    let client = Client::connect(&s.broker.addr).await.expect("connect");
    let config = || ProducerConfig {
        transactional_id: Some("shared".into()),
        linger: Duration::ZERO,
        ..ProducerConfig::default()
    };
    let record = |v: &str| ProducerRecord {
        topic: "fence".into(),
        partition: Some(0),
        value: Some(Bytes::from(v.to_string())),
        ..Default::default()
    };
    let first = client.producer(config());
    first.init_transactions().await.expect("init first");
    first.begin_transaction().expect("begin");
    first.send(record("zombie")).await.expect("send");
    first
        .flush()
        .await
        .expect("written in the open transaction");

    let second = client.producer(config());
    second.init_transactions().await.expect("init second");
    let (_, first_epoch) = first
        .transaction_manager()
        .expect("txn")
        .producer_id_and_epoch();
    let (_, second_epoch) = second
        .transaction_manager()
        .expect("txn")
        .producer_id_and_epoch();
    assert!(second_epoch > first_epoch, "{second_epoch} > {first_epoch}");
    second.begin_transaction().expect("begin");
    second.send(record("winner")).await.expect("send");
    second.commit_transaction().await.expect("commit");

    let err = first
        .commit_transaction()
        .await
        .expect_err("the first producer is fenced");
    let fenced = matches!(&err, ClientError::Kafka { code, .. }
        if code.0 == 90 || code.0 == 47);
    assert!(fenced, "{err}");
    assert_eq!(
        first.transaction_manager().expect("txn").state(),
        TransactionState::FatalError
    );
    assert!(
        first.begin_transaction().is_err(),
        "a fenced producer stays stopped"
    );
    let committed = consume(&s.broker, "fence", "read_committed");
    assert_eq!(lines(&committed), vec!["winner"]);
}

/// A transactional batch of `values` by `producer_id` starting at `sequence`.
fn txn_batch(producer_id: i64, sequence: i32, values: &[&str]) -> Vec<u8> {
    let mut b = runnel::record::BatchBuilder::new(runnel::record::Compression::None, 1_000)
        .producer(producer_id, 0, sequence)
        .transactional(true);
    for v in values {
        b.push(1_000, None, Some(v.as_bytes()), &[]);
    }
    b.finish()
}

#[test]
fn consume_in_a_data_directory_reads_committed_up_to_the_last_stable_offset() {
    use runnel::record::control::{ControlRecordType, EndTxnMarker};
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("d");
    ok_direct(&data, &["topics", "create", "t"], "");
    ok_direct(&data, &["produce", "t"], "plain-1\n");
    {
        let dir = runnel::log::DataDir::open(&data, false).expect("open");
        let mut log = dir.open_log("t", 0).expect("log");
        let marker = |control| EndTxnMarker {
            control,
            coordinator_epoch: 0,
        };
        // Producer 101 commits, 102 aborts (interleaved), 103 stays open.
        log.append(&txn_batch(101, 0, &["committed-1", "committed-2"]))
            .expect("append");
        log.append(&txn_batch(102, 0, &["aborted-1"]))
            .expect("append");
        log.append(&txn_batch(101, 2, &["committed-3"]))
            .expect("append");
        log.append(&txn_batch(102, 1, &["aborted-2"]))
            .expect("append");
        log.append_control(102, 0, marker(ControlRecordType::Abort))
            .expect("abort");
        log.append_control(101, 0, marker(ControlRecordType::Commit))
            .expect("commit");
        log.append(&txn_batch(103, 0, &["open-1"])).expect("append");
        log.close().expect("close");
        dir.close().expect("close dir");
    }
    ok_direct(&data, &["produce", "t"], "plain-2\n");
    let committed = ok_direct(&data, &["consume", "t"], "");
    assert_eq!(
        lines(&committed),
        vec!["plain-1", "committed-1", "committed-2", "committed-3"],
        "read_committed (the default) skips aborted data and stops before the open transaction"
    );
    let uncommitted = ok_direct(
        &data,
        &["consume", "t", "--isolation", "read_uncommitted"],
        "",
    );
    assert_eq!(
        lines(&uncommitted),
        vec![
            "plain-1",
            "committed-1",
            "committed-2",
            "aborted-1",
            "committed-3",
            "aborted-2",
            "open-1",
            "plain-2"
        ],
        "read_uncommitted shows everything but the markers"
    );
    let json_lines = ok_direct(
        &data,
        &["consume", "t", "--isolation", "read_committed", "--json"],
        "",
    );
    let offsets: Vec<i64> = json_lines
        .lines()
        .map(|l| json(l)["offset"].as_i64().expect("offset"))
        .collect();
    assert_eq!(offsets, vec![0, 1, 2, 4]);
    // Without producer snapshots the open transaction is found by reading
    // the batch headers from the log start.
    let mut removed = 0;
    for entry in std::fs::read_dir(data.join("t-0")).expect("partition dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).expect("remove snapshot");
            removed += 1;
        }
    }
    assert!(removed > 0, "the writer left producer snapshots");
    assert_eq!(ok_direct(&data, &["consume", "t"], ""), committed);
}

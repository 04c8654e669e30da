//! Interop tests: `runnel serve` on a free loopback port, driven by real Kafka clients — kcat
//! (Debian's, librdkafka 2.0.2), kafka-python and confluent-kafka (the venv), kafkajs (npm) — and
//! by `runnel`'s own client subcommands, against the broker and in `--data-dir` mode.
//!
//! Needs `bin/setup-test-deps` once; without it these tests fail and say so.

// Shared with interop_groups.rs; each test crate uses a part of it.
#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;

use harness::{
    Broker, Rec, api_versions, assert_records, create_topic, java_partition, kcat,
    kcat_read_partition, murmur2, node_script, now_ms, parse_kcat_json, parse_runnel_json,
    python_script, run, run_ok, runnel,
};
use serde_json::Value;
use std::collections::BTreeSet;

/// Records per partition (or per acks mode) in the round-trip tests.
const COUNT: usize = 30;

/// Input lines `key-LABEL-i:value-LABEL-i-…` for `kcat -K:` / `runnel produce -K :`.
fn keyed_lines(label: &str, count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "key-{label}-{i}:value-{label}-{i}-{}\n",
                "v".repeat(i * 7 % 90)
            )
        })
        .collect()
}

/// What reading `keyed_lines(label, count)` back from `partition` (starting at `first_offset`)
/// must give, with the given headers on every record.
fn expected_keyed(
    label: &str,
    count: usize,
    partition: u32,
    first_offset: i64,
    headers: &[(&str, &str)],
) -> Vec<Rec> {
    (0..count)
        .map(|i| Rec {
            partition,
            offset: first_offset + i as i64,
            key: Some(format!("key-{label}-{i}")),
            value: Some(format!("value-{label}-{i}-{}", "v".repeat(i * 7 % 90))),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timestamp: 0,
        })
        .collect()
}

/// Produces `input` to `topic` with kcat, keyed at `:`, with `extra` flags.
fn kcat_produce(bootstrap: &str, topic: &str, extra: &[&str], input: &str) {
    run_ok(
        kcat(bootstrap)
            .args(["-P", "-K", ":", "-t", topic])
            .args(extra),
        input.as_bytes(),
        "kcat -P",
    );
}

/// `runnel consume TOPIC --brokers B ARGS` (or `--data-dir D`): its stdout.
fn runnel_consume(target: &[&str], topic: &str, args: &[&str]) -> String {
    run_ok(
        runnel().args(["consume", topic]).args(target).args(args),
        b"",
        "runnel consume",
    )
    .stdout
}

#[test]
fn murmur2_checker_matches_kafka_reference_values() {
    // From Apache Kafka's UtilsTest: the checker the partition assertions rely on must be right.
    let vectors: [(&str, i32); 6] = [
        ("21", -973_932_308),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        ("abc", 479_470_107),
    ];
    for (text, expected) in vectors {
        assert_eq!(murmur2(text.as_bytes()), expected, "murmur2({text:?})");
    }
}

#[test]
fn kcat_lists_metadata() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "meta-three", 3);
    let out = run_ok(kcat(&bootstrap).args(["-L", "-J"]), b"", "kcat -L -J");
    let meta: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("kcat -L -J printed no JSON ({e}): {}", out.stdout));

    let brokers = meta["brokers"].as_array().expect("brokers list");
    assert_eq!(brokers.len(), 1, "one broker expected: {meta}");
    assert_eq!(
        brokers[0]["name"].as_str(),
        Some(bootstrap.as_str()),
        "broker advertised under its listen address: {meta}"
    );
    let broker_id = &brokers[0]["id"];
    let topics = meta["topics"].as_array().expect("topics list");
    let topic = topics
        .iter()
        .find(|t| t["topic"] == "meta-three")
        .unwrap_or_else(|| panic!("meta-three not listed: {meta}"));
    assert!(topic["error"].is_null(), "topic error: {topic}");
    let partitions = topic["partitions"].as_array().expect("partitions");
    let mut ids: Vec<i64> = partitions
        .iter()
        .map(|p| p["partition"].as_i64().expect("partition id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2]);
    for p in partitions {
        assert_eq!(&p["leader"], broker_id, "leader of {p}");
    }

    // The plain human output, as users run it.
    let plain = run_ok(kcat(&bootstrap).arg("-L"), b"", "kcat -L").stdout;
    assert!(
        plain.contains("topic \"meta-three\" with 3 partitions"),
        "kcat -L output:\n{plain}"
    );
}

#[test]
fn kcat_produces_and_consumes_keyed_records_with_headers() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "kcat-keyed", 3);

    let from = now_ms();
    for p in 0..3u32 {
        let trace = format!("trace=p{p}");
        let part = p.to_string();
        kcat_produce(
            &bootstrap,
            "kcat-keyed",
            &["-p", &part, "-H", &trace, "-H", "source=kcat"],
            &keyed_lines(&format!("p{p}"), COUNT),
        );
    }
    // A tombstone: -Z turns the empty value into null.
    kcat_produce(&bootstrap, "kcat-keyed", &["-p", "0", "-Z"], "gone:\n");
    let to = now_ms();

    for p in 0..3u32 {
        let trace = format!("p{p}");
        let mut expected = expected_keyed(
            &format!("p{p}"),
            COUNT,
            p,
            0,
            &[("trace", &trace), ("source", "kcat")],
        );
        if p == 0 {
            expected.push(Rec {
                partition: 0,
                offset: COUNT as i64,
                key: Some("gone".into()),
                value: None,
                headers: Vec::new(),
                timestamp: 0,
            });
        }
        let got = kcat_read_partition(&bootstrap, "kcat-keyed", p);
        assert_records(&got, &expected, from, to);
    }

    // From an absolute offset and from the end (-o -N), to the end.
    let out = run_ok(
        kcat(&bootstrap).args(["-C", "-J", "-e", "-t", "kcat-keyed", "-p", "1", "-o", "12"]),
        b"",
        "kcat -C -o 12",
    );
    let got = parse_kcat_json(&out.json_lines());
    let expected = expected_keyed("p1", COUNT, 1, 0, &[("trace", "p1"), ("source", "kcat")]);
    assert_records(&got, &expected[12..], from, to);
    let out = run_ok(
        kcat(&bootstrap).args(["-C", "-J", "-e", "-t", "kcat-keyed", "-p", "2", "-o", "-4"]),
        b"",
        "kcat -C -o -4",
    );
    let got = parse_kcat_json(&out.json_lines());
    let expected = expected_keyed("p2", COUNT, 2, 0, &[("trace", "p2"), ("source", "kcat")]);
    assert_records(&got, &expected[COUNT - 4..], from, to);

    // kcat's format tokens, as people use them.
    let out = run_ok(
        kcat(&bootstrap).args([
            "-C",
            "-e",
            "-t",
            "kcat-keyed",
            "-p",
            "1",
            "-o",
            "beginning",
            "-c",
            "2",
            "-f",
            "%t|%p|%o|%k|%s|%h\\n",
        ]),
        b"",
        "kcat -C -f",
    );
    assert_eq!(
        out.stdout,
        "kcat-keyed|1|0|key-p1-0|value-p1-0-|trace=p1,source=kcat\n\
         kcat-keyed|1|1|key-p1-1|value-p1-1-vvvvvvv|trace=p1,source=kcat\n"
    );
}

#[test]
fn kcat_round_trips_every_compression_codec() {
    let mut broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let codecs = ["gzip", "snappy", "lz4", "zstd"];
    create_topic(&bootstrap, "kcat-codecs", codecs.len() as u32);
    let from = now_ms();
    for (p, codec) in codecs.iter().enumerate() {
        let part = p.to_string();
        // Large enough batches that the codec really compresses several records together.
        kcat_produce(
            &bootstrap,
            "kcat-codecs",
            &["-p", &part, "-z", codec, "-H", &format!("codec={codec}")],
            &keyed_lines(codec, 300),
        );
    }
    let to = now_ms();
    for (p, codec) in codecs.iter().enumerate() {
        let expected = expected_keyed(codec, 300, p as u32, 0, &[("codec", codec)]);
        let got = kcat_read_partition(&bootstrap, "kcat-codecs", p as u32);
        assert_records(&got, &expected, from, to);
    }

    // The broker stored the client's compressed batches as they came (no re-encoding), and
    // its log verifies offline.
    let advertised = api_versions(&bootstrap);
    broker.stop();
    run_ok(
        runnel()
            .args(["inspect", "--verify"])
            .arg(broker.data_dir()),
        b"",
        "runnel inspect --verify",
    );
    let mismatched: Vec<String> = codecs
        .iter()
        .enumerate()
        .filter_map(|(p, codec)| {
            let stored = stored_codecs(&broker, "kcat-codecs", &[p as u32]);
            (stored != BTreeSet::from([codec.to_string()]))
                .then(|| format!("-z {codec} stored as {stored:?}"))
        })
        .collect();
    assert!(
        mismatched.is_empty(),
        "kcat batches not stored as sent: {}. librdkafka 2.0.2 silently sends uncompressed \
         unless ApiVersions advertises Produce v0 (gzip, snappy, lz4), FindCoordinator (lz4), \
         Produce v7 + Fetch v10 (zstd); advertised: Produce {:?}, Fetch {:?}, \
         FindCoordinator {:?}",
        mismatched.join(", "),
        advertised.get(&0),
        advertised.get(&1),
        advertised.get(&10)
    );
}

/// The compression codecs of the batches stored for `partitions` of `topic` in a (stopped)
/// broker's data directory, read with `runnel inspect --json`; every batch must have a valid CRC.
fn stored_codecs(broker: &Broker, topic: &str, partitions: &[u32]) -> BTreeSet<String> {
    let mut codecs = BTreeSet::new();
    for p in partitions {
        let dir = broker.data_dir().join(format!("{topic}-{p}"));
        // Only the batch lines matter here; index problems are `inspect --verify`'s to report.
        let out = run(runnel().args(["inspect", "--json"]).arg(&dir), b"");
        for batch in out.json_lines().iter().filter(|v| v["type"] == "batch") {
            assert_eq!(batch["crc_valid"], true, "{batch}");
            codecs.insert(batch["compression"].as_str().unwrap_or("?").to_lowercase());
        }
    }
    codecs
}

/// Runs one of the Python round-trip scripts and checks its summary, then that the broker
/// stored the client's batches with the codecs the script used (no re-encoding).
fn python_round_trip(script: &str, client: &str, codecs: &[&str]) {
    let mut broker = Broker::start();
    let topic = format!("{client}-roundtrip");
    let out = run_ok(
        python_script(script)
            .arg(broker.bootstrap())
            .arg(&topic)
            .arg("4")
            .arg(COUNT.to_string()),
        b"",
        script,
    );
    let summary = out.summary();
    assert_eq!(summary["client"], client);
    // One mode (a pass of COUNT records) per codec.
    let expected_records = codecs.len() * COUNT;
    assert_eq!(summary["produced"], expected_records, "{summary}");
    assert_eq!(summary["consumed"], expected_records, "{summary}");
    assert!(summary["partitions_used"].as_u64() > Some(1), "{summary}");

    broker.stop();
    let expected: BTreeSet<String> = codecs.iter().map(|c| c.to_string()).collect();
    let stored = stored_codecs(&broker, &topic, &[0, 1, 2, 3]);
    // Every codec the client used is stored as sent (no re-encoding)...
    assert!(
        stored.is_superset(&expected),
        "codecs of the batches {client} produced, as stored by the broker: {stored:?}, expected {expected:?}"
    );
    // ...and nothing else, except uncompressed batches: librdkafka sends a
    // batch uncompressed when compressing would not make it smaller (a batch
    // of one small record, say), which linger timing makes happen or not.
    let unexpected: Vec<&String> = stored
        .iter()
        .filter(|c| !expected.contains(*c) && c.as_str() != "none")
        .collect();
    assert!(
        unexpected.is_empty(),
        "{client}: unexpected codecs {unexpected:?} in {stored:?}"
    );
}

#[test]
fn kafka_python_round_trip() {
    python_round_trip(
        "kafka_python_roundtrip.py",
        "kafka-python",
        &["gzip", "none"],
    );
}

#[test]
fn confluent_kafka_round_trip() {
    python_round_trip(
        "confluent_roundtrip.py",
        "confluent-kafka",
        &["zstd", "lz4", "gzip", "snappy"],
    );
}

#[test]
fn kafkajs_produces_what_kcat_reads_back() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let out = run_ok(
        node_script("produce.js")
            .arg(&bootstrap)
            .arg("kafkajs-produce")
            .arg("4")
            .arg(COUNT.to_string()),
        b"",
        "node produce.js",
    );
    let mut lines = out.json_lines();
    let summary = lines.pop().expect("summary line");
    assert_eq!(summary["produced"], 2 * COUNT, "{summary}");
    let mut expected: Vec<Rec> = lines
        .iter()
        .map(|v| Rec {
            partition: v["partition"].as_u64().expect("partition") as u32,
            offset: v["offset"].as_i64().expect("offset"),
            key: v["key"].as_str().map(str::to_string),
            value: v["value"].as_str().map(str::to_string),
            headers: v["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap_or("").into(),
                        h[1].as_str().unwrap_or("").into(),
                    )
                })
                .collect(),
            timestamp: v["timestamp"].as_i64().expect("timestamp"),
        })
        .collect();
    expected.sort_by_key(|r| (r.partition, r.offset));

    let mut got = Vec::new();
    for p in 0..4 {
        got.extend(kcat_read_partition(&bootstrap, "kafkajs-produce", p));
    }
    assert_eq!(
        got, expected,
        "kcat read back something else than kafkajs produced"
    );
    for rec in &got {
        let key = rec.key.as_deref().expect("keyed");
        assert_eq!(
            rec.partition,
            java_partition(key.as_bytes(), 4),
            "kafkajs put {key} on another partition than Java's murmur2"
        );
    }
}

#[test]
fn runnel_consume_reads_what_kcat_produced() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "kcat-to-runnel", 3);
    let from = now_ms();
    for p in 0..3u32 {
        let part = p.to_string();
        kcat_produce(
            &bootstrap,
            "kcat-to-runnel",
            &["-p", &part, "-H", "origin=kcat", "-H", "n=1"],
            &keyed_lines(&format!("k{p}"), COUNT),
        );
    }
    let to = now_ms();
    let target = ["--brokers", bootstrap.as_str()];
    for p in 0..3u32 {
        let part = p.to_string();
        let out = runnel_consume(
            &target,
            "kcat-to-runnel",
            &["-o", "beginning", "-p", &part, "--json"],
        );
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        for line in &lines {
            assert_eq!(line["topic"], "kcat-to-runnel", "{line}");
        }
        let got = parse_runnel_json(&lines);
        let expected = expected_keyed(
            &format!("k{p}"),
            COUNT,
            p,
            0,
            &[("origin", "kcat"), ("n", "1")],
        );
        assert_records(&got, &expected, from, to);
    }

    // -n and --format with kcat's tokens.
    let out = runnel_consume(
        &target,
        "kcat-to-runnel",
        &[
            "-o",
            "beginning",
            "-p",
            "2",
            "-n",
            "3",
            "--format",
            "%t|%p|%o|%k=%s|%h\\n",
        ],
    );
    assert_eq!(
        out,
        "kcat-to-runnel|2|0|key-k2-0=value-k2-0-|origin=kcat,n=1\n\
         kcat-to-runnel|2|1|key-k2-1=value-k2-1-vvvvvvv|origin=kcat,n=1\n\
         kcat-to-runnel|2|2|key-k2-2=value-k2-2-vvvvvvvvvvvvvv|origin=kcat,n=1\n"
    );
    // Whole topic, default format (the value and a newline).
    let all = runnel_consume(&target, "kcat-to-runnel", &[]);
    assert_eq!(all.lines().count(), 3 * COUNT, "{all}");
}

#[test]
fn kcat_reads_what_runnel_produced() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "runnel-to-kcat", 3);
    let from = now_ms();
    run_ok(
        runnel()
            .args(["produce", "runnel-to-kcat", "--brokers", &bootstrap])
            .args(["-K", ":", "-H", "origin=runnel", "-H", "n=2", "-p", "1"]),
        keyed_lines("r", COUNT).as_bytes(),
        "runnel produce -p 1",
    );
    // Keyed, no partition: murmur2 as Java's default partitioner.
    run_ok(
        runnel()
            .args(["produce", "runnel-to-kcat", "--brokers", &bootstrap])
            .args(["-K", ":"]),
        keyed_lines("hash", COUNT).as_bytes(),
        "runnel produce (keyed)",
    );
    let to = now_ms();

    let got = kcat_read_partition(&bootstrap, "runnel-to-kcat", 1);
    let explicit: Vec<Rec> = got
        .iter()
        .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with("key-r-")))
        .cloned()
        .collect();
    assert_records(
        &explicit,
        &expected_keyed("r", COUNT, 1, 0, &[("origin", "runnel"), ("n", "2")]),
        from,
        to,
    );

    let mut hashed = Vec::new();
    for p in 0..3 {
        hashed.extend(
            kcat_read_partition(&bootstrap, "runnel-to-kcat", p)
                .into_iter()
                .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with("key-hash-"))),
        );
    }
    assert_eq!(hashed.len(), COUNT, "{hashed:#?}");
    let mut partitions_used = BTreeSet::new();
    for rec in &hashed {
        let key = rec.key.as_deref().expect("keyed");
        assert_eq!(
            rec.partition,
            java_partition(key.as_bytes(), 3),
            "runnel produce put {key} on another partition than Java's murmur2"
        );
        let i: usize = key["key-hash-".len()..].parse().expect("index");
        assert_eq!(
            rec.value.as_deref(),
            Some(format!("value-hash-{i}-{}", "v".repeat(i * 7 % 90)).as_str())
        );
        assert!(rec.headers.is_empty(), "{rec:?}");
        assert!((from..=to).contains(&rec.timestamp), "{rec:?}");
        partitions_used.insert(rec.partition);
    }
    assert!(partitions_used.len() > 1, "all keys on one partition");
}

#[test]
fn broker_and_data_dir_modes_give_identical_output() {
    let mut broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let direct = tempfile::tempdir().expect("temp dir");
    let direct_dir = direct.path().join("data");
    let direct_dir = direct_dir.to_str().expect("utf-8 path").to_string();
    let via_broker = ["--brokers", bootstrap.as_str()];
    let via_dir = ["--data-dir", direct_dir.as_str()];

    // Keyed records go where murmur2 says in both modes; unkeyed ones only to an explicit
    // partition, since their spread is free to differ between runs.
    let input = keyed_lines("same", COUNT);
    for target in [&via_broker, &via_dir] {
        run_ok(
            runnel()
                .args(["topics", "create", "same-output", "--partitions", "3"])
                .args(target),
            b"",
            "runnel topics create",
        );
        run_ok(
            runnel()
                .args(["produce", "same-output"])
                .args(target)
                .args(["-K", ":", "-H", "h=1"]),
            input.as_bytes(),
            "runnel produce",
        );
        run_ok(
            runnel()
                .args(["produce", "same-output"])
                .args(target)
                .args(["-p", "2", "-H", "h=2"]),
            b"unkeyed one\nunkeyed two\n",
            "runnel produce -p 2",
        );
    }

    let format = "%t %p %o %k %s %h %S %K\\n";
    let mut broker_json = Vec::new();
    for p in ["0", "1", "2"] {
        let a = runnel_consume(&via_broker, "same-output", &["-p", p, "--format", format]);
        let b = runnel_consume(&via_dir, "same-output", &["-p", p, "--format", format]);
        assert_eq!(a, b, "partition {p}: broker and --data-dir output differ");
        assert!(!a.is_empty(), "partition {p} empty");

        let a = runnel_consume(&via_broker, "same-output", &["-p", p, "--json"]);
        let b = runnel_consume(&via_dir, "same-output", &["-p", p, "--json"]);
        let strip = |text: &str| -> Vec<Value> {
            text.lines()
                .map(|l| {
                    let mut v: Value = serde_json::from_str(l).expect("JSON line");
                    v.as_object_mut().expect("object").remove("timestamp");
                    v
                })
                .collect()
        };
        assert_eq!(strip(&a), strip(&b), "partition {p}: --json differs");
        broker_json.push((p, a));
    }
    let total: usize = broker_json.iter().map(|(_, a)| a.lines().count()).sum();
    assert_eq!(total, COUNT + 2, "30 keyed and 2 unkeyed records");

    // The broker's own data directory, read offline after a clean stop, gives the very same
    // records, timestamps included.
    broker.stop();
    let broker_dir = broker.data_dir();
    let broker_dir = broker_dir.to_str().expect("utf-8 path");
    for (p, online) in &broker_json {
        let offline = runnel_consume(
            &["--data-dir", broker_dir],
            "same-output",
            &["-p", p, "--json"],
        );
        assert_eq!(
            &offline, online,
            "partition {p}: offline read of the broker's data differs"
        );
    }
}

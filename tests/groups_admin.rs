//! `runnel groups` against a real `runnel serve`: describe shows the lag the
//! test produced, reset-offsets plans without changing anything until
//! --execute and then moves the group, delete refuses a group with members.

mod groups_support;

use clap::Parser;
use groups_support::*;
use runnel::cli::groups::{GroupsArgs, run_to};
use runnel::client::Client;
use runnel::client::group::{GroupAdmin, GroupConsumer};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: GroupsArgs,
}

/// Runs `runnel groups ARGS -b ADDR` and returns its output.
async fn groups(addr: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["groups", "-b", addr];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv)?;
    let mut out = Vec::new();
    run_to(cli.args, &mut out).await?;
    Ok(String::from_utf8(out)?)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_reset_and_delete() {
    let broker = start_broker();
    let addr = broker.addr.as_str();
    let client = Client::connect(addr).await.expect("connect");
    let admin = GroupAdmin::new(client.cluster().clone());
    client
        .admin()
        .create_topic(TOPIC, PARTITIONS, 1, &[])
        .await
        .expect("create topic");
    produce(&client, TOPIC, PARTITIONS, 10).await;
    consume_n(&client, config("billing", TOPIC), 60).await;
    // Produced after the group committed: 3 on each partition = the lag.
    produce(&client, TOPIC, PARTITIONS, 3).await;

    let described = json(
        &groups(addr, &["describe", "billing", "--json"])
            .await
            .expect("describe"),
    );
    assert_eq!(described["group"]["state"], "Empty");
    let partitions = described["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 6);
    for (i, p) in partitions.iter().enumerate() {
        assert_eq!(p["topic"], TOPIC);
        assert_eq!(p["partition"], i);
        assert_eq!(p["current_offset"], 10);
        assert_eq!(p["log_end_offset"], 13);
        assert_eq!(p["lag"], 3);
        assert!(p["member_id"].is_null());
    }
    let table = groups(addr, &["describe", "billing"])
        .await
        .expect("describe");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 7, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ]
    );
    let row: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(row, ["billing", TOPIC, "2", "10", "13", "3", "-", "-", "-"]);

    let listed = json(&groups(addr, &["list", "--json"]).await.expect("list"));
    let ids: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|g| g["group_id"].as_str())
        .collect();
    assert_eq!(ids, ["billing"]);

    // Dry run: a plan, and nothing moves.
    let plan = groups(
        addr,
        &[
            "reset-offsets",
            "billing",
            "--topic",
            TOPIC,
            "--to-earliest",
        ],
    )
    .await
    .expect("dry run");
    let rows: Vec<Vec<&str>> = plan
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    assert_eq!(rows[1], ["billing", TOPIC, "0", "0"]);
    assert_eq!(rows.len(), 7);
    let committed = admin.committed_offsets("billing").await.expect("offsets");
    assert!(committed.values().all(|c| c.offset == 10), "{committed:?}");

    // Shift back by 4 on two partitions, executed.
    let plan = json(
        &groups(
            addr,
            &[
                "reset-offsets",
                "billing",
                "--topic",
                &format!("{TOPIC}:1,4"),
                "--shift-by",
                "-4",
                "--execute",
                "--json",
            ],
        )
        .await
        .expect("shift"),
    );
    assert_eq!(plan["executed"], true);
    let moved: Vec<(i64, i64)> = plan["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            (
                p["partition"].as_i64().unwrap_or(-1),
                p["new_offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(moved, [(1, 6), (4, 6)]);
    // The next member reads from there: 7 on partitions 1 and 4, 3 elsewhere.
    let read = consume_n(&client, config("billing", TOPIC), 2 * 7 + 4 * 3).await;
    assert_eq!(read[&1], (6..13).collect::<Vec<i64>>());
    assert_eq!(read[&4], (6..13).collect::<Vec<i64>>());
    assert_eq!(read[&0], vec![10, 11, 12]);

    // --to-offset beyond the end is moved to the end; earliest executed.
    let plan = json(
        &groups(
            addr,
            &[
                "reset-offsets",
                "billing",
                "--topic",
                TOPIC,
                "--to-offset",
                "1000",
                "--json",
            ],
        )
        .await
        .expect("to offset"),
    );
    assert!(
        plan["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .all(|p| p["new_offset"] == 13)
    );
    groups(
        addr,
        &[
            "reset-offsets",
            "billing",
            "--topic",
            TOPIC,
            "--to-earliest",
            "--execute",
        ],
    )
    .await
    .expect("to earliest");
    let committed = admin.committed_offsets("billing").await.expect("offsets");
    assert_eq!(committed.len(), 6);
    assert!(committed.values().all(|c| c.offset == 0), "{committed:?}");

    // An active group can be neither reset nor deleted.
    let member = GroupConsumer::join(&client, config("billing", TOPIC))
        .await
        .expect("join");
    let running = Running::start(member);
    let err = groups(
        addr,
        &[
            "reset-offsets",
            "billing",
            "--topic",
            TOPIC,
            "--to-latest",
            "--execute",
        ],
    )
    .await
    .expect_err("active group");
    assert!(
        format!("{err:#}").contains("it has active members"),
        "{err:#}"
    );
    let err = groups(addr, &["delete", "billing"])
        .await
        .expect_err("non-empty");
    assert!(format!("{err:#}").contains("NON_EMPTY_GROUP"), "{err:#}");
    let described = json(
        &groups(addr, &["describe", "billing", "--json"])
            .await
            .expect("describe"),
    );
    assert_eq!(described["group"]["state"], "Stable");
    assert_eq!(
        described["group"]["members"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        described["partitions"]
            .as_array()
            .expect("rows")
            .iter()
            .all(|p| p["member_id"].is_string())
    );
    running.stop().await.close().await.expect("close");

    groups(addr, &["delete", "billing"]).await.expect("delete");
    let err = groups(addr, &["describe", "billing"])
        .await
        .expect_err("gone");
    assert!(format!("{err:#}").contains("GROUP_ID_NOT_FOUND"), "{err:#}");
    let err = groups(addr, &["delete", "billing"])
        .await
        .expect_err("gone");
    assert!(format!("{err:#}").contains("GROUP_ID_NOT_FOUND"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_to_datetime() {
    let broker = start_broker();
    let addr = broker.addr.as_str();
    let client = Client::connect(addr).await.expect("connect");
    client
        .admin()
        .create_topic("timed", 1, 1, &[])
        .await
        .expect("create");
    let producer = client.producer(runnel::client::ProducerConfig::default());
    let mut handles = Vec::new();
    for i in 0..5i64 {
        let record = runnel::client::ProducerRecord {
            topic: "timed".into(),
            partition: Some(0),
            value: Some(format!("{i}").into()),
            // 2026-01-01T00:00:00Z plus i minutes.
            timestamp: Some(1_767_225_600_000 + i * 60_000),
            ..Default::default()
        };
        handles.push(producer.send(record).await.expect("send"));
    }
    producer.flush().await.expect("flush");
    for h in handles {
        h.wait().await.expect("written");
    }
    let new_offset = |text: String| json(&text)["partitions"][0]["new_offset"].clone();
    let at = |ts: &'static str| {
        [
            "reset-offsets",
            "g",
            "--topic",
            "timed",
            "--to-datetime",
            ts,
            "--json",
        ]
    };
    assert_eq!(
        new_offset(
            groups(addr, &at("2026-01-01T00:02:00Z"))
                .await
                .expect("reset")
        ),
        2
    );
    assert_eq!(
        new_offset(
            groups(addr, &at("2026-01-01T01:01:30+01:00"))
                .await
                .expect("reset")
        ),
        2
    );
    assert_eq!(
        new_offset(groups(addr, &at("1767225600001")).await.expect("reset")),
        1
    );
    assert_eq!(
        new_offset(groups(addr, &at("1767225600000")).await.expect("reset")),
        0
    );
    assert_eq!(
        new_offset(
            groups(addr, &at("2027-01-01T00:00:00Z"))
                .await
                .expect("reset")
        ),
        5
    );
    let err = groups(
        addr,
        &["reset-offsets", "g", "--topic", "timed", "--shift-by", "1"],
    )
    .await
    .expect_err("no committed offset to shift");
    assert!(
        format!("{err:#}").contains("has no committed offset"),
        "{err:#}"
    );
    let err = groups(addr, &["reset-offsets", "g", "--topic", "timed"])
        .await
        .expect_err("no target");
    assert!(err.to_string().contains("--to-earliest"), "{err}");
}

//! `runnel groups`: list, describe, reset the offsets of, and delete consumer
//! groups on a broker, like `kafka-consumer-groups.sh` and `rpk group`.

mod direct;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use comfy_table::Table;
use serde::Serialize;

use super::output::{or_dash, table, write_json, write_table};
use crate::client::Client;
use crate::client::group::{GroupAdmin, GroupOffsets, PlannedOffset, ResetSpec};

/// Default bootstrap broker.
const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// Long help of the subcommand.
pub const LONG_ABOUT: &str = "\
List, describe, reset the offsets of, and delete consumer groups on a broker (runnel serve or
any Kafka cluster), like kafka-consumer-groups.sh.

describe shows, for every partition the group consumes or has committed offsets for, the
committed offset (CURRENT-OFFSET), the partition's log end offset, the lag between them, and
the member that owns the partition. '-' marks what is not there: no committed offset, or no
member assigned.

With -d DIR, list and describe read the groups a data directory keeps in __consumer_offsets
(committed by runnel serve, or by runnel consume -d DIR -g GROUP), without a broker; no member
is shown then, and COORDINATOR is -1.

reset-offsets is a dry run unless --execute is given: it prints the offsets the group would be
moved to and changes nothing. Executing needs the group inactive (no running consumer), as in
Kafka; stop the consumers first.

Output is a table for people; --json prints JSON for scripts:

    groups list --json        [{\"group_id\": \"g\", \"protocol_type\": \"consumer\",
                                \"state\": \"Stable\", \"coordinator\": 0}, ...]
    groups describe --json    {\"group\": {\"group_id\": \"g\", \"state\": \"Stable\",
                                \"protocol\": \"range\", \"members\": [...]},
                               \"partitions\": [{\"topic\": \"t\", \"partition\": 0,
                                \"current_offset\": 40, \"log_end_offset\": 42, \"lag\": 2,
                                \"member_id\": ..., \"client_id\": ..., \"host\": ...}, ...]}
    groups reset-offsets --json
                              {\"group\": \"g\", \"executed\": false, \"partitions\":
                                [{\"topic\": \"t\", \"partition\": 0, \"current_offset\": 40,
                                  \"new_offset\": 0}, ...]}";

/// Examples shown after the long help.
pub const AFTER_HELP: &str = "\
EXAMPLES:
    runnel groups list
    runnel groups describe billing
    runnel groups describe billing --json | jq '[.partitions[].lag] | add'
    runnel groups describe billing -d /var/lib/runnel
    runnel groups reset-offsets billing --topic events --to-earliest
    runnel groups reset-offsets billing --topic events:0,1 --shift-by -100 --execute
    runnel groups reset-offsets billing --topic events --to-datetime 2026-01-01T00:00:00Z --execute
    runnel groups delete billing";

/// Arguments of `runnel groups`.
#[derive(Debug, clap::Args)]
pub struct GroupsArgs {
    /// Bootstrap brokers to talk to, comma-separated.
    ///
    /// Any Kafka-protocol broker works (runnel serve, Apache Kafka, Redpanda...).
    #[arg(
        short = 'b',
        long,
        env = "RUNNEL_BROKERS",
        value_name = "HOST:PORT[,...]",
        default_value = DEFAULT_BROKERS,
        global = true
    )]
    pub brokers: String,

    /// Read the groups of this data directory instead of asking a broker
    /// (list and describe; no lock is taken, so a broker may be running on it).
    #[arg(
        short = 'd',
        long,
        env = "RUNNEL_DATA_DIR",
        value_name = "DIR",
        global = true
    )]
    pub data_dir: Option<PathBuf>,

    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    /// The groups subcommand.
    #[command(subcommand)]
    pub command: GroupsCommand,
}

/// The subcommands of `runnel groups`.
#[derive(Debug, clap::Subcommand)]
pub enum GroupsCommand {
    /// List the consumer groups of the cluster with their states.
    List,
    /// Show a group's members and, per partition, committed offset, log end offset and lag.
    Describe {
        /// Group id.
        group: String,
    },
    /// Move a group's committed offsets (a dry run unless --execute).
    #[command(long_about = RESET_LONG_ABOUT)]
    ResetOffsets(ResetOffsetsArgs),
    /// Delete a group and its committed offsets (the group must have no members).
    Delete {
        /// Group id.
        group: String,
    },
}

const RESET_LONG_ABOUT: &str = "\
Move a group's committed offsets for the partitions of a topic, so that its consumers start
there next time. Without --execute this is a dry run: the plan is printed and nothing changes.
With --execute the offsets are committed; the group must be inactive (no running consumer).

Offsets given with --to-offset or reached with --shift-by are moved into the partition's
range (log start offset to log end offset), as Kafka does.";

/// Arguments of `runnel groups reset-offsets`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("target")
        .required(true)
        .args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by"])
))]
pub struct ResetOffsetsArgs {
    /// Group id.
    pub group: String,

    /// Topic whose offsets to reset, optionally with partitions: TOPIC or
    /// TOPIC:0,1,2 (repeatable).
    #[arg(
        long,
        value_name = "TOPIC[:P,...]",
        required_unless_present = "all_topics"
    )]
    pub topic: Vec<String>,

    /// Reset every topic the group has committed offsets for.
    #[arg(long, conflicts_with = "topic")]
    pub all_topics: bool,

    /// To the first offset still in each partition's log.
    #[arg(long)]
    pub to_earliest: bool,

    /// To the end of each partition's log (skip everything there now).
    #[arg(long)]
    pub to_latest: bool,

    /// To this offset.
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,

    /// To the first record at or after this time: ISO-8601
    /// (2026-01-01T00:00:00Z, 2026-01-01T00:00:00.000+02:00; local time
    /// without a zone, as kafka-consumer-groups.sh) or milliseconds since the epoch.
    #[arg(long, value_name = "TIME", value_parser = parse_datetime)]
    pub to_datetime: Option<i64>,

    /// Move each committed offset by N (negative: back).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub shift_by: Option<i64>,

    /// Commit the new offsets (without it, only print the plan).
    #[arg(long)]
    pub execute: bool,

    /// Only print the plan (the default; kept for kafka-consumer-groups.sh users).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
}

impl ResetOffsetsArgs {
    fn spec(&self) -> anyhow::Result<ResetSpec> {
        Ok(if self.to_earliest {
            ResetSpec::Earliest
        } else if self.to_latest {
            ResetSpec::Latest
        } else if let Some(n) = self.to_offset {
            ResetSpec::Offset(n)
        } else if let Some(ts) = self.to_datetime {
            ResetSpec::Datetime(ts)
        } else if let Some(n) = self.shift_by {
            ResetSpec::ShiftBy(n)
        } else {
            bail!(
                "one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by is required"
            )
        })
    }
}

/// Runs `runnel groups`, printing to stdout.
pub fn run(args: GroupsArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut out = std::io::stdout().lock();
    runtime.block_on(run_to(args, &mut out))
}

/// Runs `runnel groups`, writing its output to `out` (notes go to stderr).
pub async fn run_to(args: GroupsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(dir) = &args.data_dir {
        return run_direct(dir, &args, out);
    }
    let client = Client::connect(&args.brokers).await?;
    let admin = GroupAdmin::new(client.cluster().clone());
    match args.command {
        GroupsCommand::List => {
            let groups = admin.list_groups().await?;
            if args.json {
                return write_json(out, &groups);
            }
            Ok(write_table(out, &list_table(&groups))?)
        }
        GroupsCommand::Describe { group } => {
            let offsets = admin.describe_offsets(&group).await?;
            write_description(out, &offsets, args.json)
        }
        GroupsCommand::ResetOffsets(reset) => {
            let spec = reset.spec()?;
            let targets = reset_targets(&admin, &reset).await?;
            let mut plan: Vec<PlannedOffset> = Vec::new();
            for (topic, partitions) in &targets {
                plan.extend(
                    admin
                        .reset_offsets(
                            &reset.group,
                            topic,
                            partitions.as_deref(),
                            spec,
                            reset.execute,
                        )
                        .await
                        .with_context(|| format!("reset offsets of group {}", reset.group))?,
                );
            }
            if args.json {
                #[derive(Serialize)]
                struct Plan<'a> {
                    group: &'a str,
                    executed: bool,
                    partitions: &'a [PlannedOffset],
                }
                return write_json(
                    out,
                    &Plan {
                        group: &reset.group,
                        executed: reset.execute,
                        partitions: &plan,
                    },
                );
            }
            let mut t = table(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], &[2, 3]);
            for p in &plan {
                t.add_row(vec![
                    reset.group.clone(),
                    p.topic.clone(),
                    p.partition.to_string(),
                    p.new_offset.to_string(),
                ]);
            }
            write_table(out, &t)?;
            if !reset.execute {
                eprintln!("Dry run: nothing changed. Add --execute to commit these offsets.");
            }
            Ok(())
        }
        GroupsCommand::Delete { group } => Ok(admin.delete_group(&group).await?),
    }
}

/// `groups list|describe -d DIR`: the groups a data directory keeps.
fn run_direct(dir: &std::path::Path, args: &GroupsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match &args.command {
        GroupsCommand::List => {
            let groups = direct::list(dir)?;
            if args.json {
                return write_json(out, &groups);
            }
            Ok(write_table(out, &list_table(&groups))?)
        }
        GroupsCommand::Describe { group } => {
            write_description(out, &direct::describe(dir, group)?, args.json)
        }
        GroupsCommand::ResetOffsets(_) | GroupsCommand::Delete { .. } => bail!(
            "reset-offsets and delete need a broker (-b); in a data directory only list and describe work"
        ),
    }
}

/// The `list` table.
fn list_table(groups: &[crate::client::group::GroupListing]) -> Table {
    let mut t = table(&["GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"], &[3]);
    for g in groups {
        t.add_row(vec![
            g.group_id.clone(),
            or_dash(g.state.as_deref()),
            or_dash(Some(g.protocol_type.as_str()).filter(|p| !p.is_empty())),
            g.coordinator.to_string(),
        ]);
    }
    t
}

/// Prints `describe`'s table (with a note on stderr for a group without
/// members) or JSON.
fn write_description(
    out: &mut dyn Write,
    offsets: &GroupOffsets,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return write_json(out, offsets);
    }
    if offsets.group.members.is_empty() {
        eprintln!(
            "Consumer group '{}' has no active members (state {}).",
            offsets.group.group_id, offsets.group.state
        );
    }
    Ok(write_table(out, &describe_table(offsets))?)
}

/// The topics (with optional partition lists) `reset-offsets` works on.
async fn reset_targets(
    admin: &GroupAdmin,
    reset: &ResetOffsetsArgs,
) -> anyhow::Result<Vec<(String, Option<Vec<i32>>)>> {
    if reset.all_topics {
        let committed = admin.committed_offsets(&reset.group).await?;
        let mut topics: Vec<String> = committed.keys().map(|(t, _)| t.clone()).collect();
        topics.dedup();
        if topics.is_empty() {
            bail!(
                "group {} has no committed offsets; name the topics with --topic",
                reset.group
            );
        }
        return Ok(topics.into_iter().map(|t| (t, None)).collect());
    }
    reset
        .topic
        .iter()
        .map(|t| parse_topic_partitions(t).map_err(anyhow::Error::msg))
        .collect()
}

/// Parses `TOPIC` or `TOPIC:P,P,...`.
pub fn parse_topic_partitions(s: &str) -> Result<(String, Option<Vec<i32>>), String> {
    let (topic, partitions) = match s.split_once(':') {
        None => (s, None),
        Some((topic, list)) => {
            let parts = list
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| format!("invalid partition '{p}' in '{s}'"))
                })
                .collect::<Result<Vec<i32>, String>>()?;
            (topic, Some(parts))
        }
    };
    if topic.is_empty() {
        return Err(format!("no topic name in '{s}'"));
    }
    Ok((topic.to_string(), partitions))
}

/// The `describe` table: one row per partition, then members without partitions.
fn describe_table(offsets: &GroupOffsets) -> Table {
    let group = &offsets.group.group_id;
    let mut t = table(
        &[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ],
        &[2, 3, 4, 5],
    );
    for p in &offsets.partitions {
        t.add_row(vec![
            group.clone(),
            p.topic.clone(),
            p.partition.to_string(),
            or_dash(p.current_offset),
            or_dash(p.log_end_offset),
            or_dash(p.lag),
            or_dash(p.member_id.as_deref()),
            or_dash(p.host.as_deref()),
            or_dash(p.client_id.as_deref()),
        ]);
    }
    for m in offsets
        .group
        .members
        .iter()
        .filter(|m| m.assignment.is_empty())
    {
        t.add_row(vec![
            group.clone(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            m.member_id.clone(),
            m.host.clone(),
            m.client_id.clone(),
        ]);
    }
    t
}

/// Parses `--to-datetime`: milliseconds since the epoch, or ISO-8601
/// `YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM|±HHMM]` (local time without a zone).
pub fn parse_datetime(s: &str) -> Result<i64, String> {
    let invalid = || {
        format!(
            "invalid time '{s}': expected ISO-8601 like 2026-01-01T00:00:00Z or milliseconds since the epoch"
        )
    };
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let (date, time) = s.split_once(['T', ' ']).ok_or_else(invalid)?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (Some(Some(year)), Some(Some(month)), Some(Some(day))) = (d.next(), d.next(), d.next())
    else {
        return Err(invalid());
    };
    // Split the zone off the time of day.
    let (clock, zone) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, Some(0))
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, z) = time.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
        let hours: i64 = digits[..2].parse().map_err(|_| invalid())?;
        let minutes: i64 = digits[2..].parse().map_err(|_| invalid())?;
        (c, Some(sign * (hours * 3600 + minutes * 60)))
    } else {
        (time, None)
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, f),
        None => (clock, ""),
    };
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (Some(Some(hour)), Some(Some(minute))) = (t.next(), t.next()) else {
        return Err(invalid());
    };
    let second = match t.next() {
        None => 0,
        Some(Some(s)) => s,
        Some(None) => return Err(invalid()),
    };
    if t.next().is_some() || !fraction.chars().all(|c| c.is_ascii_digit()) || fraction.len() > 9 {
        return Err(invalid());
    }
    let millis = format!("{fraction:0<3}")[..3]
        .parse::<i64>()
        .map_err(|_| invalid())?;
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..60).contains(&second);
    if !valid {
        return Err(invalid());
    }
    let local_seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let offset = match zone {
        Some(offset) => offset,
        None => local_utc_offset(local_seconds),
    };
    Ok((local_seconds - offset) * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The local zone's offset from UTC (seconds) around the wall-clock time
/// `local_seconds` (seconds since the epoch as if it were UTC).
fn local_utc_offset(local_seconds: i64) -> i64 {
    let t: libc::time_t = local_seconds;
    // SAFETY: localtime_r only writes the `tm` we own (it reads TZ itself).
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_definition_is_valid() {
        use clap::Args;
        GroupsArgs::augment_args(clap::Command::new("groups")).debug_assert();
    }

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("1767225600000"), Ok(1_767_225_600_000));
        assert_eq!(
            parse_datetime("2026-01-01T00:00:00Z"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(
            parse_datetime("2026-01-01T00:00:00.250Z"),
            Ok(1_767_225_600_250)
        );
        assert_eq!(
            parse_datetime("2026-01-01T02:00:00+02:00"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(
            parse_datetime("2025-12-31T23:00:00-0100"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(parse_datetime("1970-01-01T00:00:00.5Z"), Ok(500));
        assert_eq!(parse_datetime("2024-02-29T12:00Z"), Ok(1_709_208_000_000));
        assert!(parse_datetime("2026-02-30T00:00:00Z").is_err());
        assert!(parse_datetime("2026-01-01").is_err());
        assert!(parse_datetime("yesterday").is_err());
        assert!(parse_datetime("2026-01-01T25:00:00Z").is_err());
    }

    #[test]
    fn topic_partition_lists() {
        assert_eq!(parse_topic_partitions("t"), Ok(("t".into(), None)));
        assert_eq!(
            parse_topic_partitions("a.b:0, 2"),
            Ok(("a.b".into(), Some(vec![0, 2])))
        );
        assert!(parse_topic_partitions("t:x").is_err());
        assert!(parse_topic_partitions("t:-1").is_err());
        assert!(parse_topic_partitions(":1").is_err());
    }
}

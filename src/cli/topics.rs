//! `runnel topics`: create, list, describe, alter and delete topics.

use super::backend::{NewTopic, TopicDescription, TopicStore};
use super::connect::{Access, ConnectArgs};
use super::output::{human_bytes, or_dash, print_json, print_table, table};
use std::io::Write;

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Create, list, describe, alter and delete topics, on a broker (-b) or directly in a data
directory (-d).

Topic names follow Kafka's rules: letters, digits, '.', '_' and '-', at most 249 characters,
not '.' or '..'. Configs use Kafka's topic config names (cleanup.policy, retention.ms,
retention.bytes, segment.bytes, segment.ms, max.message.bytes, delete.retention.ms,
min.cleanable.dirty.ratio, message.timestamp.type, ...).

Output is a table for people; --json prints JSON for scripts:

    topics list --json       [{\"name\": \"t\", \"partitions\": 3}, ...]
    topics describe --json   {\"name\": \"t\", \"id\": \"<uuid>\" or null,
                              \"partitions\": [{\"partition\": 0, \"log_start_offset\": 0,
                                \"log_end_offset\": 42, \"size_bytes\": 4711 or null,
                                \"segments\": 1 or null}, ...],
                              \"configs\": {\"cleanup.policy\": \"compact\", ...}}

null (or '-' in tables) marks what a broker does not tell. Only configs set on the topic
are listed, not defaults. create, alter and delete print nothing on success.";

/// Examples shown after the long help.
pub(crate) const AFTER_HELP: &str = "\
EXAMPLES:
    runnel topics create events -p 6 -c retention.ms=86400000
    runnel topics create users -c cleanup.policy=compact -d ./data
    runnel topics list
    runnel topics describe events --json | jq '.partitions[].log_end_offset'
    runnel topics alter events -c retention.ms=-1 --delete-config segment.ms
    runnel topics delete events";

/// Arguments of `runnel topics`.
#[derive(Debug, clap::Args)]
pub struct TopicsArgs {
    /// Where the topics are.
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    /// The topics subcommand.
    #[command(subcommand)]
    pub command: TopicsCommand,
}

/// The subcommands of `runnel topics`.
#[derive(Debug, clap::Subcommand)]
pub enum TopicsCommand {
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Number of partitions [default: 1 in a data directory, the broker's
        /// num.partitions otherwise].
        #[arg(short, long, value_name = "N")]
        partitions: Option<i32>,
        /// Replication factor [default: the broker's default.replication.factor;
        /// a data directory has one replica].
        #[arg(short, long, value_name = "N")]
        replication_factor: Option<i16>,
        /// Topic config, e.g. cleanup.policy=compact (repeatable).
        #[arg(short, long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
    /// List topics with their partition counts.
    List,
    /// Show a topic's partitions (log start/end offsets, size, segments) and configs.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Set or remove topic configs.
    Alter {
        /// Topic name.
        name: String,
        /// Config to set, e.g. retention.ms=3600000 (repeatable).
        #[arg(short, long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Config to remove, going back to its default (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
    },
    /// Delete a topic and all its data.
    Delete {
        /// Topic name.
        name: String,
    },
}

/// Parses `key=value` (the value may contain `=`; the key may not be empty).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{s}'")),
    }
}

/// Runs `runnel topics`.
pub fn run(args: TopicsArgs) -> anyhow::Result<()> {
    let access = match args.command {
        TopicsCommand::List | TopicsCommand::Describe { .. } => Access::Read,
        TopicsCommand::Create { .. } => Access::Create,
        _ => Access::Write,
    };
    let mut backend = args.connect.open(access)?;
    let result = run_command(backend.topics(), args.command, args.json);
    // Close even after an error, so the data directory is left clean.
    let closed = backend.close();
    result.and(closed)
}

fn run_command(
    store: &mut dyn TopicStore,
    command: TopicsCommand,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        TopicsCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => store.create_topic(&NewTopic {
            name,
            partitions,
            replication_factor,
            configs: configs.into_iter().collect(),
        }),
        TopicsCommand::List => {
            let mut topics = store.list_topics()?;
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            if json {
                return print_json(&topics);
            }
            let mut t = table(&["NAME", "PARTITIONS"], &[1]);
            for topic in &topics {
                t.add_row(vec![topic.name.clone(), topic.partitions.to_string()]);
            }
            Ok(print_table(&t)?)
        }
        TopicsCommand::Describe { name } => {
            let topic = store.describe_topic(&name)?;
            if json {
                return print_json(&topic);
            }
            print_description(&topic)
        }
        TopicsCommand::Alter {
            name,
            configs,
            delete_configs,
        } => {
            if configs.is_empty() && delete_configs.is_empty() {
                anyhow::bail!("nothing to alter: give -c KEY=VALUE or --delete-config KEY");
            }
            store.alter_topic(&name, &configs.into_iter().collect(), &delete_configs)
        }
        TopicsCommand::Delete { name } => store.delete_topic(&name),
    }
}

/// Prints `topics describe` for people: a header, the partition table, the configs.
fn print_description(topic: &TopicDescription) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "NAME        {}", topic.name)?;
    writeln!(out, "ID          {}", or_dash(topic.id.as_ref()))?;
    writeln!(out, "PARTITIONS  {}", topic.partitions.len())?;
    writeln!(out)?;
    let mut t = table(
        &[
            "PARTITION",
            "LOG-START-OFFSET",
            "LOG-END-OFFSET",
            "SIZE",
            "SEGMENTS",
        ],
        &[0, 1, 2, 3, 4],
    );
    for p in &topic.partitions {
        let offset = |o: i64| {
            if p.offline {
                "offline".to_string()
            } else {
                o.to_string()
            }
        };
        t.add_row(vec![
            p.partition.to_string(),
            offset(p.log_start_offset),
            offset(p.log_end_offset),
            or_dash(p.size_bytes.map(human_bytes)),
            or_dash(p.segments),
        ]);
    }
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out)?;
    if topic.configs.is_empty() {
        writeln!(out, "CONFIGS     (none set; Kafka's defaults apply)")?;
    } else {
        let mut t = table(&["CONFIG", "VALUE"], &[]);
        for (key, value) in &topic.configs {
            t.add_row(vec![key.clone(), value.clone()]);
        }
        for line in t.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    out.flush()?;
    Ok(())
}

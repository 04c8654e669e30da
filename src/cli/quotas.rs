//! `runnel quotas`: describe and alter client quotas (Kafka's
//! `kafka-configs --entity-type users/clients`), on a broker (-b, any
//! Kafka cluster, through DescribeClientQuotas/AlterClientQuotas) or
//! offline in a data directory (-d, the same validation through the
//! broker's own handlers on its `client-quotas.json`).

use super::connect::ConnectArgs;
use super::output::{print_json, print_table, table};
use crate::broker::handlers::client_quotas;
use crate::broker::quota::{ClientQuotas, QuotaType};
use crate::client::quotas::{self as q, Entity, Match, QuotaEntry};
use anyhow::Context;
use std::collections::BTreeMap;

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Describe and alter client quotas (KIP-13, KIP-124, KIP-546) on a broker (-b; runnel or any
Kafka cluster) or offline in a stopped broker's data directory (-d).

A quota entity is a user, a client id, or both; --default TYPE names the <default> entity of
that type (user or client-id). For each quota, the broker uses the first entity that sets it,
in Kafka's order: user+client-id, user+<default> client-id, user, <default> user+client-id,
<default> user+<default> client-id, <default> user, client-id, <default> client-id.
Until authentication exists every connection's user is ANONYMOUS.

Quotas: producer_byte_rate and consumer_byte_rate (bytes per second), request_percentage
(percent of one request thread's time), controller_mutation_rate (partitions created or
deleted per second). A client over its quota gets its response with throttle_time_ms and is
not read from until that time has passed.

describe with no entity lists every entity; with entity options it lists the entities having
those components (--strict: and no other). --json prints
[{\"entity\": {\"user\": \"alice\", \"client-id\": null}, \"quotas\": {\"producer_byte_rate\": 1048576}}]
where null is <default>.";

/// Examples shown after the long help.
pub(crate) const AFTER_HELP: &str = "\
EXAMPLES:
    runnel quotas alter --client-id loader --producer-byte-rate 1048576
    runnel quotas alter --default client-id --consumer-byte-rate 10485760
    runnel quotas alter --user alice --default client-id --request-percentage 50
    runnel quotas alter --client-id loader --delete producer_byte_rate
    runnel quotas describe
    runnel quotas describe --client-id loader --json
    runnel quotas alter -d ./data --default user --producer-byte-rate 5000000";

/// Arguments of `runnel quotas`.
#[derive(Debug, clap::Args)]
pub struct QuotasArgs {
    /// Where the quotas are.
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    /// The quotas subcommand.
    #[command(subcommand)]
    pub command: QuotasCommand,
}

/// The entity options shared by describe and alter.
#[derive(Debug, Clone, clap::Args)]
pub struct EntityArgs {
    /// The user (principal name; ANONYMOUS for unauthenticated clients).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The client id.
    #[arg(long = "client-id", value_name = "ID")]
    pub client_id: Option<String>,
    /// The <default> entity of this type: user or client-id (repeatable).
    #[arg(long = "default", value_name = "TYPE", value_parser = ["user", "client-id"])]
    pub defaults: Vec<String>,
}

impl EntityArgs {
    /// The entity components given, `None` names being `<default>`.
    fn components(&self) -> anyhow::Result<Entity> {
        let mut e: Entity = Vec::new();
        if let Some(u) = &self.user {
            e.push(("user".into(), Some(u.clone())));
        }
        if let Some(c) = &self.client_id {
            e.push(("client-id".into(), Some(c.clone())));
        }
        for d in &self.defaults {
            if e.iter().any(|(t, _)| t == d) {
                anyhow::bail!("--default {d} names the {d} entity a second time");
            }
            e.push((d.clone(), None));
        }
        Ok(e)
    }
}

/// The subcommands of `runnel quotas`.
#[derive(Debug, clap::Subcommand)]
pub enum QuotasCommand {
    /// List entities and their quotas.
    Describe {
        /// Which entities.
        #[command(flatten)]
        entity: EntityArgs,
        /// Only entities with exactly the components given.
        #[arg(long)]
        strict: bool,
    },
    /// Set or remove quotas of one entity.
    Alter {
        /// Which entity.
        #[command(flatten)]
        entity: EntityArgs,
        /// producer_byte_rate: produce bytes per second.
        #[arg(long, value_name = "BYTES")]
        producer_byte_rate: Option<f64>,
        /// consumer_byte_rate: fetch bytes per second.
        #[arg(long, value_name = "BYTES")]
        consumer_byte_rate: Option<f64>,
        /// request_percentage: percent of one request thread's time.
        #[arg(long, value_name = "PERCENT")]
        request_percentage: Option<f64>,
        /// controller_mutation_rate: partitions created or deleted per second.
        #[arg(long, value_name = "RATE")]
        controller_mutation_rate: Option<f64>,
        /// Quota to remove, e.g. producer_byte_rate (repeatable).
        #[arg(long = "delete", value_name = "QUOTA")]
        delete: Vec<String>,
        /// Only check the alteration (validate_only); change nothing.
        #[arg(long)]
        validate_only: bool,
    },
}

/// Runs `runnel quotas`.
pub fn run(args: QuotasArgs) -> anyhow::Result<()> {
    match args.command {
        QuotasCommand::Describe { entity, strict } => {
            let components: Vec<(String, Match)> = entity
                .components()?
                .into_iter()
                .map(|(t, n)| (t, n.map_or(Match::Default, Match::Exact)))
                .collect();
            let entries = match &args.connect.data_dir {
                Some(dir) => {
                    let quotas = open_offline(dir)?;
                    let req = q::describe_request(&components, strict);
                    q::describe_entries(client_quotas::describe(&quotas, &req))?
                }
                None => {
                    let backend = super::broker::BrokerBackend::connect(&args.connect.brokers)?;
                    backend.block_on(q::describe_client_quotas(
                        backend.client().cluster(),
                        &components,
                        strict,
                    ))?
                }
            };
            print_entries(entries, args.json)
        }
        QuotasCommand::Alter {
            entity,
            producer_byte_rate,
            consumer_byte_rate,
            request_percentage,
            controller_mutation_rate,
            delete,
            validate_only,
        } => {
            let entity = entity.components()?;
            if entity.is_empty() {
                anyhow::bail!("no entity: give --user, --client-id and/or --default TYPE");
            }
            let mut ops: Vec<(String, Option<f64>)> = [
                (QuotaType::Produce, producer_byte_rate),
                (QuotaType::Fetch, consumer_byte_rate),
                (QuotaType::Request, request_percentage),
                (QuotaType::ControllerMutation, controller_mutation_rate),
            ]
            .into_iter()
            .filter_map(|(t, v)| v.map(|v| (t.key().to_string(), Some(v))))
            .collect();
            ops.extend(delete.into_iter().map(|k| (k, None)));
            if ops.is_empty() {
                anyhow::bail!(
                    "nothing to alter: give a quota (e.g. --producer-byte-rate) or --delete QUOTA"
                );
            }
            match &args.connect.data_dir {
                Some(dir) => {
                    // The directory lock keeps a running broker from
                    // having its quotas changed under it.
                    let lock = crate::log::DataDir::open(dir, false)
                        .with_context(|| format!("cannot open {} for writing", dir.display()))?;
                    let quotas = open_offline(dir)?;
                    let resp = client_quotas::alter(
                        &quotas,
                        q::alter_request(&entity, &ops, validate_only),
                    );
                    let result = q::alter_result(&resp);
                    lock.close()?;
                    result?;
                }
                None => {
                    let backend = super::broker::BrokerBackend::connect(&args.connect.brokers)?;
                    backend.block_on(q::alter_client_quotas(
                        backend.client().cluster(),
                        &entity,
                        &ops,
                        validate_only,
                    ))?;
                }
            }
            Ok(())
        }
    }
}

fn open_offline(dir: &std::path::Path) -> anyhow::Result<ClientQuotas> {
    if !dir.is_dir() {
        anyhow::bail!("data directory {} does not exist", dir.display());
    }
    Ok(ClientQuotas::open(dir, Default::default())?)
}

#[derive(serde::Serialize)]
struct JsonEntry {
    entity: BTreeMap<String, Option<String>>,
    quotas: BTreeMap<String, serde_json::Value>,
}

/// A quota value as JSON: integral values as integers.
fn json_value(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

fn text_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn print_entries(mut entries: Vec<QuotaEntry>, json: bool) -> anyhow::Result<()> {
    for e in &mut entries {
        e.entity.sort_by(|a, b| b.0.cmp(&a.0));
    }
    entries.sort_by(|a, b| a.entity.cmp(&b.entity));
    if json {
        let out: Vec<JsonEntry> = entries
            .into_iter()
            .map(|e| JsonEntry {
                entity: e.entity.into_iter().collect(),
                quotas: e
                    .values
                    .into_iter()
                    .map(|(k, v)| (k, json_value(v)))
                    .collect(),
            })
            .collect();
        return print_json(&out);
    }
    let mut keys: Vec<String> = QuotaType::ALL.iter().map(|t| t.key().to_string()).collect();
    for e in &entries {
        for k in e.values.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let mut headers = vec!["USER".to_string(), "CLIENT-ID".to_string()];
    headers.extend(keys.iter().map(|k| k.to_uppercase()));
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let numeric: Vec<usize> = (2..headers.len()).collect();
    let mut t = table(&header_refs, &numeric);
    for e in &entries {
        let name = |ty: &str| match e.entity.iter().find(|(t, _)| t == ty) {
            None => "-".to_string(),
            Some((_, None)) => "<default>".to_string(),
            Some((_, Some(n))) => n.clone(),
        };
        let mut row = vec![name("user"), name("client-id")];
        if let Some((_, ip)) = e.entity.iter().find(|(t, _)| t == "ip") {
            row[0] = format!("ip={}", ip.as_deref().unwrap_or("<default>"));
        }
        for k in &keys {
            row.push(e.values.get(k).map_or("-".to_string(), |v| text_value(*v)));
        }
        t.add_row(row);
    }
    Ok(print_table(&t)?)
}

//! `runnel serve`: run the broker.

use crate::broker::config::{BrokerConfig, parse_properties, read_properties_file};
use crate::broker::server::Server;
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Options of `runnel serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9092, or `listeners` from the config file]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Host and port clients are told to connect to [default: the listen address]
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_listener: Option<String>,

    /// Data directory (created if missing) [default: ./runnel-data, or `log.dirs` from the config file]
    #[arg(short = 'd', long, value_name = "DIR", env = "RUNNEL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Broker config file: key=value lines with Kafka's broker config names
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Set a broker config (Kafka's name), overriding the config file; repeatable
    #[arg(short = 'c', long = "config-override", value_name = "KEY=VALUE")]
    pub config_override: Vec<String>,
}

/// Builds the broker configuration from the arguments (file, then `-c`,
/// then the dedicated flags). Unknown keys are reported once each as warnings.
pub fn broker_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut props = BTreeMap::new();
    if let Some(path) = &args.config {
        props.extend(read_properties_file(path)?);
    }
    for o in &args.config_override {
        props.extend(parse_properties(o, "-c")?);
    }
    let (mut config, unknown) = BrokerConfig::from_properties(props)?;
    let mut groups = crate::broker::group::GroupConfig::default();
    for key in unknown {
        let value = &config.props[&key];
        if !matches!(groups.set(&key, value), Ok(true)) {
            tracing::warn!("ignoring unknown config {key}");
        }
    }
    if let Some(listen) = &args.listen {
        config.listen = listen.clone();
        config.set_advertised("", None);
    }
    if let Some(adv) = &args.advertised_listener {
        let adv = adv.split_once("://").map_or(adv.as_str(), |(_, a)| a);
        let (host, port) = adv.rsplit_once(':').ok_or_else(|| {
            anyhow::anyhow!("--advertised-listener must be HOST:PORT, got '{adv}'")
        })?;
        let port: u16 = port
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid port in --advertised-listener '{adv}'"))?;
        config.set_advertised(host.trim_matches(|c| c == '[' || c == ']'), Some(port));
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

/// Waits for SIGINT or SIGTERM.
async fn termination_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs the broker until SIGINT/SIGTERM, then shuts down cleanly.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let config = broker_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("runnel-broker")
        .build()?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let server = Server::bind(config).await?;
        eprintln!(
            "runnel listening on {} (data in {})",
            server.local_addr(),
            data_dir.display()
        );
        server.run(termination_signal()).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_override_file_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.properties");
        std::fs::write(
            &file,
            "# kafka style\nlisteners=PLAINTEXT://:19092\nnum.partitions=4\nlog.retention.hours=2\nprocess.roles=broker,controller\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "x",
            "--config",
            file.to_str().unwrap(),
            "-c",
            "num.partitions=6",
            "--listen",
            "127.0.0.1:0",
            "--advertised-listener",
            "broker.example:9999",
            "-d",
            "/tmp/somewhere",
        ]);
        let c = broker_config(&cli.serve).unwrap();
        assert_eq!(c.num_partitions, 6);
        assert_eq!(c.listen, "127.0.0.1:0");
        assert_eq!(c.advertised_host, "broker.example");
        assert_eq!(c.advertised_port, Some(9999));
        assert_eq!(c.data_dir, PathBuf::from("/tmp/somewhere"));
        let retention = crate::broker::topic_config::topic_config("retention.ms").unwrap();
        assert_eq!(c.topic_default(retention).0, "7200000");
        let bad = Cli::parse_from(["x", "-c", "num.partitions"]);
        assert!(broker_config(&bad.serve).is_err());
    }
}

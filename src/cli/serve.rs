//! `runnel serve` (placeholder until the broker part lands; the broker helper
//! replaces this file).

/// Arguments of `runnel serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

/// Runs the broker.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("runnel serve is not available in this build yet")
}

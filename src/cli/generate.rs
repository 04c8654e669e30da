//! `runnel generate` (hidden): shell completions and man pages from the clap
//! definition, checked in under `completions/` and `man/` (see `bin/regen-docs`).

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// Arguments of `runnel generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[command(subcommand)]
    pub what: GenerateCommand,
}

/// What `runnel generate` writes.
#[derive(Debug, clap::Subcommand)]
pub enum GenerateCommand {
    /// Completions for bash (runnel.bash), zsh (_runnel) and fish (runnel.fish).
    Completions {
        /// Directory to write them to (created if missing).
        dir: PathBuf,
    },
    /// Man pages: runnel.1 and one page per subcommand (runnel-topics.1, ...).
    Man {
        /// Directory to write them to (created if missing).
        dir: PathBuf,
    },
}

/// Runs `runnel generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    match args.what {
        GenerateCommand::Completions { dir } => completions(&dir),
        GenerateCommand::Man { dir } => man_pages(&dir),
    }
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes the bash, zsh and fish completions into `dir`.
fn completions(dir: &Path) -> anyhow::Result<()> {
    create_dir(dir)?;
    let mut cmd = super::Cli::command();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, "runnel", dir)
            .with_context(|| format!("cannot write {shell} completions to {}", dir.display()))?;
    }
    Ok(())
}

/// Writes `runnel.1` and one page per visible subcommand (recursively, named
/// `runnel-topics.1`, `runnel-topics-create.1`, ...) into `dir`.
fn man_pages(dir: &Path) -> anyhow::Result<()> {
    create_dir(dir)?;
    let mut cmd = super::Cli::command();
    cmd.build();
    write_man_page(dir, &cmd)
}

/// Renders `cmd`'s page, named after its display name (`runnel-topics` once
/// the command is built), then its subcommands' pages.
fn write_man_page(dir: &Path, cmd: &clap::Command) -> anyhow::Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .source(format!("runnel {}", env!("CARGO_PKG_VERSION")))
        .manual("runnel manual")
        .render(&mut page)
        .with_context(|| format!("cannot render the man page {name}.1"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    for sub in cmd.get_subcommands() {
        if !sub.is_hide_set() && sub.get_name() != "help" {
            write_man_page(dir, sub)?;
        }
    }
    Ok(())
}

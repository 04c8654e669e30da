//! The `runnel` command line: argument parsing (clap derive), dispatch to the
//! subcommands, and the error and exit-code conventions they share.
//!
//! Exit codes: 0 success, 1 failure (an error; for `inspect`, corruption
//! found), 2 usage error (for `inspect`, also an unreadable path). Every error is one line on stderr
//! starting with `runnel: `, the causes joined with `: `.

pub mod backend;
pub mod broker;
pub mod compact;
pub mod connect;
pub mod consume;
pub mod direct;
pub mod format;
pub mod generate;
pub mod groups;
pub mod inspect;
pub mod lines;
pub mod output;
pub mod produce;
pub mod quotas;
pub mod serve;
pub mod topics;

use clap::{Parser, Subcommand};

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for a failure: an error, or corruption found by `inspect --verify`.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for a usage error (bad flags or arguments; also what clap uses).
pub const EXIT_USAGE: i32 = 2;

const ABOUT: &str = "A Kafka-compatible streaming platform in one small binary";

const LONG_ABOUT: &str = "\
runnel is a Kafka-compatible streaming platform in one small binary: a broker that speaks Apache
Kafka's wire protocol (runnel serve), and command line tools that work against any Kafka broker
(--brokers) or directly on a data directory (--data-dir), whose files are in Apache Kafka's own
on-disk format.";

const AFTER_LONG_HELP: &str = "\
EXAMPLES:
    Create a topic in a data directory, write three lines to it and read them back:

        runnel topics create events -d ./data -p 3
        printf 'a\\nb\\nc\\n' | runnel produce events -d ./data
        runnel consume events -d ./data

    Start a broker and use the same commands against it:

        runnel serve &
        runnel topics create events -p 3
        runnel produce events -K : < keyed-lines.txt
        runnel consume events -o -10 --format '%p/%o %k=%s\\n'

    Check every segment of a data directory:

        runnel inspect --verify ./data

ENVIRONMENT:
    RUNNEL_DATA_DIR    data directory for direct mode (same as -d/--data-dir)
    RUNNEL_BROKERS     bootstrap brokers (same as -b/--brokers)
    RUST_LOG           log filter for runnel serve (e.g. info, runnel=debug)

EXIT STATUS:
    0    success
    1    failure: an error (unknown topic, broker error, I/O error...); for inspect,
         corruption found
    2    usage error: unknown flag, missing or invalid argument; for inspect, a path
         that cannot be read

Errors are printed as one line on stderr, starting with 'runnel: '.";

/// The `runnel` command line.
#[derive(Debug, Parser)]
#[command(
    name = "runnel",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `runnel`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Kafka-compatible broker.
    Serve(serve::ServeArgs),
    /// Create, list, describe, alter and delete topics.
    #[command(long_about = topics::LONG_ABOUT, after_long_help = topics::AFTER_HELP)]
    Topics(topics::TopicsArgs),
    /// Write records, one per input line.
    #[command(long_about = produce::LONG_ABOUT, after_long_help = produce::AFTER_HELP)]
    Produce(produce::ProduceArgs),
    /// Read records and print them (kcat-style format or JSON).
    #[command(long_about = consume::LONG_ABOUT, after_long_help = consume::AFTER_HELP)]
    Consume(consume::ConsumeArgs),
    /// Show and verify segment files (.log, .index, .timeindex).
    #[command(long_about = inspect::LONG_ABOUT, after_long_help = inspect::AFTER_HELP)]
    Inspect(inspect::InspectArgs),
    /// Compact the partitions of compacted topics in a data directory.
    #[command(long_about = compact::LONG_ABOUT, after_long_help = compact::AFTER_HELP)]
    Compact(compact::CompactArgs),
    /// List, describe, reset and delete consumer groups.
    #[command(long_about = groups::LONG_ABOUT, after_long_help = groups::AFTER_HELP)]
    Groups(groups::GroupsArgs),
    /// Describe and alter client quotas (byte rates, request percentage).
    #[command(long_about = quotas::LONG_ABOUT, after_long_help = quotas::AFTER_HELP)]
    Quotas(quotas::QuotasArgs),
    /// Generate shell completions and man pages.
    #[command(hide = true)]
    Generate(generate::GenerateArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with exit 0; usage errors exit 2.
            let _ = err.print();
            return err.exit_code();
        }
    };
    if !matches!(cli.command, Command::Serve(_)) {
        init_warnings();
    }
    // inspect keeps exit code 1 for "corruption found"; its errors are 2.
    let error_code = match cli.command {
        Command::Inspect(_) => EXIT_USAGE,
        _ => EXIT_FAILURE,
    };
    // A bug must still end as one line on stderr, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("runnel: internal error: {message}{location} (please report this bug)");
    }));
    let result = std::panic::catch_unwind(|| run(cli.command));
    let Ok(result) = result else {
        return EXIT_FAILURE;
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => EXIT_OK,
        Err(err) => {
            eprintln!("runnel: {}", error_line(&err));
            error_code
        }
    }
}

/// Shows the library's warnings (e.g. a log being recovered) on stderr;
/// `RUST_LOG` changes the filter.
fn init_warnings() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// Runs one subcommand; `Ok` carries the exit code (non-zero without an
/// error only for `inspect --verify` finding corruption).
fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Serve(args) => serve::run(args).map(|()| EXIT_OK),
        Command::Topics(args) => topics::run(args).map(|()| EXIT_OK),
        Command::Produce(args) => produce::run(args).map(|()| EXIT_OK),
        Command::Consume(args) => consume::run(args).map(|()| EXIT_OK),
        Command::Inspect(args) => inspect::run(args),
        Command::Compact(args) => compact::run(args).map(|()| EXIT_OK),
        Command::Groups(args) => groups::run(args).map(|()| EXIT_OK),
        Command::Quotas(args) => quotas::run(args).map(|()| EXIT_OK),
        Command::Generate(args) => generate::run(args).map(|()| EXIT_OK),
    }
}

/// The error and its causes on one line, joined with `: `, without repeating
/// a cause whose text the previous message already ends with.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// Whether the error comes from writing to a closed pipe (`runnel consume | head`).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

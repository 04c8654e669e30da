//! Shared output helpers: plain tables for people, JSON for scripts, human
//! sizes and rates, and the progress bar.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// A borderless table (columns separated by two spaces) with these headers;
/// columns listed in `numeric` are right-aligned.
pub fn table(headers: &[&str], numeric: &[usize]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.to_vec());
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if numeric.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Prints a table to stdout, without the trailing spaces of its last column.
pub fn print_table(table: &Table) -> std::io::Result<()> {
    write_table(&mut std::io::stdout().lock(), table)
}

/// Writes a table to `out`, without the trailing spaces of its last column.
pub fn write_table(out: &mut dyn Write, table: &Table) -> std::io::Result<()> {
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    out.flush()
}

/// Prints a value as pretty JSON and a newline to stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    write_json(&mut std::io::stdout().lock(), value)
}

/// Writes a value as pretty JSON and a newline to `out`.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `Some(n)` as a number, `None` as `-` (what a broker does not tell).
pub fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// The summary line of produce and consume:
/// `1000000 records, 100.0 MiB in 0.85 s (1176470 records/s, 117.6 MB/s)`.
pub fn throughput(records: u64, bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!(
        "{records} records, {} in {:.2} s ({:.0} records/s, {:.1} MB/s)",
        human_bytes(bytes),
        elapsed.as_secs_f64(),
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    )
}

/// A byte-count progress bar on stderr, or a hidden one when stderr is not a terminal.
pub fn progress_bar(total: u64, message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn tables_align_numbers_right() {
        let mut t = table(&["NAME", "N"], &[1]);
        t.add_row(vec!["a", "1"]);
        t.add_row(vec!["bbbb", "100"]);
        let lines: Vec<String> = t.lines().map(|l| l.trim_end().to_string()).collect();
        assert_eq!(lines, ["NAME    N", "a       1", "bbbb  100"]);
    }
}

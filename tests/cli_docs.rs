//! The checked-in completions (completions/) and man pages (man/) must match
//! what the current clap definition generates.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every file directly in `dir`, by name, with its content.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let entry = entry.expect("readable directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        files.insert(name, std::fs::read(entry.path()).expect("readable file"));
    }
    files
}

fn check_generated(what: &str, checked_in: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["generate", what])
        .arg(tmp.path())
        .env_remove("RUNNEL_DATA_DIR")
        .env_remove("RUNNEL_BROKERS")
        .output()
        .expect("run runnel generate");
    assert!(
        out.status.success(),
        "runnel generate {what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = files(tmp.path());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(checked_in);
    let stored = files(&dir);
    assert!(!fresh.is_empty(), "runnel generate {what} wrote nothing");
    for (name, content) in &fresh {
        match stored.get(name) {
            None => panic!("{checked_in}/{name} is missing: run bin/regen-docs"),
            Some(old) if old != content => {
                panic!("{checked_in}/{name} is out of date: run bin/regen-docs")
            }
            Some(_) => {}
        }
    }
    for name in stored.keys() {
        assert!(
            fresh.contains_key(name),
            "{checked_in}/{name} is no longer generated: run bin/regen-docs"
        );
    }
}

#[test]
fn completions_are_up_to_date() {
    check_generated("completions", "completions");
}

#[test]
fn man_pages_are_up_to_date() {
    check_generated("man", "man");
}

//! Replays every fuzz seed and every input the fuzzer found
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`) through the same
//! target functions the fuzz binaries run (`runnel::fuzzing`), so they stay
//! tested without the fuzzer. A panic here is a regression.

use runnel::broker::dispatch::{Route, decode_request, route};
use runnel::fuzzing::{self, TARGETS};
use runnel::protocol::RequestPreamble;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of a corpus folder, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|e| e.expect("read corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_seed_and_found_input_passes_its_target() {
    let mut replayed = 0;
    for target in TARGETS {
        let [seeds, regressions] = fuzzing::corpus_dirs(&fuzz_dir(), target);
        let seed_files = files(&seeds);
        assert!(!seed_files.is_empty(), "no seeds for target {target}");
        for path in seed_files.iter().chain(&files(&regressions)) {
            let data = std::fs::read(path).expect("read corpus file");
            let ok = std::panic::catch_unwind(|| fuzzing::run(target, &data));
            assert!(
                matches!(ok, Ok(true)),
                "target {target} fails on {}",
                path.display()
            );
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} inputs");
    file_target_seeds_reach_the_opened_files();
    // Only this test writes files (the file targets): their scratch
    // directory is this process's.
    let _ = std::fs::remove_dir_all(fuzzing::scratch_root());
}

/// The file targets' seeds get as far as an opened, loaded segment or
/// index: a seed that bounced off (a wrong file name, a bad layout) would
/// leave the fuzzer to find the whole format alone.
fn file_target_seeds_reach_the_opened_files() {
    type Target = fn(&[u8]) -> bool;
    let targets: [(&str, Target); 3] = [
        ("segment", fuzzing::segment),
        ("offset_index", fuzzing::offset_index),
        ("time_index", fuzzing::time_index),
    ];
    for (target, run) in targets {
        let [seeds, _] = fuzzing::corpus_dirs(&fuzz_dir(), target);
        for path in files(&seeds) {
            let data = std::fs::read(&path).unwrap();
            assert!(
                run(&data),
                "{}: stops before the files are opened",
                path.display()
            );
        }
    }
}

#[test]
fn no_corpus_folder_names_an_unknown_target() {
    for kind in ["seeds", "regressions"] {
        for dir in files_and_dirs(&fuzz_dir().join(kind)) {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                TARGETS.contains(&name.as_str()),
                "{kind}/{name}: no such target"
            );
        }
    }
}

fn files_and_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|e| e.expect("read corpus entry").path())
        .filter(|p| p.is_dir())
        .collect()
}

/// The request seeds are real requests, so the fuzzer starts from inputs
/// that reach each decoder's body rather than bouncing off the header.
#[test]
fn request_seeds_decode_as_the_broker_decodes_them() {
    let apis = runnel::broker::dispatch::broker_apis();
    let group_apis = runnel::broker::group::GroupCoordinator::api_versions();
    let apis = group_apis
        .into_iter()
        .fold(apis, |apis, (k, min, max)| apis.with(k, min, max));
    let [seeds, _] = fuzzing::corpus_dirs(&fuzz_dir(), "request");
    for path in files(&seeds) {
        let data = std::fs::read(&path).unwrap();
        let pre = RequestPreamble::parse(&data).unwrap();
        let Route::Supported(api) = route(&apis, &pre) else {
            panic!("{}: not a supported request", path.display());
        };
        if let Err(e) = decode_request(api, pre.api_version, data.into()) {
            panic!("{}: {e:#}", path.display());
        }
    }
}

/// What the segment target found, in plain words: a batch header claiming
/// offsets up to i64::MAX (or below the segment's base) cannot be in the
/// segment, so a header scan ends before it; the read-only view and the
/// writable load then agree with recovery, which cuts it off, instead of
/// computing offsets past i64::MAX.
#[test]
fn a_batch_with_offsets_outside_the_segment_ends_the_header_scan() {
    use runnel::log::LogConfig;
    use runnel::log::segment::{LogSegment, segment_file};
    use runnel::record::{BatchBuilder, Compression, batch};

    let record = |ts| {
        let mut b = BatchBuilder::new(Compression::None, ts);
        b.push(ts, Some(b"k"), Some(b"v"), &[]);
        b.finish()
    };
    let good = record(1);
    for bad_base in [i64::MAX, i64::MAX - 10, -5] {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = record(2);
        batch::set_base_offset(&mut bad, bad_base);
        batch::update_crc(&mut bad);
        let mut log = good.clone();
        log.extend_from_slice(&bad);
        std::fs::write(segment_file(dir.path(), 0, "log"), &log).unwrap();

        let mut view = LogSegment::open_read_only(dir.path(), 0).unwrap();
        view.load_read_only().unwrap();
        assert_eq!(view.next_offset(), 1, "base {bad_base}");
        assert_eq!(view.size(), good.len() as u64);
        assert!(view.find(i64::MAX - 1).unwrap().is_none());

        let config = LogConfig::default();
        let mut seg = LogSegment::open(dir.path(), 0, &config, true).unwrap();
        assert!(!seg.load().unwrap(), "a load must leave this to recovery");
        let check = seg.recover(&config, true).unwrap();
        assert_eq!(check.valid_bytes, good.len() as u64);
        assert_eq!(seg.next_offset(), 1);
    }
}

//! Reads the Apache Kafka format fixture (tests/fixtures/kafka, written by
//! bin/make-kafka-fixture.py from the documented byte layout) with runnel's
//! record decoder and checks every record, batch and index entry against
//! expected.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runnel::record::batch::{BatchHeader, set_partition_leader_epoch};
use runnel::record::{BatchBuilder, BatchRecords, Compression, Header, Record, decode_batch, scan};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kafka")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read(partition: &str, file: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(partition).join(file)).unwrap()
}

fn opt_str(v: &Value) -> Option<&str> {
    v.as_str()
}

fn bytes_str(b: &Option<bytes::Bytes>) -> Option<&str> {
    b.as_deref().map(|b| std::str::from_utf8(b).unwrap())
}

/// The segments of each partition, as expected.json lists them.
fn partitions(exp: &Value) -> BTreeMap<String, Vec<Value>> {
    exp["partitions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().unwrap().clone()))
        .collect()
}

fn assert_same_record(got: &Record, want: &Value) {
    let ctx = format!("{} offset {}", want["partition_dir"], want["offset"]);
    assert_eq!(got.offset, want["offset"].as_i64().unwrap(), "{ctx}");
    assert_eq!(got.timestamp, want["timestamp"].as_i64().unwrap(), "{ctx}");
    assert_eq!(bytes_str(&got.key), opt_str(&want["key"]), "{ctx} key");
    assert_eq!(
        bytes_str(&got.value),
        opt_str(&want["value"]),
        "{ctx} value"
    );
    let want_headers: Vec<(&str, Option<&str>)> = want["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["key"].as_str().unwrap(), opt_str(&h["value"])))
        .collect();
    let got_headers: Vec<(&str, Option<&str>)> = got
        .headers
        .iter()
        .map(|h| (h.key.as_str(), bytes_str(&h.value)))
        .collect();
    assert_eq!(got_headers, want_headers, "{ctx} headers");
}

#[test]
fn every_record_of_every_segment_decodes_as_written() {
    let exp = expected();
    let mut decoded: Vec<(String, Record)> = Vec::new();
    for (partition, segments) in partitions(&exp) {
        let mut segment_bases = Vec::new();
        for seg in &segments {
            let file = seg["file"].as_str().unwrap();
            segment_bases.push(seg["base_offset"].as_i64().unwrap());
            let log = read(&partition, file);
            assert_eq!(log.len() as u64, seg["size"].as_u64().unwrap());
            let entries: Vec<_> = scan(&log)
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{partition}/{file}: {e}"));
            let want_batches = seg["batches"].as_array().unwrap();
            assert_eq!(entries.len(), want_batches.len(), "{partition}/{file}");
            for ((pos, s, bytes), want) in entries.iter().zip(want_batches) {
                let ctx = format!("{partition}/{file} at {pos}");
                assert_eq!(*pos as u64, want["position"].as_u64().unwrap(), "{ctx}");
                assert_eq!(s.size as u64, want["size"].as_u64().unwrap(), "{ctx}");
                assert_eq!(
                    s.base_offset,
                    want["base_offset"].as_i64().unwrap(),
                    "{ctx}"
                );
                assert_eq!(
                    s.last_offset,
                    want["last_offset"].as_i64().unwrap(),
                    "{ctx}"
                );
                assert_eq!(
                    s.records_count as i64,
                    want["records_count"].as_i64().unwrap(),
                    "{ctx}"
                );
                assert_eq!(s.magic as i64, want["magic"].as_i64().unwrap(), "{ctx}");
                assert_eq!(
                    s.max_timestamp,
                    want["max_timestamp"].as_i64().unwrap(),
                    "{ctx}"
                );
                let codec: Compression = want["compression"].as_str().unwrap().parse().unwrap();
                assert_eq!(s.compression, Some(codec), "{ctx}");
                assert!(s.crc_valid, "{ctx}: CRC");
                let records = decode_batch(bytes).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(records.len() as i32, s.records_count, "{ctx}");
                if s.magic == 2 {
                    // The borrowing iterator agrees with decode_batch.
                    let br = BatchRecords::new(bytes).unwrap();
                    let via_iter: Vec<Record> = br.iter().map(|r| r.unwrap().to_record()).collect();
                    assert_eq!(via_iter, records, "{ctx}");
                }
                decoded.extend(records.into_iter().map(|r| (partition.clone(), r)));
            }
        }
        assert!(
            segment_bases.windows(2).all(|w| w[0] < w[1]),
            "segments in offset order"
        );
    }
    let want = exp["records"].as_array().unwrap();
    assert_eq!(decoded.len(), want.len());
    for ((partition, got), want) in decoded.iter().zip(want) {
        assert_eq!(partition, want["partition_dir"].as_str().unwrap());
        assert_same_record(got, want);
    }
    // What the fixture is meant to exercise is really there.
    assert!(
        partitions(&exp)["fixture-0"].len() >= 2,
        "multi-segment partition"
    );
    let parts = partitions(&exp);
    let codecs: Vec<&str> = parts
        .values()
        .flatten()
        .flat_map(|s| s["batches"].as_array().unwrap())
        .map(|b| b["compression"].as_str().unwrap())
        .collect();
    for c in ["none", "gzip", "snappy", "lz4", "zstd"] {
        assert!(codecs.contains(&c), "fixture has a {c} batch");
    }
}

fn entries<const N: usize>(bytes: &[u8]) -> Vec<[u8; N]> {
    assert_eq!(bytes.len() % N, 0, "index holds whole entries");
    bytes
        .chunks_exact(N)
        .map(|c| c.try_into().unwrap())
        .collect()
}

#[test]
fn index_and_timeindex_entries_point_at_their_batches() {
    let exp = expected();
    let mut checked = 0;
    for (partition, segments) in partitions(&exp) {
        for seg in &segments {
            let file = seg["file"].as_str().unwrap();
            let stem = file.trim_end_matches(".log");
            let base = seg["base_offset"].as_i64().unwrap();
            assert_eq!(stem, format!("{base:020}"), "file named by base offset");
            let log = read(&partition, file);
            let batches: Vec<_> = scan(&log).map(|e| e.unwrap()).collect();

            let index: Vec<(i32, i32)> = entries::<8>(&read(&partition, &format!("{stem}.index")))
                .iter()
                .map(|e| {
                    (
                        i32::from_be_bytes(e[..4].try_into().unwrap()),
                        i32::from_be_bytes(e[4..].try_into().unwrap()),
                    )
                })
                .collect();
            let want: Vec<(i32, i32)> = seg["index"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e[0].as_i64().unwrap() as i32, e[1].as_i64().unwrap() as i32))
                .collect();
            assert_eq!(index, want, "{partition}/{stem}.index");
            for (rel, pos) in &index {
                let (_, s, _) = batches
                    .iter()
                    .find(|(p, _, _)| *p == *pos as usize)
                    .unwrap_or_else(|| panic!("{partition}/{stem}.index: no batch at {pos}"));
                assert_eq!(
                    s.last_offset,
                    base + *rel as i64,
                    "index entry names the batch's last offset"
                );
                checked += 1;
            }
            assert!(index.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));

            let timeindex: Vec<(i64, i32)> =
                entries::<12>(&read(&partition, &format!("{stem}.timeindex")))
                    .iter()
                    .map(|e| {
                        (
                            i64::from_be_bytes(e[..8].try_into().unwrap()),
                            i32::from_be_bytes(e[8..].try_into().unwrap()),
                        )
                    })
                    .collect();
            let want: Vec<(i64, i32)> = seg["timeindex"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e[0].as_i64().unwrap(), e[1].as_i64().unwrap() as i32))
                .collect();
            assert_eq!(timeindex, want, "{partition}/{stem}.timeindex");
            for (ts, rel) in &timeindex {
                let at = batches
                    .iter()
                    .position(|(_, s, _)| s.last_offset == base + *rel as i64)
                    .unwrap_or_else(|| {
                        panic!("{partition}/{stem}.timeindex: no batch ends at {rel}")
                    });
                // The entry's timestamp is the largest one up to that batch,
                // and that batch holds it.
                let max_so_far = batches[..=at].iter().map(|(_, s, _)| s.max_timestamp).max();
                assert_eq!(Some(*ts), max_so_far, "{partition}/{stem}.timeindex");
                assert_eq!(batches[at].1.max_timestamp, *ts);
                checked += 1;
            }
            assert!(
                timeindex
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
            );
        }
    }
    assert!(
        checked >= 10,
        "the fixture has index entries to check ({checked})"
    );
}

#[test]
fn builder_encodes_uncompressed_batches_byte_for_byte_like_the_fixture() {
    // The fixture was written by an independent encoder: re-encoding its
    // uncompressed v2 batches must give the very same bytes.
    let exp = expected();
    let mut compared = 0;
    for seg in partitions(&exp)["fixture-0"].iter() {
        let log = read("fixture-0", seg["file"].as_str().unwrap());
        for entry in scan(&log) {
            let (_, s, bytes) = entry.unwrap();
            if s.compression != Some(Compression::None) || s.log_append_time {
                continue;
            }
            let h = BatchHeader::parse(bytes).unwrap();
            let records = decode_batch(bytes).unwrap();
            let mut b = BatchBuilder::new(Compression::None, h.base_timestamp)
                .producer(h.producer_id, h.producer_epoch, h.base_sequence)
                .partition_leader_epoch(h.partition_leader_epoch);
            for r in &records {
                let headers: Vec<Header> = r.headers.clone();
                b.push(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
            }
            let mut ours = b.finish();
            runnel::record::batch::set_base_offset(&mut ours, h.base_offset);
            set_partition_leader_epoch(&mut ours, h.partition_leader_epoch);
            assert_eq!(ours, bytes, "batch at offset {}", h.base_offset);
            compared += 1;
        }
    }
    assert!(compared >= 4, "compared {compared} batches");
}

#[test]
fn damage_is_told_apart_from_truncation() {
    let exp = expected();
    let seg = &partitions(&exp)["fixture-0"][0];
    let log = read("fixture-0", seg["file"].as_str().unwrap());
    let batches = seg["batches"].as_array().unwrap();
    let third = batches[2]["position"].as_u64().unwrap() as usize;

    // A flipped byte inside the third batch: a CRC mismatch there, the scan goes on.
    let mut flipped = log.clone();
    flipped[third + 70] ^= 0x55;
    let summaries: Vec<_> = scan(&flipped).collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(summaries.len(), batches.len());
    let bad: Vec<usize> = summaries
        .iter()
        .filter(|(_, s, _)| !s.crc_valid)
        .map(|(p, _, _)| *p)
        .collect();
    assert_eq!(bad, vec![third]);

    // Cut inside the third batch: a truncation error at its position.
    let cut = &log[..third + 30];
    let last = scan(cut).last().unwrap().unwrap_err();
    assert_eq!(last.position, third);
    assert!(last.to_string().contains("truncated"), "{last}");
}

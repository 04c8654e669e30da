//! Test-only helpers: building v2 batches by hand.

use crate::record::batch;

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

/// A test record: timestamp, key, value.
pub type TestRecord<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>);

/// An uncompressed v2 batch of (timestamp, key, value) records, base offset 0.
pub fn batch(records: &[TestRecord]) -> Vec<u8> {
    let base_ts = records.first().map_or(0, |r| r.0);
    let max_ts = records.iter().map(|r| r.0).max().unwrap_or(-1);
    let mut body = Vec::new();
    for (i, (ts, key, value)) in records.iter().enumerate() {
        let mut r = vec![0u8];
        varint(&mut r, ts - base_ts);
        varint(&mut r, i as i64);
        for field in [key, value] {
            match field {
                Some(b) => {
                    varint(&mut r, b.len() as i64);
                    r.extend_from_slice(b);
                }
                None => varint(&mut r, -1),
            }
        }
        varint(&mut r, 0);
        varint(&mut body, r.len() as i64);
        body.extend_from_slice(&r);
    }
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((49 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(records.len() as i32 - 1).to_be_bytes());
    b.extend_from_slice(&base_ts.to_be_bytes());
    b.extend_from_slice(&max_ts.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&(records.len() as i32).to_be_bytes());
    b.extend_from_slice(&body);
    let crc = batch::compute_crc(&b);
    b[batch::CRC_OFFSET..batch::CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A batch of `n` records with value `value` and timestamp `ts`.
pub fn simple(n: usize, ts: i64, value: &[u8]) -> Vec<u8> {
    let recs: Vec<_> = (0..n).map(|_| (ts, None, Some(value))).collect();
    batch(&recs)
}

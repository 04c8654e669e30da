//! Zigzag varints and varlongs as Kafka's record format encodes them
//! (`ByteUtils.writeVarint` / `readVarint` and friends), plus unsigned varints.
//!
//! A varint is the zigzag-encoded value (`(n << 1) ^ (n >> 31)`) written 7 bits
//! at a time, least significant group first, with the high bit of each byte
//! set while more bytes follow. An `i32` takes at most 5 bytes, an `i64` at
//! most 10. Decoders return the value and the number of bytes read, and fail
//! (never panic) on truncated or overlong input.

/// Why a varint could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended while the continuation bit was still set.
    #[error("truncated varint")]
    Truncated,
    /// More bytes than the type can hold (5 for 32 bits, 10 for 64 bits).
    #[error("varint too long")]
    TooLong,
}

/// Zigzag-encodes an `i32` (small magnitudes become small unsigned values).
#[inline]
pub fn zigzag32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// Zigzag-encodes an `i64`.
#[inline]
pub fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Appends `value` as an unsigned varint.
#[inline]
pub fn put_unsigned_varint(buf: &mut Vec<u8>, value: u32) {
    put_unsigned_varlong(buf, value as u64);
}

/// Appends `value` as an unsigned varlong.
#[inline]
pub fn put_unsigned_varlong(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Appends `value` as a zigzag varint (Kafka `writeVarint`).
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, value: i32) {
    put_unsigned_varlong(buf, zigzag32(value) as u64);
}

/// Appends `value` as a zigzag varlong (Kafka `writeVarlong`).
#[inline]
pub fn put_varlong(buf: &mut Vec<u8>, value: i64) {
    put_unsigned_varlong(buf, zigzag64(value));
}

/// Encoded size of an unsigned varlong.
#[inline]
pub fn unsigned_varlong_size(value: u64) -> usize {
    // 1 byte per started group of 7 significant bits, at least 1.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Encoded size of an unsigned varint.
#[inline]
pub fn unsigned_varint_size(value: u32) -> usize {
    unsigned_varlong_size(value as u64)
}

/// Encoded size of a zigzag varint (Kafka `sizeOfVarint`).
#[inline]
pub fn varint_size(value: i32) -> usize {
    unsigned_varlong_size(zigzag32(value) as u64)
}

/// Encoded size of a zigzag varlong (Kafka `sizeOfVarlong`).
#[inline]
pub fn varlong_size(value: i64) -> usize {
    unsigned_varlong_size(zigzag64(value))
}

/// Reads an unsigned varlong of at most `max_bytes` bytes from the start of `buf`.
#[inline]
fn get_unsigned(buf: &[u8], max_bytes: usize) -> Result<(u64, usize), VarintError> {
    // Fast path: one byte.
    match buf.first() {
        None => return Err(VarintError::Truncated),
        Some(&b) if b < 0x80 => return Ok((b as u64, 1)),
        _ => {}
    }
    let mut value = 0u64;
    for (i, &b) in buf.iter().enumerate() {
        if i == max_bytes {
            return Err(VarintError::TooLong);
        }
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if buf.len() >= max_bytes {
        Err(VarintError::TooLong)
    } else {
        Err(VarintError::Truncated)
    }
}

/// Decodes an unsigned varint from the start of `buf`: `(value, bytes read)`.
/// Bits beyond 32 in the fifth byte are dropped, as Java does.
#[inline]
pub fn get_unsigned_varint(buf: &[u8]) -> Result<(u32, usize), VarintError> {
    get_unsigned(buf, 5).map(|(v, n)| (v as u32, n))
}

/// Decodes an unsigned varlong from the start of `buf`: `(value, bytes read)`.
#[inline]
pub fn get_unsigned_varlong(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    get_unsigned(buf, 10)
}

/// Decodes a zigzag varint (Kafka `readVarint`): `(value, bytes read)`.
#[inline]
pub fn get_varint(buf: &[u8]) -> Result<(i32, usize), VarintError> {
    let (raw, n) = get_unsigned_varint(buf)?;
    Ok((((raw >> 1) as i32) ^ -((raw & 1) as i32), n))
}

/// Decodes a zigzag varlong (Kafka `readVarlong`): `(value, bytes read)`.
#[inline]
pub fn get_varlong(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    let (raw, n) = get_unsigned_varlong(buf)?;
    Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc32(v: i32) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    }

    fn enc64(v: i64) -> Vec<u8> {
        let mut b = Vec::new();
        put_varlong(&mut b, v);
        b
    }

    #[test]
    fn known_encodings_match_kafka() {
        // Values from Kafka's ByteUtilsTest.
        assert_eq!(enc32(0), [0x00]);
        assert_eq!(enc32(-1), [0x01]);
        assert_eq!(enc32(1), [0x02]);
        assert_eq!(enc32(63), [0x7e]);
        assert_eq!(enc32(-64), [0x7f]);
        assert_eq!(enc32(64), [0x80, 0x01]);
        assert_eq!(enc32(-65), [0x81, 0x01]);
        assert_eq!(enc32(8191), [0xfe, 0x7f]);
        assert_eq!(enc32(-8192), [0xff, 0x7f]);
        assert_eq!(enc32(8192), [0x80, 0x80, 0x01]);
        assert_eq!(enc32(i32::MAX), [0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(enc32(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            enc64(i64::MAX),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(
            enc64(i64::MIN),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn round_trip_boundaries() {
        let mut values32 = vec![0, 1, -1, i32::MAX, i32::MIN, i32::MAX - 1, i32::MIN + 1];
        for shift in 0..31 {
            let p = 1i32 << shift;
            values32.extend([p, p - 1, -p, -p - 1, p + 1]);
        }
        for v in values32 {
            let b = enc32(v);
            assert_eq!(b.len(), varint_size(v), "size of {v}");
            assert_eq!(get_varint(&b), Ok((v, b.len())), "value {v}");
            assert_eq!(get_varint(&b[..b.len() - 1]), Err(VarintError::Truncated));
        }
        let mut values64 = vec![0, 1, -1, i64::MAX, i64::MIN];
        for shift in 0..63 {
            let p = 1i64 << shift;
            values64.extend([p, p - 1, -p, -p - 1, p + 1]);
        }
        for v in values64 {
            let b = enc64(v);
            assert_eq!(b.len(), varlong_size(v), "size of {v}");
            assert_eq!(get_varlong(&b), Ok((v, b.len())), "value {v}");
            assert_eq!(get_varlong(&b[..b.len() - 1]), Err(VarintError::Truncated));
        }
        for v in [0u32, 1, 127, 128, 16383, 16384, u32::MAX] {
            let mut b = Vec::new();
            put_unsigned_varint(&mut b, v);
            assert_eq!(b.len(), unsigned_varint_size(v));
            assert_eq!(get_unsigned_varint(&b), Ok((v, b.len())));
        }
    }

    #[test]
    fn decode_reads_only_its_own_bytes() {
        let mut b = enc32(300);
        b.extend([0xaa, 0xbb]);
        assert_eq!(get_varint(&b), Ok((300, 2)));
    }

    #[test]
    fn rejects_empty_and_overlong() {
        assert_eq!(get_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(get_varlong(&[]), Err(VarintError::Truncated));
        assert_eq!(get_varint(&[0xff; 5]), Err(VarintError::TooLong));
        assert_eq!(
            get_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Err(VarintError::TooLong)
        );
        assert_eq!(get_varlong(&[0xff; 10]), Err(VarintError::TooLong));
        assert_eq!(get_varlong(&[0xff; 11]), Err(VarintError::TooLong));
        assert_eq!(get_varint(&[0xff; 4]), Err(VarintError::Truncated));
    }
}

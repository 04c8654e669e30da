//! Reading and writing the fields of Kafka's internal-topic record schemas
//! (`__consumer_offsets`, `__transaction_state`) in their classic or
//! flexible (compact, with tagged fields) encoding: the cursor both
//! coordinators' schema modules decode with.

use bytes::{BufMut, Bytes};

/// Why a field could not be read; each schema's error takes it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldError {
    /// The bytes end before the field does.
    Truncated(&'static str),
    /// A string that is not UTF-8.
    Utf8(&'static str),
    /// A null where the schema does not allow one, or a negative length.
    InvalidLength(&'static str),
}

/// Writes a classic (int16 length) string.
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

/// A cursor over a record's bytes, in classic or flexible (compact) encoding.
pub struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `flexible` for compact lengths and tagged fields.
    pub fn new(buf: &'a [u8], flexible: bool) -> Self {
        Reader { buf, flexible }
    }

    /// Switches to the flexible encoding (once a record's version is read).
    pub fn set_flexible(&mut self, flexible: bool) {
        self.flexible = flexible;
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FieldError> {
        if self.buf.len() < n {
            return Err(FieldError::Truncated(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// An int8.
    pub fn i8(&mut self, what: &'static str) -> Result<i8, FieldError> {
        Ok(self.take(1, what)?[0] as i8)
    }

    /// An int16.
    pub fn i16(&mut self, what: &'static str) -> Result<i16, FieldError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    /// An int32.
    pub fn i32(&mut self, what: &'static str) -> Result<i32, FieldError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An int64.
    pub fn i64(&mut self, what: &'static str) -> Result<i64, FieldError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(i64::from_be_bytes(a))
    }

    /// An unsigned varint.
    pub fn uvarint(&mut self, what: &'static str) -> Result<u64, FieldError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, what)?[0];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(FieldError::InvalidLength(what))
    }

    /// Length of a string (int16) or of bytes or an array (`wide`, int32);
    /// compact (unsigned varint + 1) when flexible. `None` for null.
    pub fn len(&mut self, what: &'static str, wide: bool) -> Result<Option<usize>, FieldError> {
        let n: i64 = if self.flexible {
            self.uvarint(what)? as i64 - 1
        } else if wide {
            self.i32(what)? as i64
        } else {
            self.i16(what)? as i64
        };
        match n {
            -1 => Ok(None),
            n if n < -1 => Err(FieldError::InvalidLength(what)),
            n => Ok(Some(n as usize)),
        }
    }

    /// A nullable string.
    pub fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, FieldError> {
        match self.len(what, false)? {
            None => Ok(None),
            Some(n) => {
                let b = self.take(n, what)?;
                String::from_utf8(b.to_vec())
                    .map(Some)
                    .map_err(|_| FieldError::Utf8(what))
            }
        }
    }

    /// A string (null refused).
    pub fn string(&mut self, what: &'static str) -> Result<String, FieldError> {
        self.nullable_string(what)?
            .ok_or(FieldError::InvalidLength(what))
    }

    /// Bytes (null refused).
    pub fn bytes(&mut self, what: &'static str) -> Result<Bytes, FieldError> {
        let n = self
            .len(what, true)?
            .ok_or(FieldError::InvalidLength(what))?;
        Ok(Bytes::copy_from_slice(self.take(n, what)?))
    }

    /// An array's length (null refused).
    pub fn array_len(&mut self, what: &'static str) -> Result<usize, FieldError> {
        self.len(what, true)?.ok_or(FieldError::InvalidLength(what))
    }

    /// Reads a tagged-field section (flexible only), handing each field's
    /// tag and bytes to `f`.
    pub fn tagged_fields<E: From<FieldError>>(
        &mut self,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint("tagged fields")?;
        for _ in 0..count {
            let tag = self.uvarint("tag")?;
            let size = self.uvarint("tagged field size")? as usize;
            let data = self.take(size, "tagged field")?;
            f(tag, data)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section (flexible only).
    pub fn skip_tagged_fields(&mut self) -> Result<(), FieldError> {
        self.tagged_fields(|_, _| Ok::<(), FieldError>(()))
    }
}

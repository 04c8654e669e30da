//! Printing consumed records: kcat's `--format` tokens and the `--json` lines.

use crate::record::decode::{HeaderIter, RecordRef};
use crate::record::{Header, Record};
use base64::Engine;
use std::io::{self, Write};

/// One record to print, borrowed from wherever it was read: a record still
/// in a fetched batch (direct mode's zero-copy path) or a decoded record
/// (the Kafka client's, or a legacy message set's). Both print through the
/// same code.
#[derive(Debug, Clone)]
pub struct RecordView<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition index.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms since the epoch).
    pub timestamp: i64,
    /// Key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is null (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Headers in order.
    pub headers: HeadersView<'a>,
}

impl<'a> RecordView<'a> {
    /// A view of a record borrowed from a batch.
    pub fn of_ref(topic: &'a str, partition: i32, record: &RecordRef<'a>) -> Self {
        RecordView {
            topic,
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key,
            value: record.value,
            headers: HeadersView::Encoded(record.headers()),
        }
    }

    /// A view of a decoded record.
    pub fn of_record(topic: &'a str, partition: i32, record: &'a Record) -> Self {
        RecordView {
            topic,
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: HeadersView::Decoded(&record.headers),
        }
    }

    /// Bytes of key and value (what throughput summaries count).
    pub fn payload_len(&self) -> usize {
        self.key.map_or(0, <[u8]>::len) + self.value.map_or(0, <[u8]>::len)
    }
}

/// The headers of a [`RecordView`].
#[derive(Debug, Clone)]
pub enum HeadersView<'a> {
    /// Still encoded in the batch.
    Encoded(HeaderIter<'a>),
    /// Decoded.
    Decoded(&'a [Header]),
}

impl<'a> HeadersView<'a> {
    /// The headers in order: key bytes and nullable value.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + use<'a> {
        let (encoded, decoded) = match self {
            HeadersView::Encoded(iter) => (Some(iter.clone()), None),
            HeadersView::Decoded(headers) => (None, Some(headers.iter())),
        };
        let encoded = encoded.into_iter().flatten().map(|h| (h.key, h.value));
        let decoded = decoded
            .into_iter()
            .flatten()
            .map(|h| (h.key.as_bytes(), h.value.as_deref()));
        encoded.chain(decoded)
    }
}

/// One piece of a parsed `--format` string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    KeySize,
    Value,
    ValueSize,
    Timestamp,
    Headers,
}

/// A parsed kcat-style format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    tokens: Vec<Token>,
}

impl Format {
    /// Parses a format string: `%t %p %o %k %K %s %S %T %h %%` and the escapes
    /// `\n \t \r \\` (another backslash sequence is kept as written).
    pub fn parse(spec: &str) -> Result<Format, String> {
        let mut tokens = Vec::new();
        let mut literal = Vec::new();
        let mut chars = spec.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let token = match chars.next() {
                        Some('t') => Token::Topic,
                        Some('p') => Token::Partition,
                        Some('o') => Token::Offset,
                        Some('k') => Token::Key,
                        Some('K') => Token::KeySize,
                        Some('s') => Token::Value,
                        Some('S') => Token::ValueSize,
                        Some('T') => Token::Timestamp,
                        Some('h') => Token::Headers,
                        Some('%') => {
                            literal.push(b'%');
                            continue;
                        }
                        Some(other) => {
                            return Err(format!(
                                "unsupported format token %{other} (known: %t %p %o %k %K %s %S %T %h %%)"
                            ));
                        }
                        None => return Err("format string ends with a lone %".to_string()),
                    };
                    if !literal.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut literal)));
                    }
                    tokens.push(token);
                }
                '\\' => match chars.next() {
                    Some('n') => literal.push(b'\n'),
                    Some('t') => literal.push(b'\t'),
                    Some('r') => literal.push(b'\r'),
                    Some('\\') => literal.push(b'\\'),
                    Some(other) => {
                        literal.push(b'\\');
                        push_char(&mut literal, other);
                    }
                    None => literal.push(b'\\'),
                },
                other => push_char(&mut literal, other),
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Format { tokens })
    }

    /// Writes one record.
    pub fn write(&self, out: &mut impl Write, record: &RecordView<'_>) -> io::Result<()> {
        for token in &self.tokens {
            match token {
                Token::Literal(bytes) => out.write_all(bytes)?,
                Token::Topic => out.write_all(record.topic.as_bytes())?,
                Token::Partition => write_int(out, record.partition as i64)?,
                Token::Offset => write_int(out, record.offset)?,
                Token::Key => out.write_all(record.key.unwrap_or_default())?,
                Token::KeySize => write_int(out, record.key.map_or(-1, |k| k.len() as i64))?,
                Token::Value => out.write_all(record.value.unwrap_or_default())?,
                Token::ValueSize => write_int(out, record.value.map_or(-1, |v| v.len() as i64))?,
                Token::Timestamp => write_int(out, record.timestamp)?,
                Token::Headers => {
                    for (i, (key, value)) in record.headers.iter().enumerate() {
                        if i > 0 {
                            out.write_all(b",")?;
                        }
                        out.write_all(key)?;
                        out.write_all(b"=")?;
                        out.write_all(value.unwrap_or_default())?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn push_char(buf: &mut Vec<u8>, c: char) {
    let mut utf8 = [0u8; 4];
    buf.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
}

/// Writes a decimal integer without going through `fmt`.
pub fn write_int(out: &mut impl Write, n: i64) -> io::Result<()> {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.write_all(b"-")?;
    }
    out.write_all(&buf[pos..])
}

/// Writes `bytes` as a JSON string under `name` if they are UTF-8, else
/// base64-encoded under `name_b64`; `null` under `name` if absent. Preceded
/// by a comma.
pub fn write_json_bytes(out: &mut impl Write, name: &str, bytes: Option<&[u8]>) -> io::Result<()> {
    match bytes {
        None => write!(out, ",\"{name}\":null"),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => {
                write!(out, ",\"{name}\":")?;
                write_json_str(out, s)
            }
            Err(_) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(b);
                write!(out, ",\"{name}_b64\":\"{encoded}\"")
            }
        },
    }
}

/// Writes a JSON string literal with the escapes JSON requires.
pub fn write_json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.write_all(&bytes[start..i])?;
                write!(out, "\\u{b:04x}")?;
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.write_all(&bytes[start..i])?;
        out.write_all(escape)?;
        start = i + 1;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

/// Writes one record as a JSON object and a newline (the `consume --json` line):
/// `{"topic","partition","offset","timestamp","key"|"key_b64","value"|"value_b64","headers":[{"key","value"|"value_b64"}]}`.
pub fn write_json_record(out: &mut impl Write, record: &RecordView<'_>) -> io::Result<()> {
    out.write_all(b"{\"topic\":")?;
    write_json_str(out, record.topic)?;
    out.write_all(b",\"partition\":")?;
    write_int(out, record.partition as i64)?;
    out.write_all(b",\"offset\":")?;
    write_int(out, record.offset)?;
    out.write_all(b",\"timestamp\":")?;
    write_int(out, record.timestamp)?;
    write_json_bytes(out, "key", record.key)?;
    write_json_bytes(out, "value", record.value)?;
    write_json_headers(out, &record.headers)?;
    out.write_all(b"}\n")
}

/// Writes `,"headers":[{"key","value"|"value_b64"},...]`, in order.
pub fn write_json_headers(out: &mut impl Write, headers: &HeadersView<'_>) -> io::Result<()> {
    out.write_all(b",\"headers\":[")?;
    for (i, (key, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"{\"key\":")?;
        write_json_str(out, &String::from_utf8_lossy(key))?;
        write_json_bytes(out, "value", value)?;
        out.write_all(b"}")?;
    }
    out.write_all(b"]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key: &str, value: Option<&[u8]>) -> Header {
        Header {
            key: key.to_string(),
            value: value.map(bytes::Bytes::copy_from_slice),
        }
    }

    fn sample(headers: &[Header]) -> RecordView<'_> {
        RecordView {
            topic: "events",
            partition: 3,
            offset: 42,
            timestamp: 1_700_000_000_123,
            key: Some(b"user-1"),
            value: Some(b"clicked"),
            headers: HeadersView::Decoded(headers),
        }
    }

    fn render(spec: &str, record: &RecordView<'_>) -> String {
        let mut out = Vec::new();
        Format::parse(spec)
            .expect("valid format")
            .write(&mut out, record)
            .expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn every_token() {
        let headers = [header("a", Some(b"1")), header("b", None)];
        let r = sample(&headers);
        assert_eq!(
            render("%t|%p|%o|%k|%K|%s|%S|%T|%h|%%\\n\\t\\r\\\\", &r),
            "events|3|42|user-1|6|clicked|7|1700000000123|a=1,b=|%\n\t\r\\"
        );
    }

    #[test]
    fn null_key_and_value() {
        let mut r = sample(&[]);
        r.key = None;
        r.value = None;
        assert_eq!(render("[%k][%K][%s][%S][%h]", &r), "[][-1][][-1][]");
        r.key = Some(b"");
        assert_eq!(render("%K", &r), "0");
    }

    #[test]
    fn bad_tokens_are_rejected() {
        assert!(Format::parse("%x").is_err());
        assert!(Format::parse("abc%").is_err());
        assert_eq!(render("\\q", &sample(&[])), "\\q");
    }

    #[test]
    fn json_line() {
        let headers = [
            header("h", Some(b"x")),
            header("h", None),
            header("bin", Some(&[0xff, 0x00])),
        ];
        let mut r = sample(&headers);
        r.value = Some(&[0xc3, 0x28]);
        r.key = Some(b"q\"\n\x01");
        let mut out = Vec::new();
        write_json_record(&mut out, &r).expect("write");
        let line = String::from_utf8(out).expect("utf-8");
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["topic"], "events");
        assert_eq!(v["partition"], 3);
        assert_eq!(v["offset"], 42);
        assert_eq!(v["timestamp"], 1_700_000_000_123i64);
        assert_eq!(v["key"], "q\"\n\u{1}");
        assert_eq!(v["value_b64"], "wyg=");
        assert!(v.get("value").is_none());
        assert_eq!(
            v["headers"],
            serde_json::json!([
                {"key": "h", "value": "x"},
                {"key": "h", "value": null},
                {"key": "bin", "value_b64": "/wA="}
            ])
        );
    }

    #[test]
    fn a_record_in_a_batch_and_a_decoded_record_print_the_same() {
        use crate::record::decode::{BatchRecords, decode_batch};
        use crate::record::{BatchBuilder, Compression};
        let headers = [header("h", Some(b"x")), header("n", None)];
        let mut builder = BatchBuilder::new(Compression::None, 1_000);
        builder.push(1_000, Some(b"k"), Some(b"v"), &headers);
        builder.push(1_001, None, None, &[]);
        let batch = builder.finish();
        let decoded = decode_batch(&batch).expect("decodes");
        let refs = BatchRecords::new(&batch).expect("valid batch");
        let spec = "%t %p %o %T %k %K %s %S %h\\n";
        for (record, owned) in refs.iter().zip(&decoded) {
            let record = record.expect("record");
            let (a, b) = (
                RecordView::of_ref("t", 1, &record),
                RecordView::of_record("t", 1, owned),
            );
            assert_eq!(render(spec, &a), render(spec, &b));
            let (mut ja, mut jb) = (Vec::new(), Vec::new());
            write_json_record(&mut ja, &a).expect("write");
            write_json_record(&mut jb, &b).expect("write");
            assert_eq!(ja, jb);
        }
        let first = RecordView::of_ref("t", 1, &refs.iter().next().expect("one").expect("ok"));
        assert_eq!(render("%h", &first), "h=x,n=");
    }

    #[test]
    fn integers() {
        for n in [0, 7, -1, 1234567890123, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            write_int(&mut out, n).expect("write");
            assert_eq!(String::from_utf8(out).expect("utf-8"), n.to_string());
        }
    }
}

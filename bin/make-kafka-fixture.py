#!/usr/bin/env python3
"""Writes tests/fixtures/kafka/: a small data directory in Apache Kafka's on-disk format.

Built from the documented byte layout (Kafka protocol guide "Record Batch" / "Message Sets",
KIP-98, KIP-57, DefaultRecordBatch / LegacyRecord / LogSegment docs), independently of
runnel's own encoder, so runnel's reader is checked against the format rather than itself.

    fixture-0/   record batches v2: uncompressed batches (keys, null keys, tombstones, headers
                 with null values, negative timestamp deltas, an idempotent-producer batch),
                 one batch each compressed with gzip, snappy (snappy-java's xerial framing),
                 lz4 (frame format) and zstd; a second segment holds a log-append-time batch.
    legacy-0/    message sets v0 and v1, including a gzip v1 wrapper (relative inner offsets)
                 and a gzip v0 wrapper (absolute inner offsets).
    expected.json  every record written (partition dir, offset, timestamp, key, value,
                 headers), every batch's position, and the index entries.

Each segment gets an .index (i32 relative offset, i32 position) and a .timeindex (i64
timestamp, i32 relative offset), trimmed, with the entries Kafka's LogSegment.append makes:
before appending a batch, if more than index.interval.bytes were appended since the last
entry, an offset-index entry (batch last offset, batch position) and a time-index entry
(max timestamp so far, its batch's last offset; only if larger than the last entry's) are
added. A rolled segment gets a final time-index entry for its max timestamp.

Needs `cramjam` (pip install cramjam) for snappy, lz4 blocks and zstd; the rest is stdlib.
Usage: bin/make-kafka-fixture.py [OUTPUT_DIR]   (default tests/fixtures/kafka)
"""

import gzip
import json
import os
import shutil
import struct
import sys

import cramjam

INDEX_INTERVAL_BYTES = 100

# ---------------------------------------------------------------------------- checksums


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as record batches v2 use."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32_ieee(data: bytes) -> int:
    """CRC-32 (IEEE), as message sets v0/v1 use."""
    import zlib

    return zlib.crc32(data) & 0xFFFFFFFF


def xxh32_short(data: bytes) -> int:
    """xxHash32, seed 0, for inputs under 16 bytes (an LZ4 frame descriptor)."""
    p1, p2, p3, p4, p5 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1
    m = 0xFFFFFFFF
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & m  # noqa: E731
    assert len(data) < 16
    h = (p5 + len(data)) & m
    i = 0
    while i + 4 <= len(data):
        (k,) = struct.unpack_from("<I", data, i)
        h = (rotl((h + k * p3) & m, 17) * p4) & m
        i += 4
    for b in data[i:]:
        h = (rotl((h + b * p5) & m, 11) * p1) & m
    h ^= h >> 15
    h = (h * p2) & m
    h ^= h >> 13
    h = (h * p3) & m
    return h ^ (h >> 16)


# ---------------------------------------------------------------------------- codecs

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def snappy_xerial(data: bytes) -> bytes:
    """snappy-java's SnappyOutputStream framing, as Kafka's Java producer writes it:
    magic 0x82 'SNAPPY' 0, version 1, compatible version 1 (i32 BE each), then blocks of
    [i32 BE compressed length][raw snappy block] over 32 KiB input chunks."""
    out = bytearray(b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1))
    for i in range(0, len(data), 32 * 1024):
        block = bytes(cramjam.snappy.compress_raw(data[i : i + 32 * 1024]))
        out += struct.pack(">i", len(block)) + block
    return bytes(out)


def lz4_frame(data: bytes) -> bytes:
    """LZ4 frame format (KIP-57) as KafkaLZ4BlockOutputStream writes it: magic 0x184D2204,
    FLG version 01 + independent blocks, BD 64 KiB max block, header checksum
    (xxh32(FLG, BD) >> 8) & 0xFF, blocks [u32 LE size][lz4 block] (high bit = stored
    uncompressed), end mark 0."""
    flg, bd = 0x60, 0x40
    out = bytearray(struct.pack("<I", 0x184D2204) + bytes([flg, bd]))
    out.append((xxh32_short(bytes([flg, bd])) >> 8) & 0xFF)
    for i in range(0, len(data), 64 * 1024):
        chunk = data[i : i + 64 * 1024]
        block = bytes(cramjam.lz4.compress_block(chunk, store_size=False))
        if len(block) >= len(chunk):
            out += struct.pack("<I", len(chunk) | 0x80000000) + chunk
        else:
            out += struct.pack("<I", len(block)) + block
    out += struct.pack("<I", 0)
    return bytes(out)


def compress(codec: str, data: bytes) -> bytes:
    if codec == "none":
        return data
    if codec == "gzip":
        return gzip.compress(data, mtime=0)
    if codec == "snappy":
        return snappy_xerial(data)
    if codec == "lz4":
        return lz4_frame(data)
    if codec == "zstd":
        return bytes(cramjam.zstd.compress(data, level=3))
    raise ValueError(codec)


# ---------------------------------------------------------------------------- v2 batches


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def varint(n: int) -> bytes:
    """Zigzag varint / varlong (the same bytes for both widths)."""
    u = zigzag(n) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def nullable(b):
    return varint(-1) if b is None else varint(len(b)) + b


def encode_record(offset_delta, timestamp_delta, key, value, headers):
    """Record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
    key, value, header count, headers (key varint-len + bytes, value varint-len or -1)."""
    body = bytes([0]) + varint(timestamp_delta) + varint(offset_delta)
    body += nullable(key) + nullable(value) + varint(len(headers))
    for hk, hv in headers:
        body += nullable(hk) + nullable(hv)
    return varint(len(body)) + body


def encode_batch(base_offset, records, codec="none", producer=(-1, -1, -1), log_append_time=None,
                 leader_epoch=0):
    """RecordBatch v2. `records`: list of (timestamp, key, value, headers), bytes or None.
    With log_append_time set, the timestamp-type bit is set and maxTimestamp holds it."""
    base_ts = records[0][0]
    body = b"".join(
        encode_record(i, ts - base_ts, k, v, h) for i, (ts, k, v, h) in enumerate(records)
    )
    attributes = CODEC_IDS[codec]
    max_ts = max(r[0] for r in records)
    if log_append_time is not None:
        attributes |= 0x08
        max_ts = log_append_time
    producer_id, producer_epoch, base_sequence = producer
    after_crc = struct.pack(
        ">hiqqqhii", attributes, len(records) - 1, base_ts, max_ts,
        producer_id, producer_epoch, base_sequence, len(records),
    ) + compress(codec, body)
    after_length = struct.pack(">ibI", leader_epoch, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", base_offset, len(after_length)) + after_length


# ---------------------------------------------------------------------------- v0/v1 messages


def encode_message(offset, magic, timestamp, key, value, attributes=0):
    """Message v0/v1 with its log entry header: offset int64, size int32, crc uint32 (CRC32
    of magic..end), magic, attributes, [timestamp int64 if v1], key int32-len, value."""
    body = struct.pack(">bb", magic, attributes)
    if magic == 1:
        body += struct.pack(">q", timestamp)
    for field in (key, value):
        body += struct.pack(">i", -1) if field is None else struct.pack(">i", len(field)) + field
    msg = struct.pack(">I", crc32_ieee(body)) + body
    return struct.pack(">qi", offset, len(msg)) + msg


# ---------------------------------------------------------------------------- segments


class Segment:
    """One log segment with Kafka's index bookkeeping."""

    def __init__(self, base_offset):
        self.base_offset = base_offset
        self.log = bytearray()
        self.index = []  # (relative offset, position)
        self.timeindex = []  # (timestamp, relative offset)
        self.bytes_since_last_entry = 0
        self.max_ts = -1
        self.offset_of_max_ts = base_offset
        self.batches = []

    def append(self, entry, last_offset, max_timestamp, summary):
        position = len(self.log)
        if max_timestamp > self.max_ts:
            self.max_ts, self.offset_of_max_ts = max_timestamp, last_offset
        if self.bytes_since_last_entry > INDEX_INTERVAL_BYTES:
            self.index.append((last_offset - self.base_offset, position))
            self.maybe_append_time_entry()
            self.bytes_since_last_entry = 0
        self.log += entry
        self.bytes_since_last_entry += len(entry)
        self.batches.append(dict(position=position, size=len(entry), **summary))

    def maybe_append_time_entry(self):
        last_ts = self.timeindex[-1][0] if self.timeindex else -1
        if self.max_ts > last_ts:
            self.timeindex.append((self.max_ts, self.offset_of_max_ts - self.base_offset))

    def roll(self):
        """What Kafka does when the segment stops being the active one."""
        self.maybe_append_time_entry()

    def write(self, directory):
        name = "%020d" % self.base_offset
        with open(os.path.join(directory, name + ".log"), "wb") as f:
            f.write(self.log)
        with open(os.path.join(directory, name + ".index"), "wb") as f:
            f.write(b"".join(struct.pack(">ii", r, p) for r, p in self.index))
        with open(os.path.join(directory, name + ".timeindex"), "wb") as f:
            f.write(b"".join(struct.pack(">qi", t, r) for t, r in self.timeindex))
        return {
            "file": name + ".log",
            "base_offset": self.base_offset,
            "size": len(self.log),
            "batches": self.batches,
            "index": [list(e) for e in self.index],
            "timeindex": [list(e) for e in self.timeindex],
        }


def text(s):
    return None if s is None else s.encode("utf-8")


def expected_record(partition_dir, offset, timestamp, key, value, headers):
    return {
        "partition_dir": partition_dir,
        "offset": offset,
        "timestamp": timestamp,
        "key": key,
        "value": value,
        "headers": [{"key": k, "value": v} for k, v in headers],
    }


def v2_partition(expected):
    """fixture-0: two segments of v2 batches."""
    t0 = 1_700_000_000_000
    specs = [
        # (records [(ts, key, value, headers)], codec, options)
        ([(t0, "user-1", "hello", [("trace", "abc"), ("empty", "")]),
          (t0 + 5, "user-2", "world", [("null-header", None)]),
          (t0 + 3, "user-1", "negative timestamp delta", [])], "none", {}),
        ([(t0 + 10, "user-2", None, []),  # tombstone
          (t0 + 11, None, "no key", [("h1", "v1"), ("h2", None), ("h1", "dup key")]),
          (t0 + 12, "", "", [])], "none", {}),
        ([(t0 + 20 + i, "gz-%d" % i, "gzip value %d " % i * 8, [("codec", "gzip")]) for i in range(5)],
         "gzip", {}),
        ([(t0 + 30 + i, "sn-%d" % i, "snappy value %d " % i * 8, [("codec", "snappy")]) for i in range(5)],
         "snappy", {}),
        ([(t0 + 40 + i, "lz-%d" % i, "lz4 value %d " % i * 8, [("codec", "lz4")]) for i in range(5)],
         "lz4", {}),
        ([(t0 + 50 + i, "zs-%d" % i, "zstd value %d " % i * 8, [("codec", "zstd")]) for i in range(5)],
         "zstd", {}),
        ([(t0 + 60, "idem", "from an idempotent producer", []),
          (t0 + 61, "idem", "unicode: é ✓ 🚀", [("ключ", "значение")])],
         "none", {"producer": (4242, 3, 17)}),
    ]
    second = [
        ([(t0 + 70 + i, "seg2-%d" % i, "second segment %d" % i, []) for i in range(4)], "none", {}),
        ([(t0 + 80, "lat", "log append time", []), (t0 + 79, "lat", None, [])], "none",
         {"log_append_time": t0 + 99_000}),
        ([(t0 + 90 + i, "last-%d" % i, "x" * 100, [("i", str(i))]) for i in range(3)], "snappy", {}),
    ]
    segments = []
    offset = 0
    for group in (specs, second):
        seg = Segment(offset)
        for recs, codec, opts in group:
            raw = [(ts, text(k), text(v), [(text(hk), text(hv)) for hk, hv in h]) for ts, k, v, h in recs]
            entry = encode_batch(offset, raw, codec, producer=opts.get("producer", (-1, -1, -1)),
                                 log_append_time=opts.get("log_append_time"))
            lat = opts.get("log_append_time")
            max_ts = lat if lat is not None else max(r[0] for r in recs)
            last = offset + len(recs) - 1
            seg.append(entry, last, max_ts, {
                "base_offset": offset, "last_offset": last, "records_count": len(recs),
                "magic": 2, "compression": codec, "max_timestamp": max_ts,
            })
            for i, (ts, k, v, h) in enumerate(recs):
                expected.append(expected_record("fixture-0", offset + i, lat if lat is not None else ts,
                                                k, v, h))
            offset += len(recs)
        segments.append(seg)
    segments[0].roll()
    return segments


def legacy_partition(expected):
    """legacy-0: one segment of v0 and v1 messages, with gzip wrappers."""
    t0 = 1_600_000_000_000
    seg = Segment(0)

    def add(entry, base, last, magic, codec, max_ts, records):
        seg.append(entry, last, max_ts, {
            "base_offset": base, "last_offset": last, "records_count": len(records),
            "magic": magic, "compression": codec, "max_timestamp": max_ts,
        })
        for off, ts, k, v in records:
            expected.append(expected_record("legacy-0", off, ts, k, v, []))

    # v0: no timestamps (reported as -1).
    add(encode_message(0, 0, None, text("k0"), text("v0 message")), 0, 0, 0, "none", -1,
        [(0, -1, "k0", "v0 message")])
    add(encode_message(1, 0, None, None, None), 1, 1, 0, "none", -1, [(1, -1, None, None)])
    # v1 with create-time timestamps.
    add(encode_message(2, 1, t0, text("k2"), text("v1 message")), 2, 2, 1, "none", t0,
        [(2, t0, "k2", "v1 message")])
    add(encode_message(3, 1, t0 + 7, None, text("v1 null key")), 3, 3, 1, "none", t0 + 7,
        [(3, t0 + 7, None, "v1 null key")])
    # v1 gzip wrapper: inner offsets 0..2 relative; wrapper offset = last absolute offset (6);
    # wrapper timestamp = max inner timestamp (create time).
    inner = [(0, t0 + 10, "w-a", "wrapped a"), (1, t0 + 12, "w-b", "wrapped b"), (2, t0 + 11, None, "wrapped c")]
    inner_set = b"".join(encode_message(o, 1, ts, text(k), text(v)) for o, ts, k, v in inner)
    wrapper = encode_message(6, 1, t0 + 12, None, compress("gzip", inner_set), attributes=1)
    add(wrapper, 4, 6, 1, "gzip", t0 + 12, [(4 + o, ts, k, v) for o, ts, k, v in inner])
    # v0 gzip wrapper: inner offsets absolute (7, 8); wrapper offset = 8.
    inner0 = [(7, "v0-a", "v0 wrapped a"), (8, "v0-b", "v0 wrapped b")]
    inner0_set = b"".join(encode_message(o, 0, None, text(k), text(v)) for o, k, v in inner0)
    wrapper0 = encode_message(8, 0, None, None, compress("gzip", inner0_set), attributes=1)
    add(wrapper0, 7, 8, 0, "gzip", -1, [(o, -1, k, v) for o, k, v in inner0])
    return [seg]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "kafka")
    expected = []
    partitions = {"fixture-0": v2_partition(expected), "legacy-0": legacy_partition(expected)}
    summary = {"index_interval_bytes": INDEX_INTERVAL_BYTES, "partitions": {}, "records": expected}
    for name, segments in partitions.items():
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        summary["partitions"][name] = [seg.write(d) for seg in segments]
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %d records in %d partitions to %s" % (len(expected), len(partitions), out))


if __name__ == "__main__":
    main()

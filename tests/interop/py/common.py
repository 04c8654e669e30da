"""Shared helpers of the Python interop scripts: the records to produce, Java's murmur2
partitioner, and strict checks that exit non-zero with a one-line reason."""

import json
import sys
import time

# Anything that takes longer than this inside one script is a failure, not a hang.
DEADLINE_S = 45.0


def fail(message):
    """Prints the reason to stderr and exits 1."""
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def check(condition, message):
    """Fails with `message` unless `condition` holds."""
    if not condition:
        fail(message)


def emit(**fields):
    """Prints one JSON line on stdout (events and the final summary)."""
    print(json.dumps(fields, sort_keys=True), flush=True)


def now_ms():
    return int(time.time() * 1000)


def murmur2(data):
    """Java's org.apache.kafka.common.utils.Utils.murmur2, as an unsigned 32-bit value."""
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    mask = 0xFFFFFFFF
    length = len(data)
    h = (seed ^ length) & mask
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = data[length & ~3:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def java_partition(key, partitions):
    """The partition Java's default partitioner picks for a non-null key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# Known values from Apache Kafka's UtilsTest, to make sure the checker itself is right.
for _text, _signed in [("21", -973932308), ("foobar", -790332482),
                       ("a-little-bit-long-string", -985981536),
                       ("a-little-bit-longer-string", -1486304829),
                       ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
                       ("abc", 479470107)]:
    assert murmur2(_text.encode()) == _signed & 0xFFFFFFFF, _text


def make_records(label, count, base_ts):
    """Keyed records with headers and explicit, increasing timestamps. Every 10th record at
    position 3 has no headers and every 10th at position 7 is a tombstone (null value)."""
    records = []
    for i in range(count):
        key = f"key-{label}-{i}".encode()
        if i % 10 == 7:
            value = None
        else:
            value = f"value-{label}-{i}-é-{'x' * (i * 13 % 200)}".encode()
        if i % 10 == 3:
            headers = []
        else:
            headers = [("trace", str(i).encode()), ("label", label.encode()), ("empty", b"")]
        records.append({"key": key, "value": value, "headers": headers,
                        "timestamp": base_ts + i * 10})
    return records


def normalize_headers(headers):
    """Client headers (a list of (str, bytes) tuples, or None for none) as a list of tuples.
    A null header value stays None, so a client sending b"" and getting None back is caught."""
    return [(k, v) for k, v in (headers or [])]


def verify_partition(topic, partition, expected, got):
    """Checks that `got` (list of dicts with offset/key/value/headers/timestamp) is exactly
    `expected` (list of dicts with offset plus the produced fields) for one partition."""
    check(len(got) == len(expected),
          f"{topic}-{partition}: consumed {len(got)} records, produced {len(expected)}")
    for e, g in zip(expected, got):
        where = f"{topic}-{partition}@{e['offset']}"
        check(g["offset"] == e["offset"], f"{where}: got offset {g['offset']}")
        check(g["key"] == e["key"], f"{where}: key {g['key']!r} != {e['key']!r}")
        check(g["value"] == e["value"], f"{where}: value {g['value']!r} != {e['value']!r}")
        check(g["headers"] == e["headers"],
              f"{where}: headers {g['headers']!r} != {e['headers']!r}")
        check(g["timestamp"] == e["timestamp"],
              f"{where}: timestamp {g['timestamp']} != {e['timestamp']}")


def by_partition(delivered):
    """Delivered records (with partition and offset) grouped per partition, in offset order."""
    out = {}
    for rec in delivered:
        out.setdefault(rec["partition"], []).append(rec)
    for recs in out.values():
        recs.sort(key=lambda r: r["offset"])
    return out


def check_offsets_dense(topic, parts):
    """Offsets of each partition must be 0..n-1 (one producer, a fresh topic)."""
    for p, recs in parts.items():
        offsets = [r["offset"] for r in recs]
        check(offsets == list(range(len(recs))),
              f"{topic}-{p}: offsets assigned on produce are {offsets[:20]}..., not 0..{len(recs) - 1}")

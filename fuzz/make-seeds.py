#!/usr/bin/env python3
"""Writes the small valid seed inputs under fuzz/seeds/<target>/ from the Kafka-written
fixtures in tests/fixtures/kafka (a v2 log and a legacy magic 0/1 log) and hand-encoded
requests. Input layouts are documented in src/fuzzing.rs. Run from anywhere:
    python3 fuzz/make-seeds.py"""

import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "kafka"
SEEDS = ROOT / "fuzz" / "seeds"


def put(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def entries(log):
    """The entries (v2 batches or legacy messages) of a log file's bytes."""
    out, pos = [], 0
    while pos + 12 <= len(log):
        size = 12 + struct.unpack(">i", log[pos + 8:pos + 12])[0]
        out.append(log[pos:pos + size])
        pos += size
    return out


v2_log = (FIX / "fixture-0" / "00000000000000000000.log").read_bytes()
v2_index = (FIX / "fixture-0" / "00000000000000000000.index").read_bytes()
v2_time = (FIX / "fixture-0" / "00000000000000000000.timeindex").read_bytes()
legacy_log = (FIX / "legacy-0" / "00000000000000000000.log").read_bytes()
legacy_index = (FIX / "legacy-0" / "00000000000000000000.index").read_bytes()
legacy_time = (FIX / "legacy-0" / "00000000000000000000.timeindex").read_bytes()
v2_batches = entries(v2_log)
legacy_entries = entries(legacy_log)

# record_batch: single batches (first, last: differently compressed ones included) and a run.
for i, b in enumerate(v2_batches[:6]):
    put("record_batch", f"batch-{i}", b)
put("record_batch", "log-28", (FIX / "fixture-0" / "00000000000000000028.log").read_bytes())

# legacy_message_set: single entries and the whole set.
for i, e in enumerate(legacy_entries[:4]):
    put("legacy_message_set", f"entry-{i}", e)
put("legacy_message_set", "set", legacy_log)


# segment: flags, index length, time index length, index, time index, log.
def segment(flags, index, time, log):
    ilen = 0xFFFF if index is None else len(index)
    tlen = 0xFFFF if time is None else len(time)
    return struct.pack(">BHH", flags, ilen, tlen) + (index or b"") + (time or b"") + log


put("segment", "v2-closed", segment(0, v2_index, v2_time, v2_log))
put("segment", "v2-active", segment(1, v2_index, v2_time, v2_log))
put("segment", "v2-no-indexes", segment(0, None, None, v2_log))
put("segment", "v2-torn-tail", segment(1, v2_index, v2_time, v2_log[:-7]))
put("segment", "legacy", segment(0, legacy_index, legacy_time, legacy_log))
put("segment", "empty-active", segment(1, b"", b"", b""))

# offset_index / time_index: u64 parameter, base flag, the file.
put("offset_index", "v2", struct.pack(">QB", len(v2_log), 0) + v2_index)
put("offset_index", "v2-padded", struct.pack(">QB", len(v2_log), 0) + v2_index + bytes(40))
put("offset_index", "legacy", struct.pack(">QB", len(legacy_log), 0) + legacy_index)
put("time_index", "v2", struct.pack(">QB", 28, 0) + v2_time)
put("time_index", "v2-padded", struct.pack(">QB", 28, 0) + v2_time + bytes(36))
put("time_index", "legacy", struct.pack(">QB", 10, 0) + legacy_time)


# txn_index: u64 end offset past the base, base flag, the file (34-byte entries: version,
# producer id, first offset, last offset, last stable offset).
def txn_entry(pid, first, last, lso):
    return struct.pack(">hqqqq", 0, pid, first, last, lso)


two_aborts = txn_entry(7, 0, 4, 0) + txn_entry(9, 5, 12, 5)
put("txn_index", "two-aborts", struct.pack(">QB", 20, 0) + two_aborts)
put("txn_index", "torn", struct.pack(">QB", 20, 1) + two_aborts[:-5])
put("txn_index", "empty", struct.pack(">QB", 0, 0))


# request: frame bodies (header then body), as the dispatcher receives them.
def string(s):
    return struct.pack(">h", len(s)) + s.encode()


def header_v1(api, version, corr):
    return struct.pack(">hhi", api, version, corr) + string("fuzz")


def header_v2(api, version, corr):
    return header_v1(api, version, corr) + b"\x00"


def compact_string(s):
    return bytes([len(s) + 1]) + s.encode()


def produce_body(records, transactional=True):
    body = struct.pack(">h", -1) if transactional else b""  # transactional_id null
    body += struct.pack(">hi", -1, 5000)  # acks=all, timeout
    body += struct.pack(">i", 1) + string("t")  # one topic
    body += struct.pack(">i", 1) + struct.pack(">i", 0)  # one partition, index 0
    body += struct.pack(">i", len(records)) + records
    return body


requests = {
    "api-versions-v0": header_v1(18, 0, 1),
    "api-versions-v3": header_v2(18, 3, 2) + compact_string("fuzz") + compact_string("1") + b"\x00",
    "metadata-v1-all": header_v1(3, 1, 3) + struct.pack(">i", -1),
    "metadata-v4-one": header_v1(3, 4, 4) + struct.pack(">i", 1) + string("t") + b"\x01",
    "produce-v3": header_v1(0, 3, 5) + produce_body(b"".join(v2_batches[:3])),
    "produce-v2-legacy": header_v1(0, 2, 6) + produce_body(legacy_log, transactional=False),
    "produce-v0-legacy": header_v1(0, 0, 7) + produce_body(legacy_entries[0], transactional=False),
    "list-offsets-v1": header_v1(2, 1, 8) + struct.pack(">ii", -1, 1) + string("t")
    + struct.pack(">iiq", 1, 0, -2),
    "find-coordinator-v1": header_v1(10, 1, 9) + string("g") + b"\x00",
    "fetch-v4": header_v1(1, 4, 10) + struct.pack(">iiiib", -1, 500, 1, 1 << 20, 0)
    + struct.pack(">i", 1) + string("t") + struct.pack(">i", 1) + struct.pack(">iqi", 0, 0, 1 << 20),
}
for name, body in requests.items():
    put("request", name, body)

# frame: length-prefixed frames, one and several pipelined.
frames = [struct.pack(">i", len(b)) + b for b in requests.values()]
put("frame", "one", frames[0])
put("frame", "pipelined", b"".join(frames))
put("frame", "torn", b"".join(frames[:2])[:-3])

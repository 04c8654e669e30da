"""Shared by the transaction interop drivers (tests/interop_txn.rs): the records each
transaction writes, and the JSON events every driver prints so that the Rust test checks all
clients the same way.

A transaction labelled L writes COUNT records: record i has key `L-i`, value `L-i-value` and
goes to partition i % PARTITIONS. A driver reports what a consumer read as one event
`{"isolation": LEVEL, "records": [[partition, offset, key], ...]}` (in the order read), and
what a step did as `{"step": NAME, ...}`."""

from common import emit


def txn_records(label, count, partitions):
    """[(partition, key bytes, value bytes)] of the transaction labelled `label`."""
    return [(i % partitions, f"{label}-{i}".encode(), f"{label}-{i}-value".encode())
            for i in range(count)]


def emit_read(isolation, records):
    """Reports what a consumer with `isolation` read: [(partition, offset, key bytes)]."""
    emit(isolation=isolation,
         records=[[p, o, k.decode() if k is not None else None] for p, o, k in records])

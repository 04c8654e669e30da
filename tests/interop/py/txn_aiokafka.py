"""aiokafka transactions against runnel (tests/interop_txn.rs).

Modes:
  commit-abort BOOTSTRAP TOPIC PARTITIONS COUNT
      As txn_confluent.py's: transaction `c1` committed, `a1` aborted, `c2` committed; then a
      read_committed and a read_uncommitted consumer read every partition from the beginning to
      its end offset (ListOffsets with the consumer's isolation level: the last stable offset
      under read_committed).
  ctp BOOTSTRAP TOPIC PARTITIONS COUNT
      Consume-transform-produce: COUNT plain records `in-i` go to TOPIC-in; a read_committed
      consumer of group TOPIC-group reads them and a transactional producer writes one record per
      input (key `out-<round>-<input key>`) to TOPIC, with the consumed offsets sent to the
      transaction (send_offsets_to_transaction). Round `a` is aborted, round `c` committed. The
      group's committed offsets (OffsetFetch from another consumer) must stay unset while round
      `a` is open, after its abort and while round `c` is open, and equal the end of every input
      partition once `c` is committed. Then both consumers read TOPIC.

Prints JSON events (txn_common) and one summary line; exits non-zero with a reason on failure."""

import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from common import DEADLINE_S, check, emit, fail
from txn_common import emit_read, txn_records

mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
partitions, count = int(sys.argv[4]), int(sys.argv[5])
txn_id = f"{topic}-txn"


def transactional_producer():
    return AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id, acks="all",
                            enable_idempotence=True, linger_ms=5, request_timeout_ms=30_000)


async def read_all(name, isolation, tps):
    """[(partition, offset, key)] of `tps` from the beginning to their end offsets under
    `isolation` (the last stable offset for read_committed), in the order read."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=100)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        got = []
        deadline = time.time() + DEADLINE_S
        while True:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= end[tp] for tp in tps):
                break
            check(time.time() < deadline,
                  f"{name} {isolation}: positions {positions} short of end offsets {end}")
            batches = await consumer.getmany(*tps, timeout_ms=200)
            for tp, msgs in sorted(batches.items(), key=lambda kv: kv[0].partition):
                got += [(m.partition, m.offset, m.key) for m in msgs]
        return got
    finally:
        await consumer.stop()


async def run_txn(producer, label, commit):
    await producer.begin_transaction()
    futures = [await producer.send(topic, key=key, value=value, partition=partition)
               for partition, key, value in txn_records(label, count, partitions)]
    await asyncio.gather(*futures)
    if commit:
        await producer.commit_transaction()
    else:
        await producer.abort_transaction()
    emit(step="commit" if commit else "abort", label=label)


async def commit_abort():
    producer = transactional_producer()
    await producer.start()  # InitProducerId with the transactional.id
    try:
        emit(step="init")
        await run_txn(producer, "c1", commit=True)
        await run_txn(producer, "a1", commit=False)
        await run_txn(producer, "c2", commit=True)
    finally:
        await producer.stop()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    emit_read("read_committed", await read_all(topic, "read_committed", tps))
    emit_read("read_uncommitted", await read_all(topic, "read_uncommitted", tps))
    emit(summary=True, mode=mode, transactions=3)


async def ctp():
    source, group = f"{topic}-in", f"{topic}-group"
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await plain.start()
    try:
        futures = [await plain.send(source, key=key, value=value, partition=partition)
                   for partition, key, value in txn_records("in", count, partitions)]
        await asyncio.gather(*futures)
    finally:
        await plain.stop()
    in_tps = [TopicPartition(source, p) for p in range(partitions)]

    # Reads the group's committed offsets the way a restarted application would (OffsetFetch).
    checker = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                               enable_auto_commit=False)
    await checker.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                isolation_level="read_committed", enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=100)
    await consumer.start()
    producer = transactional_producer()
    await producer.start()

    async def committed():
        return {tp.partition: await checker.committed(tp) for tp in in_tps}

    async def transform(round_label, commit):
        """Reads every input record from the group's committed position (the beginning:
        nothing is committed yet) and writes its transformation in one transaction."""
        # Where the group has committed nothing, start over from the beginning (what
        # auto_offset_reset=earliest does for a restarted application).
        found = await consumer.seek_to_committed(*in_tps)
        uncommitted = [tp for tp, offset in found.items() if offset is None]
        if uncommitted:
            await consumer.seek_to_beginning(*uncommitted)
        end = await consumer.end_offsets(in_tps)
        inputs = []
        deadline = time.time() + DEADLINE_S
        while any([await consumer.position(tp) < end[tp] for tp in in_tps]):
            check(time.time() < deadline, f"round {round_label}: input not read in time")
            for msgs in (await consumer.getmany(*in_tps, timeout_ms=200)).values():
                inputs += msgs
        check(len(inputs) == count, f"round {round_label}: read {len(inputs)} of {count} inputs")
        await producer.begin_transaction()
        futures = [await producer.send(topic, key=f"out-{round_label}-{m.key.decode()}".encode(),
                                       value=m.value.upper(), partition=m.partition)
                   for m in inputs]
        await asyncio.gather(*futures)
        offsets = {tp: await consumer.position(tp) for tp in in_tps}
        await producer.send_offsets_to_transaction(offsets, group)
        pending = await committed()
        check(all(v is None for v in pending.values()),
              f"round {round_label}: group offsets {pending} visible before the transaction ended")
        if commit:
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()
        after = await committed()
        emit(step="commit" if commit else "abort", label=round_label,
             sent_offsets={tp.partition: o for tp, o in offsets.items()},
             committed_before_end=pending, committed_after_end=after)
        return offsets, after

    try:
        consumer.assign(in_tps)
        _, after_abort = await transform("a", commit=False)
        check(all(v is None for v in after_abort.values()),
              f"group offsets {after_abort} committed by an aborted transaction")
        offsets, after_commit = await transform("c", commit=True)
        want = {tp.partition: o for tp, o in offsets.items()}
        check(after_commit == want,
              f"group offsets after the commit are {after_commit}, sent {want}")
    finally:
        await producer.stop()
        await consumer.stop()
        await checker.stop()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    emit_read("read_committed", await read_all(topic, "read_committed", tps))
    emit_read("read_uncommitted", await read_all(topic, "read_uncommitted", tps))
    emit(summary=True, mode=mode)


async def main():
    try:
        await asyncio.wait_for({"commit-abort": commit_abort, "ctp": ctp}[mode](),
                               timeout=DEADLINE_S + 10)
    except asyncio.TimeoutError:
        fail(f"{mode} did not finish within {DEADLINE_S + 10} s")


asyncio.run(main())

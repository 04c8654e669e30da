"""confluent-kafka (librdkafka) transactions against runnel (tests/interop_txn.rs).

Modes:
  commit-abort BOOTSTRAP TOPIC PARTITIONS COUNT
      One transactional producer (transactional.id TOPIC-txn): transaction `c1` committed, `a1`
      aborted, `c2` committed (COUNT records each, see txn_common). Then a read_committed and a
      read_uncommitted consumer read every partition from the beginning to its end (librdkafka's
      partition EOF: the last stable offset under read_committed, the high watermark otherwise).
  fence BOOTSTRAP TOPIC PARTITIONS COUNT
      Producer A (transactional.id TOPIC-txn) begins transaction `zombie`, sends COUNT records
      and waits for their delivery; producer B with the same transactional.id calls
      init_transactions, which must fence A (epoch bump, A's open transaction aborted). A then
      sends once more and tries to commit: it must fail with a fatal error (PRODUCER_FENCED, or
      librdkafka's _FENCED). B commits transaction `winner`. Then both consumers read as above.
  timeout BOOTSTRAP TOPIC PARTITIONS COUNT TXN_TIMEOUT_MS
      A producer with transaction.timeout.ms=TXN_TIMEOUT_MS begins transaction `open`, sends
      COUNT records (delivered) and stays idle. A plain (non-transactional) producer then writes
      transaction-less records `after` to the same partitions. A read_committed consumer must not
      see `after` while `open` is pending (the last stable offset holds it back); once the
      coordinator aborts `open` on its timeout it sees all of `after` and nothing of `open`.
      The idle producer's commit must then fail. Reports how long after begin_transaction
      read_committed got past `open` (aborted_after_ms).

Prints JSON events (txn_common) and one summary line; exits non-zero with a reason on failure."""

import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from common import DEADLINE_S, check, emit, fail
from txn_common import emit_read, txn_records

mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
partitions, count = int(sys.argv[4]), int(sys.argv[5])
txn_id = f"{topic}-txn"


def transactional_producer(extra=None):
    return Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                     "acks": "all", "linger.ms": 5, "transaction.timeout.ms": 30_000,
                     "message.timeout.ms": 30_000, **(extra or {})})


def send(producer, label, errors):
    def on_delivery(err, msg):
        if err is not None:
            errors.append(f"delivery of {msg.key()!r}: {err}")

    for partition, key, value in txn_records(label, count, partitions):
        producer.produce(topic, key=key, value=value, partition=partition,
                         on_delivery=on_delivery)


def run_txn(producer, label, commit):
    """Begins a transaction, sends `label`'s records and commits or aborts it."""
    errors = []
    producer.begin_transaction()
    send(producer, label, errors)
    try:
        if commit:
            producer.commit_transaction(DEADLINE_S)
        else:
            # Aborting waits for (or purges) the records in flight, then writes ABORT markers.
            producer.flush(DEADLINE_S)
            producer.abort_transaction(DEADLINE_S)
    except KafkaException as e:
        fail(f"{'commit' if commit else 'abort'} of transaction {label}: {e.args[0]}")
    check(not errors, f"transaction {label}: " + "; ".join(errors[:5]))
    emit(step="commit" if commit else "abort", label=label)


def read_all(isolation, min_records=0, deadline_s=DEADLINE_S):
    """[(partition, offset, key)] of every partition from the beginning to its end for
    `isolation`, in the order read."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-{isolation}",
                         "enable.auto.commit": False, "isolation.level": isolation,
                         "auto.offset.reset": "earliest", "enable.partition.eof": True,
                         "fetch.wait.max.ms": 100})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, at_eof = [], set()
    deadline = time.time() + deadline_s
    while len(at_eof) < partitions or len(got) < min_records:
        check(time.time() < deadline,
              f"{isolation}: read {len(got)} records, partition EOF on {sorted(at_eof)} of "
              f"{partitions}, before the deadline")
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error() is not None:
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_eof.add(msg.partition())
                continue
            fail(f"{isolation} consumer: {msg.error()}")
        at_eof.discard(msg.partition())
        got.append((msg.partition(), msg.offset(), msg.key()))
    consumer.close()
    return got


def commit_abort():
    producer = transactional_producer()
    producer.init_transactions(DEADLINE_S)
    emit(step="init")
    run_txn(producer, "c1", commit=True)
    run_txn(producer, "a1", commit=False)
    run_txn(producer, "c2", commit=True)
    emit_read("read_committed", read_all("read_committed", 2 * count))
    emit_read("read_uncommitted", read_all("read_uncommitted", 3 * count))
    emit(summary=True, mode=mode, transactions=3)


def is_fenced(err):
    """True for librdkafka's view of a fenced producer: fatal, and _FENCED or PRODUCER_FENCED
    (older brokers: INVALID_PRODUCER_EPOCH)."""
    return err.fatal() and err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                          KafkaError.INVALID_PRODUCER_EPOCH)


def fence():
    a = transactional_producer()
    a.init_transactions(DEADLINE_S)
    a.begin_transaction()
    errors = []
    send(a, "zombie", errors)
    check(a.flush(DEADLINE_S) == 0, "zombie records undelivered")
    check(not errors, "zombie: " + "; ".join(errors[:5]))
    emit(step="zombie-sent")

    b = transactional_producer()
    b.init_transactions(DEADLINE_S)
    emit(step="init-second")

    # A is now a zombie: whatever it does next must fail for good (librdkafka raises the
    # fatal error from whichever call comes after the refused produce: flush or commit).
    fenced = None
    try:
        a.produce(topic, key=b"zombie-late", value=b"late", partition=0)
        a.flush(10)
        a.commit_transaction(DEADLINE_S)
    except KafkaException as e:
        fenced = e.args[0]
    check(fenced is not None, "the fenced producer's late record and commit succeeded")
    if not fenced.fatal() and fenced.txn_requires_abort():
        # An abortable error first (the late record refused): the abort must then be fenced.
        emit(step="zombie-commit-abortable", error=fenced.name(), message=fenced.str())
        try:
            a.abort_transaction(DEADLINE_S)
            fenced = None
        except KafkaException as e:
            fenced = e.args[0]
        check(fenced is not None, "the fenced producer's abort succeeded")
    check(is_fenced(fenced),
          f"the fenced producer's commit failed with {fenced.name()} ({fenced.code()}, "
          f"fatal={fenced.fatal()}), not a fatal PRODUCER_FENCED: {fenced}")
    emit(step="zombie-fenced", error=fenced.name(), code=fenced.code(), fatal=fenced.fatal(),
         message=fenced.str())

    run_txn(b, "winner", commit=True)
    emit_read("read_committed", read_all("read_committed", count))
    emit_read("read_uncommitted", read_all("read_uncommitted", 2 * count))
    emit(summary=True, mode=mode, fenced=fenced.name())


def timeout():
    txn_timeout_ms = int(sys.argv[6])
    idle = transactional_producer({"transaction.timeout.ms": txn_timeout_ms,
                                   "message.timeout.ms": txn_timeout_ms})
    idle.init_transactions(DEADLINE_S)
    # The coordinator starts the transaction's clock at its first AddPartitionsToTxn, after this.
    begun = time.monotonic()
    idle.begin_transaction()
    errors = []
    send(idle, "open", errors)
    check(idle.flush(DEADLINE_S) == 0, "open transaction's records undelivered")
    check(not errors, "open: " + "; ".join(errors[:5]))
    emit(step="open-sent")

    plain = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                      "enable.idempotence": False})
    send(plain, "after", errors)
    check(plain.flush(DEADLINE_S) == 0, "plain records undelivered")
    check(not errors, "after: " + "; ".join(errors[:5]))

    # While `open` is pending, read_committed stops at its first offset: nothing of `after`.
    # (Only meaningful if the coordinator has not aborted it yet: checked by the elapsed time.)
    early = read_all("read_committed", 0, deadline_s=10)
    still_open = (time.monotonic() - begun) * 1000 < txn_timeout_ms
    emit(step="read-while-open", still_open=still_open, read=len(early))
    if still_open:
        check(not early, f"read_committed read {len(early)} records behind an open "
                         f"transaction: {early[:5]}")

    # After the timeout the coordinator aborts `open`: read_committed then reaches `after`.
    consumer_deadline = time.monotonic() + DEADLINE_S
    while True:
        got = read_all("read_committed", 0, deadline_s=10)
        if len(got) >= count:
            break
        check(time.monotonic() < consumer_deadline,
              f"read_committed still reads {len(got)} records {DEADLINE_S} s after the open "
              f"transaction (transaction.timeout.ms={txn_timeout_ms}) began: not aborted")
        time.sleep(0.2)
    aborted_after_ms = (time.monotonic() - begun) * 1000
    emit_read("read_committed", got)
    emit_read("read_uncommitted", read_all("read_uncommitted", 2 * count))

    failure = None
    try:
        idle.commit_transaction(DEADLINE_S)
    except KafkaException as e:
        failure = e.args[0]
    check(failure is not None, "the timed-out transaction committed")
    emit(step="late-commit-failed", error=failure.name(), code=failure.code(),
         fatal=failure.fatal(), abortable=failure.txn_requires_abort(),
         message=failure.str())
    emit(summary=True, mode=mode, aborted_after_ms=round(aborted_after_ms))


{"commit-abort": commit_abort, "fence": fence, "timeout": timeout}[mode]()

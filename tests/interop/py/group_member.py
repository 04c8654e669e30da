"""One confluent-kafka consumer in a consumer group, for the group interop tests.

Subscribes to TOPIC in GROUP and prints one JSON line per event on stdout:
  {"event": "assignment", "member": NAME, "partitions": [...]}   after every (re)assignment
  {"event": "record", "member": NAME, "partition": P, "offset": O, "key": K, "value": V}
      printed only after the record's offset was committed (synchronously), so a record the
      test has seen is a record whose offset the group has stored
  {"event": "stopped", "member": NAME, "consumed": N}             after --stop-after records
The process runs until it is killed, until --stop-after records were consumed (then it closes
cleanly, leaving the group), or until a hard deadline of 150 s.

Usage: group_member.py BOOTSTRAP TOPIC GROUP NAME [--strategy S] [--session-timeout-ms N]
                       [--stop-after N]"""

import argparse
import time

from confluent_kafka import Consumer, KafkaException

from common import emit, fail

parser = argparse.ArgumentParser()
parser.add_argument("bootstrap")
parser.add_argument("topic")
parser.add_argument("group")
parser.add_argument("name")
parser.add_argument("--strategy", default="range")
parser.add_argument("--session-timeout-ms", type=int, default=6000)
parser.add_argument("--stop-after", type=int, default=0)
args = parser.parse_args()

cooperative = args.strategy == "cooperative-sticky"
consumer = Consumer({
    "bootstrap.servers": args.bootstrap,
    "group.id": args.group,
    "client.id": args.name,
    "partition.assignment.strategy": args.strategy,
    "session.timeout.ms": args.session_timeout_ms,
    "heartbeat.interval.ms": 1000,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
})
current = set()


def on_assign(_consumer, partitions):
    global current
    got = {p.partition for p in partitions}
    current = current | got if cooperative else got
    emit(event="assignment", member=args.name, partitions=sorted(current))


def on_revoke(_consumer, partitions):
    global current
    current = current - {p.partition for p in partitions} if cooperative else set()
    emit(event="assignment", member=args.name, partitions=sorted(current))


consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
consumed = 0
deadline = time.time() + 150
while time.time() < deadline:
    msg = consumer.poll(0.2)
    if msg is None:
        continue
    if msg.error() is not None:
        if msg.error().retriable() or msg.error().code() == -191:
            continue
        fail(f"{args.name}: consume error {msg.error()}")
    try:
        consumer.commit(message=msg, asynchronous=False)
    except KafkaException as e:
        fail(f"{args.name}: commit of {msg.partition()}@{msg.offset()} failed: {e}")
    consumed += 1
    emit(event="record", member=args.name, partition=msg.partition(), offset=msg.offset(),
         key=msg.key().decode() if msg.key() is not None else None,
         value=msg.value().decode() if msg.value() is not None else None)
    if args.stop_after and consumed >= args.stop_after:
        consumer.close()
        emit(event="stopped", member=args.name, consumed=consumed)
        break
else:
    fail(f"{args.name}: still running at the 150 s deadline")

"""confluent-kafka (librdkafka) against runnel: create a multi-partition topic with the admin
client, produce keyed records with headers and explicit timestamps (acks=all with zstd and gzip,
acks=1 with lz4 and snappy, partitioner murmur2_random as Java's), check the partition of every key, then consume
every partition back by offset with assign() (no subscription) and check every key, value,
header and timestamp, plus watermarks and offsets_for_times.

Usage: confluent_roundtrip.py BOOTSTRAP TOPIC PARTITIONS COUNT_PER_MODE
Prints one JSON summary line; exits non-zero with a reason on any mismatch."""

import sys
import time

from confluent_kafka import (Consumer, KafkaException, Producer, TopicPartition,
                             TIMESTAMP_CREATE_TIME)
from confluent_kafka.admin import AdminClient, NewTopic

from common import (DEADLINE_S, by_partition, check, check_offsets_dense, emit, fail,
                    java_partition, make_records, normalize_headers, now_ms, verify_partition)

bootstrap, topic, partitions, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

admin = AdminClient({"bootstrap.servers": bootstrap})
for name, future in admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                                  replication_factor=1)],
                                        operation_timeout=10, request_timeout=15).items():
    try:
        future.result(timeout=20)
    except KafkaException as e:
        fail(f"CreateTopics {name}: {e}")

metadata = admin.list_topics(topic=topic, timeout=10)
check(topic in metadata.topics and len(metadata.topics[topic].partitions) == partitions,
      f"metadata for {topic}: {metadata.topics.get(topic)}")

delivered = []
errors = []
base_ts = now_ms() - 7_200_000
MODES = [("all", "all", "zstd"), ("one", "1", "lz4"), ("gzip", "all", "gzip"),
         ("snappy", "1", "snappy")]
for index, (mode, acks, codec) in enumerate(MODES):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks,
                         "compression.type": codec, "linger.ms": 5,
                         "partitioner": "murmur2_random", "enable.idempotence": False})
    records = make_records(f"ck-{mode}", count, base_ts + index * count * 10)

    def on_delivery(err, msg, rec=None):
        if err is not None:
            errors.append(f"delivery of {msg.key()!r}: {err}")
        else:
            delivered.append(dict(rec, partition=msg.partition(), offset=msg.offset()))

    for rec in records:
        producer.produce(topic, key=rec["key"], value=rec["value"], headers=rec["headers"],
                         timestamp=rec["timestamp"],
                         on_delivery=lambda err, msg, rec=rec: on_delivery(err, msg, rec))
    remaining = producer.flush(30)
    check(remaining == 0, f"{remaining} records still undelivered after 30 s (acks={acks})")
check(not errors, "; ".join(errors[:5]))

for rec in delivered:
    expected_partition = java_partition(rec["key"], partitions)
    check(rec["partition"] == expected_partition,
          f"key {rec['key']!r} went to partition {rec['partition']}, Java's murmur2 says "
          f"{expected_partition}")

parts = by_partition(delivered)
check_offsets_dense(topic, parts)
check(len(parts) > 1, f"all keys landed on one partition: {list(parts)}")

# confluent-kafka insists on a group.id; assign() with explicit offsets never joins the group.
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-unused",
                     "enable.auto.commit": False, "enable.auto.offset.store": False,
                     "auto.offset.reset": "error", "enable.partition.eof": True})
for p in range(partitions):
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
    n = len(parts.get(p, []))
    check((low, high) == (0, n), f"{topic}-{p}: watermarks ({low}, {high}), expected (0, {n})")

for p, recs in parts.items():
    target = recs[len(recs) // 2]
    [found] = consumer.offsets_for_times([TopicPartition(topic, p, target["timestamp"])],
                                         timeout=30)
    check(found.error is None and found.offset == target["offset"],
          f"{topic}-{p}: offsets_for_times({target['timestamp']}) = {found.offset} "
          f"({found.error}), expected {target['offset']}")

consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
got = {p: [] for p in range(partitions)}
at_eof = set()
deadline = time.time() + DEADLINE_S
while len(at_eof) < partitions or sum(map(len, got.values())) < len(delivered):
    check(time.time() < deadline,
          f"consumed {sum(map(len, got.values()))} of {len(delivered)} records before deadline")
    msg = consumer.poll(0.5)
    if msg is None:
        continue
    if msg.error() is not None:
        if msg.error().code() == -191:  # _PARTITION_EOF
            at_eof.add(msg.partition())
            continue
        fail(f"consume error: {msg.error()}")
    ts_type, ts = msg.timestamp()
    check(ts_type == TIMESTAMP_CREATE_TIME, f"{msg.partition()}@{msg.offset()}: type {ts_type}")
    got[msg.partition()].append({"offset": msg.offset(), "key": msg.key(), "value": msg.value(),
                                 "headers": normalize_headers(msg.headers()), "timestamp": ts})
for p in range(partitions):
    verify_partition(topic, p, parts.get(p, []), got[p])

# Fetch from an offset in the middle of the biggest partition.
p, recs = max(parts.items(), key=lambda kv: len(kv[1]))
middle = recs[len(recs) // 2]
consumer.assign([TopicPartition(topic, p, middle["offset"])])
msg = None
deadline = time.time() + DEADLINE_S
while msg is None or msg.error() is not None:
    check(time.time() < deadline, f"no record fetched from {topic}-{p}@{middle['offset']}")
    msg = consumer.poll(0.5)
check(msg.offset() == middle["offset"] and msg.key() == middle["key"],
      f"assign at {middle['offset']} fetched offset {msg.offset()} key {msg.key()!r}")
consumer.close()

emit(client="confluent-kafka", produced=len(delivered),
     consumed=sum(map(len, got.values())), partitions_used=len(parts))

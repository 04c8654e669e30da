"""kafka-python against runnel: create a multi-partition topic with the admin client, produce
keyed records with headers and explicit timestamps (acks=all with gzip, acks=1 uncompressed),
check Java's murmur2 partitioning, then consume every partition back by offset (no group) and
check every key, value, header and timestamp, plus ListOffsets (earliest, latest, by time).

Usage: kafka_python_roundtrip.py BOOTSTRAP TOPIC PARTITIONS COUNT_PER_MODE
Prints one JSON summary line; exits non-zero with a reason on any mismatch."""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from common import (DEADLINE_S, by_partition, check, check_offsets_dense, emit, java_partition,
                    make_records, normalize_headers, now_ms, verify_partition)

bootstrap, topic, partitions, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="interop-kafka-python",
                         request_timeout_ms=15000)
response = admin.create_topics([NewTopic(name=topic, num_partitions=partitions,
                                         replication_factor=1)], timeout_ms=10000)
for result in response.topic_errors:
    check(result[1] == 0, f"CreateTopics {topic}: error code {result[1]} ({result})")
admin.close()

delivered = []
base_ts = now_ms() - 3_600_000
for mode, acks, codec in [("all", "all", "gzip"), ("one", 1, None)]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=acks, compression_type=codec,
                             linger_ms=5, retries=3, request_timeout_ms=15000)
    records = make_records(f"kp-{mode}", count, base_ts + (0 if mode == "all" else count * 10))
    futures = [(rec, producer.send(topic, key=rec["key"], value=rec["value"],
                                   headers=rec["headers"], timestamp_ms=rec["timestamp"]))
               for rec in records]
    producer.flush(timeout=30)
    for rec, future in futures:
        meta = future.get(timeout=30)
        expected_partition = java_partition(rec["key"], partitions)
        check(meta.partition == expected_partition,
              f"key {rec['key']!r} went to partition {meta.partition}, Java's murmur2 says "
              f"{expected_partition}")
        delivered.append(dict(rec, partition=meta.partition, offset=meta.offset))
    producer.close(timeout=10)

parts = by_partition(delivered)
check_offsets_dense(topic, parts)
check(len(parts) > 1, f"all keys landed on one partition: {list(parts)}")

consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", request_timeout_ms=30000,
                         client_id="interop-kafka-python")
tps = [TopicPartition(topic, p) for p in range(partitions)]
consumer.assign(tps)

ends = consumer.end_offsets(tps)
starts = consumer.beginning_offsets(tps)
for tp in tps:
    n = len(parts.get(tp.partition, []))
    check(starts[tp] == 0, f"{tp}: earliest offset {starts[tp]}, expected 0")
    check(ends[tp] == n, f"{tp}: latest offset {ends[tp]}, expected {n}")

# ListOffsets by timestamp: the first record at or after a record's timestamp is that record.
for p, recs in parts.items():
    target = recs[len(recs) // 2]
    tp = TopicPartition(topic, p)
    found = consumer.offsets_for_times({tp: target["timestamp"]})[tp]
    check(found is not None and found.offset == target["offset"],
          f"{tp}: offsets_for_times({target['timestamp']}) = {found}, expected {target['offset']}")

got = {p: [] for p in range(partitions)}
for tp in tps:
    consumer.seek(tp, 0)
deadline = time.time() + DEADLINE_S
while sum(map(len, got.values())) < len(delivered):
    check(time.time() < deadline,
          f"consumed {sum(map(len, got.values()))} of {len(delivered)} records before deadline")
    for tp, msgs in consumer.poll(timeout_ms=500).items():
        for m in msgs:
            check(m.timestamp_type == 0, f"{tp}@{m.offset}: timestamp type {m.timestamp_type}")
            got[tp.partition].append({"offset": m.offset, "key": m.key, "value": m.value,
                                      "headers": normalize_headers(m.headers),
                                      "timestamp": m.timestamp})
for p in range(partitions):
    verify_partition(topic, p, parts.get(p, []), got[p])

# Fetch from an offset in the middle of the biggest partition.
p, recs = max(parts.items(), key=lambda kv: len(kv[1]))
middle = recs[len(recs) // 2]
consumer.assign([TopicPartition(topic, p)])
consumer.seek(TopicPartition(topic, p), middle["offset"])
first = None
deadline = time.time() + DEADLINE_S
while first is None:
    check(time.time() < deadline, f"no record fetched from {topic}-{p}@{middle['offset']}")
    for msgs in consumer.poll(timeout_ms=500, max_records=1).values():
        first = first or msgs[0]
check(first.offset == middle["offset"] and first.key == middle["key"],
      f"seek to {middle['offset']} fetched offset {first.offset} key {first.key!r}")
consumer.close()

emit(client="kafka-python", produced=len(delivered),
     consumed=sum(map(len, got.values())), partitions_used=len(parts))

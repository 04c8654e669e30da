"""Creates a topic with confluent-kafka's admin client (CreateTopics), then waits until the
metadata shows all its partitions with a leader.

Usage: create_topic.py BOOTSTRAP TOPIC PARTITIONS"""

import sys
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from common import check, emit, fail

bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap})
future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                             operation_timeout=10, request_timeout=15)[topic]
try:
    future.result(timeout=20)
except KafkaException as e:
    fail(f"CreateTopics {topic}: {e}")

deadline = time.time() + 10
while True:
    meta = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
    ready = meta is not None and meta.error is None and len(meta.partitions) == partitions \
        and all(p.leader >= 0 for p in meta.partitions.values())
    if ready:
        break
    check(time.time() < deadline, f"{topic}: metadata not ready after 10 s: {meta}")
    time.sleep(0.1)
emit(created=topic, partitions=partitions)

"""confluent-kafka (librdkafka) acks=all producer for the kill -9 loop (tests/kill_loop.rs):
produces keys k-0, k-1, ... with values v-<n> to TOPIC until STOP_FILE exists, while the
broker is killed and restarted on the same address underneath it (librdkafka reconnects and
retries). Each record whose delivery report says success is appended to ACKED_FILE as one
`key` line, flushed at once, so the test knows exactly which records were acknowledged. Failed
deliveries are only counted: an unacknowledged record may or may not be in the log.

With MODE `idempotent` the producer has enable.idempotence=true (acks=all, at most 5 requests in
flight, retries in order): the broker must then write every record once, in order per partition.

Usage: kill_loop_producer.py BOOTSTRAP TOPIC ACKED_FILE STOP_FILE [plain|idempotent]
Prints one JSON summary line at the end."""

import os
import sys
import time

from confluent_kafka import Producer

from common import emit

bootstrap, topic, acked_path, stop_path = sys.argv[1:5]
idempotent = len(sys.argv) > 5 and sys.argv[5] == "idempotent"

# Records queued in librdkafka but not yet acknowledged, at most: keeps each outage's
# backlog (and so the final flush) small.
MAX_IN_FLIGHT = 2000
# After STOP_FILE appears, how long undelivered records may still be retried.
FINAL_FLUSH_S = 30.0
# Nothing in this script runs longer than this.
DEADLINE_S = 240.0

producer = Producer({
    "bootstrap.servers": bootstrap,
    "acks": "all",
    # Plain mode: retries may append a record twice (counted, not failed). Idempotent
    # mode: the broker's producer state (snapshots plus replay) must answer every retry.
    "enable.idempotence": idempotent,
    "linger.ms": 2,
    "retries": 1_000_000,
    "retry.backoff.ms": 50,
    "message.timeout.ms": 60_000,
    "request.timeout.ms": 5_000,
    "socket.timeout.ms": 5_000,
    "reconnect.backoff.ms": 20,
    "reconnect.backoff.max.ms": 200,
    "topic.metadata.refresh.interval.ms": 1_000,
})

acked_file = open(acked_path, "a", buffering=1)
stats = {"acked": 0, "failed": 0, "produced": 0}
first_errors = []


def on_delivery(err, msg):
    if err is None:
        acked_file.write(msg.key().decode() + "\n")
        stats["acked"] += 1
    else:
        stats["failed"] += 1
        if len(first_errors) < 5:
            first_errors.append(str(err))


start = time.monotonic()
n = 0
while not os.path.exists(stop_path) and time.monotonic() - start < DEADLINE_S:
    if len(producer) >= MAX_IN_FLIGHT:
        producer.poll(0.01)
        continue
    try:
        producer.produce(topic, key=f"k-{n}".encode(), value=f"v-{n}".encode(),
                         on_delivery=on_delivery)
        n += 1
        stats["produced"] = n
    except BufferError:
        producer.poll(0.01)
        continue
    producer.poll(0)
    if n % 50 == 0:
        time.sleep(0.005)

remaining = producer.flush(FINAL_FLUSH_S)
acked_file.flush()
os.fsync(acked_file.fileno())
acked_file.close()
emit(summary=True, undelivered=remaining, errors=first_errors, **stats)

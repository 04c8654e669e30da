"""Clients under client quotas, for tests/quotas.rs. Each mode runs for a fixed time, measures
what it achieved over the steady-state part (after WARMUP seconds) and what throttling the client
library itself reported, and prints one JSON summary line.

Usage:
  quota_clients.py produce  BOOTSTRAP TOPIC CLIENT_ID WARMUP SECONDS [PACE] (confluent-kafka;
                                                   PACE: bytes/s to offer, default unpaced)
  quota_clients.py consume  BOOTSTRAP TOPIC CLIENT_ID WARMUP SECONDS   (confluent-kafka)
  quota_clients.py tiny     BOOTSTRAP TOPIC CLIENT_ID SECONDS          (confluent-kafka, one
                                                   tiny record per request, awaited each time)
  quota_clients.py kprod    BOOTSTRAP TOPIC CLIENT_ID SECONDS          (kafka-python producer)
  quota_clients.py kcons    BOOTSTRAP TOPIC CLIENT_ID SECONDS          (kafka-python consumer)
"""

import json
import sys
import time

from common import check, emit, fail

mode = sys.argv[1]
bootstrap, topic, client_id = sys.argv[2], sys.argv[3], sys.argv[4]
VALUE = b"v" * 10_000


def steady_rate(events, begin, end):
    """Bytes per second between the first and the last event in [begin, end): the bytes after
    the first event over the time between them, so that responses arriving in bursts do not
    make the rate depend on where the window's edges fall."""
    times = [(t, n) for t, n in events if begin <= t < end]
    check(len(times) >= 2, f"fewer than two deliveries in the steady state: {len(times)}")
    first, last = times[0][0], times[-1][0]
    check(last - first >= (end - begin) / 2, f"deliveries only over {last - first:.1f} s")
    return sum(n for t, n in times if t > first) / (last - first)


class Throttle:
    """librdkafka's throttle events (throttle_cb) and its stats' throttle window."""

    def __init__(self):
        self.events = 0
        self.max_ms = 0
        self.stats_max_ms = 0

    def on_throttle(self, event):
        if event.throttle_time > 0:
            self.events += 1
            self.max_ms = max(self.max_ms, int(event.throttle_time * 1000))

    def on_stats(self, text):
        stats = json.loads(text)
        for broker in stats.get("brokers", {}).values():
            self.stats_max_ms = max(self.stats_max_ms, broker.get("throttle", {}).get("max", 0))


def rdkafka_config(throttle, **extra):
    config = {"bootstrap.servers": bootstrap, "client.id": client_id,
              "throttle_cb": throttle.on_throttle, "stats_cb": throttle.on_stats,
              "statistics.interval.ms": 500}
    config.update(extra)
    return config


def produce(warmup, seconds, pace=None):
    from confluent_kafka import Producer
    throttle = Throttle()
    producer = Producer(rdkafka_config(throttle, acks="1", **{
        "linger.ms": 5, "batch.size": 65536, "queue.buffering.max.kbytes": 1024,
        "enable.idempotence": False}))
    delivered = []  # (time, bytes)
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append((time.time(), len(msg.value())))

    start = time.time()
    end = start + warmup + seconds
    offered = 0
    while time.time() < end:
        if pace is not None and start + offered / pace > time.time():
            producer.poll(0.001)
            continue
        try:
            producer.produce(topic, value=VALUE, on_delivery=on_delivery)
            offered += len(VALUE)
        except BufferError:
            producer.poll(0.01)
        producer.poll(0)
    producer.flush(30)
    check(not errors, "; ".join(errors[:3]))
    emit(mode="produce", rate=steady_rate(delivered, start + warmup, end), total=sum(n for _, n in delivered),
         throttle_events=throttle.events, throttle_max_ms=throttle.max_ms,
         stats_throttle_max_ms=throttle.stats_max_ms)


def consume(warmup, seconds):
    from confluent_kafka import Consumer, TopicPartition
    throttle = Throttle()
    consumer = Consumer(rdkafka_config(throttle, **{
        "group.id": f"quota-{client_id}", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "fetch.message.max.bytes": 100000}))
    consumer.assign([TopicPartition(topic, 0, 0)])
    start = time.time()
    end = start + warmup + seconds
    received = []  # (time, bytes)
    while time.time() < end:
        msg = consumer.poll(0.1)
        if msg is None or msg.error() is not None:
            continue
        received.append((time.time(), len(msg.value())))
    consumer.close()
    emit(mode="consume", rate=steady_rate(received, start + warmup, end),
         total=sum(n for _, n in received), throttle_events=throttle.events,
         throttle_max_ms=throttle.max_ms, stats_throttle_max_ms=throttle.stats_max_ms)


def tiny(seconds):
    from confluent_kafka import Producer
    throttle = Throttle()
    producer = Producer(rdkafka_config(throttle, acks="1", **{
        "linger.ms": 0, "enable.idempotence": False}))
    done = [0]

    def on_delivery(err, msg):
        check(err is None, f"delivery: {err}")
        done[0] += 1

    end = time.time() + seconds
    while time.time() < end:
        before = done[0]
        producer.produce(topic, value=b"x", on_delivery=on_delivery)
        while done[0] == before:
            producer.poll(0.001)
    emit(mode="tiny", requests_per_s=done[0] / seconds, throttle_events=throttle.events,
         throttle_max_ms=throttle.max_ms)


def kafka_python_throttle_max(metrics):
    """The largest `*throttle-time-max` metric kafka-python keeps (connection and fetch)."""
    return max((v for group in metrics.values() for k, v in group.items()
                if k.endswith("throttle-time-max")), default=0.0)


def kprod(seconds):
    # Paced at twice the quota and never flushed while running: kafka-python 2.3.3's sender,
    # once throttled with nothing in flight, sleeps until the next send() wakes it (its
    # connection_delay is "infinite" for a connected node), so a flush() of a throttled
    # producer hangs; a steady stream of sends keeps it going, as in a real application.
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks=1,
                             linger_ms=5)
    sent = 0
    start = time.time()
    while time.time() < start + seconds:
        producer.send(topic, VALUE)
        sent += len(VALUE)
        pause = start + sent / 400_000 - time.time()
        if pause > 0:
            time.sleep(pause)
    throttle_max = kafka_python_throttle_max(producer.metrics())
    try:
        producer.close(timeout=2)
    except Exception:  # the hang described above; the metrics are what this checks
        pass
    emit(mode="kprod", sent=sent, throttle_max_ms=throttle_max)


def kcons(seconds):
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id=client_id,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             group_id=None)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = 0
    end = time.time() + seconds
    while time.time() < end:
        for records in consumer.poll(timeout_ms=100).values():
            got += sum(len(r.value) for r in records)
    throttle_max = kafka_python_throttle_max(consumer.metrics())
    consumer.close()
    emit(mode="kcons", received=got, throttle_max_ms=throttle_max)


if mode == "produce":
    produce(float(sys.argv[5]), float(sys.argv[6]),
            float(sys.argv[7]) if len(sys.argv) > 7 else None)
elif mode == "consume":
    consume(float(sys.argv[5]), float(sys.argv[6]))
elif mode == "tiny":
    tiny(float(sys.argv[5]))
elif mode == "kprod":
    kprod(float(sys.argv[5]))
elif mode == "kcons":
    kcons(float(sys.argv[5]))
else:
    fail(f"unknown mode {mode}")

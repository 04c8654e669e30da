"""confluent-kafka (librdkafka) transactional producer for bin/kill-loop-txn: killed with SIGKILL
together with the broker, mid-transaction as often as not, then started again with the same
transactional.id (whose init_transactions must fence and abort what the killed incarnation left
open).

Runs transactions until STOP_FILE exists. Transaction number n of incarnation INC is labelled
`INC-n` and has a random number k (1..MAX_RECORDS) of records; record j has key `INC-n/j`,
value `INC-n k j` and goes to partition j % PARTITIONS. Half the records are sent and flushed,
then the producer sleeps a few milliseconds, sends the rest and commits: so a kill often finds
a transaction open with records already in the log. PROGRESS_FILE gets (line-buffered, so
whoever kills this process knows whether a transaction was open and which ones were
acknowledged as committed) `start INC` first, `ready INC SECONDS` once init_transactions
returned, `begin LABEL K` before each transaction and `commit LABEL K` after each successful
commit.

Usage: kill_loop_txn_producer.py BOOTSTRAP TOPIC PARTITIONS TRANSACTIONAL_ID INC PROGRESS_FILE
                                 STOP_FILE
Prints one JSON summary line when stopped through STOP_FILE; exits non-zero on any failure."""

import os
import random
import sys
import time

from confluent_kafka import KafkaException, Producer

from common import emit, fail

bootstrap, topic, partitions, txn_id, inc, progress_path, stop_path = sys.argv[1:8]
partitions = int(partitions)
MAX_RECORDS = 40
# Nothing in this script runs longer than this.
DEADLINE_S = 300.0

producer = Producer({
    "bootstrap.servers": bootstrap,
    "transactional.id": txn_id,
    "acks": "all",
    "linger.ms": 2,
    "transaction.timeout.ms": 20_000,
    "message.timeout.ms": 20_000,
    "socket.timeout.ms": 5_000,
    "reconnect.backoff.ms": 20,
    "reconnect.backoff.max.ms": 200,
})
progress = open(progress_path, "a", buffering=1)
progress.write(f"start {inc}\n")

start = time.monotonic()
try:
    producer.init_transactions(30)
except KafkaException as e:
    fail(f"init_transactions of incarnation {inc}: {e.args[0]}")
progress.write(f"ready {inc} {time.monotonic() - start:.3f}\n")

n = committed = 0
while not os.path.exists(stop_path) and time.monotonic() - start < DEADLINE_S:
    label = f"{inc}-{n}"
    k = random.randint(1, MAX_RECORDS)
    progress.write(f"begin {label} {k}\n")
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))

    try:
        producer.begin_transaction()
        for j in range(k):
            producer.produce(topic, key=f"{label}/{j}".encode(),
                             value=f"{label} {k} {j}".encode(), partition=j % partitions,
                             on_delivery=on_delivery)
            if j == k // 2:
                producer.flush(20)
                time.sleep(random.uniform(0, 0.02))
        producer.commit_transaction(30)
    except KafkaException as e:
        fail(f"transaction {label}: {e.args[0]}")
    if errors:
        fail(f"transaction {label} committed with failed deliveries: {errors[:3]}")
    progress.write(f"commit {label} {k}\n")
    committed += 1
    n += 1

progress.close()
emit(summary=True, incarnation=inc, committed=committed)

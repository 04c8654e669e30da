// kafkajs transactions against runnel (tests/interop_txn.rs): one transactional producer
// (transactionalId TOPIC-txn, idempotent, one request in flight) commits transaction `c1`,
// aborts `a1` and commits `c2` (COUNT records each: key `L-i`, value `L-i-value`, partition
// i % PARTITIONS, as tests/interop/py/txn_common.py). Then a read_committed and a
// read_uncommitted consumer (each its own group, subscribed from the beginning) read the topic
// until they have the records they should, plus a quiet second to catch anything more.
//
// Usage: node txn.js BOOTSTRAP TOPIC PARTITIONS COUNT
// Prints JSON events {isolation, records: [[partition, offset, key], ...]} and a summary line;
// exits non-zero on failure.
'use strict';

const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, partitionsArg, countArg] = process.argv.slice(2);
const partitions = Number(partitionsArg);
const count = Number(countArg);

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

function emit(fields) {
  console.log(JSON.stringify(fields));
}

function txnMessages(label) {
  const messages = [];
  for (let i = 0; i < count; i++) {
    messages.push({ key: `${label}-${i}`, value: `${label}-${i}-value`, partition: i % partitions });
  }
  return messages;
}

async function runTxn(producer, label, commit) {
  const txn = await producer.transaction();
  await txn.send({ topic, acks: -1, messages: txnMessages(label) });
  if (commit) await txn.commit();
  else await txn.abort();
  emit({ step: commit ? 'commit' : 'abort', label });
}

async function readAll(kafka, isolation, expected, quietMs) {
  const consumer = kafka.consumer({
    groupId: `${topic}-${isolation}`,
    readUncommitted: isolation === 'read_uncommitted',
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      got.push([partition, Number(message.offset), message.key && message.key.toString()]);
    },
  });
  const start = Date.now();
  while (got.length < expected) {
    if (Date.now() - start > 40000) fail(`${isolation}: read ${got.length} of ${expected} records`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, quietMs));
  await consumer.disconnect();
  return got;
}

async function main() {
  const timer = setTimeout(() => fail('timed out after 100 s'), 100000);
  const kafka = new Kafka({ clientId: 'interop-kafkajs-txn', brokers: [bootstrap], logLevel: logLevel.ERROR });
  const producer = kafka.producer({ transactionalId: `${topic}-txn`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  emit({ step: 'init' });
  await runTxn(producer, 'c1', true);
  await runTxn(producer, 'a1', false);
  await runTxn(producer, 'c2', true);
  await producer.disconnect();

  emit({ isolation: 'read_committed', records: await readAll(kafka, 'read_committed', 2 * count, 1000) });
  emit({ isolation: 'read_uncommitted', records: await readAll(kafka, 'read_uncommitted', 3 * count, 1000) });
  emit({ summary: true, client: 'kafkajs', transactions: 3 });
  clearTimeout(timer);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));

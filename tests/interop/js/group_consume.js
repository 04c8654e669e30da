// kafkajs consumer group against runnel: create a topic, produce keyed records with headers,
// consume them back with a group (subscribe fromBeginning, autocommit), check every key, value,
// header and partition, then start a second consumer in the same group and check it gets nothing
// (offsets were committed).
//
// Usage: node group_consume.js BOOTSTRAP TOPIC GROUP PARTITIONS COUNT
// Prints a summary line {client, produced, consumed, resumed}; exits non-zero on any mismatch.
'use strict';

const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, group, partitionsArg, countArg] = process.argv.slice(2);
const partitions = Number(partitionsArg);
const count = Number(countArg);

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

async function consumeUntil(kafka, expected, quietMs) {
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  let assigned = false;
  consumer.on(consumer.events.GROUP_JOIN, () => { assigned = true; });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      got.push({
        partition,
        offset: Number(message.offset),
        key: message.key && message.key.toString(),
        value: message.value && message.value.toString(),
        headers: Object.fromEntries(
          Object.entries(message.headers || {}).map(([k, v]) => [k, v.toString()])),
        timestamp: Number(message.timestamp),
      });
    },
  });
  const start = Date.now();
  while (!assigned || got.length < expected) {
    if (Date.now() - start > 40000) fail(`consumed ${got.length} of ${expected} (joined: ${assigned})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, quietMs));
  await consumer.disconnect();
  return got;
}

async function main() {
  const timer = setTimeout(() => fail('timed out after 100 s'), 100000);
  const kafka = new Kafka({ clientId: 'interop-kafkajs-group', brokers: [bootstrap], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();

  const producer = kafka.producer();
  await producer.connect();
  const baseTs = Date.now() - 1000000;
  const sent = [];
  for (let i = 0; i < count; i++) {
    sent.push({ key: `gkey-${i}`, value: `gvalue-${i}`, headers: { n: String(i) }, timestamp: String(baseTs + i) });
  }
  await producer.send({ topic, acks: -1, messages: sent });
  await producer.disconnect();

  const got = await consumeUntil(kafka, count, 1000);
  if (got.length !== count) fail(`consumed ${got.length} records, produced ${count}`);
  const seen = new Set();
  for (const g of got) {
    const id = `${g.partition}@${g.offset}`;
    if (seen.has(id)) fail(`record ${id} consumed twice`);
    seen.add(id);
    const i = Number(g.key.slice('gkey-'.length));
    const s = sent[i];
    if (!s) fail(`unexpected key ${g.key}`);
    if (g.value !== s.value || g.headers.n !== s.headers.n || g.timestamp !== Number(s.timestamp)) {
      fail(`record ${id} differs: ${JSON.stringify(g)} vs ${JSON.stringify(s)}`);
    }
  }
  // Everything was committed: the group resumes at the end and gets nothing more.
  const again = await consumeUntil(kafka, 0, 3000);
  clearTimeout(timer);
  console.log(JSON.stringify({ client: 'kafkajs', produced: count, consumed: got.length, resumed: again.length }));
}

main().catch((e) => fail(e.stack || String(e)));

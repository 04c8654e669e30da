// kafkajs against runnel: create a multi-partition topic with the admin client, produce keyed
// records with headers and explicit timestamps (acks=-1 with gzip, acks=1 uncompressed), check
// the returned offsets and the topic's offsets from the admin client (ListOffsets).
//
// Usage: node produce.js BOOTSTRAP TOPIC PARTITIONS COUNT_PER_MODE
// Prints one JSON line per produced record ({partition, offset, key, value, headers, timestamp})
// and a final summary line; exits non-zero with a reason on any error.
'use strict';

const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const [bootstrap, topic, partitionsArg, countArg] = process.argv.slice(2);
const partitions = Number(partitionsArg);
const count = Number(countArg);

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

function makeRecords(label, n, baseTs) {
  const records = [];
  for (let i = 0; i < n; i++) {
    records.push({
      key: `key-${label}-${i}`,
      value: i % 10 === 7 ? null : `value-${label}-${i}-é-${'x'.repeat((i * 13) % 200)}`,
      headers: i % 10 === 3 ? {} : { trace: String(i), label },
      timestamp: String(baseTs + i * 10),
    });
  }
  return records;
}

async function main() {
  const timer = setTimeout(() => fail('timed out after 45 s'), 45000);
  const kafka = new Kafka({
    clientId: 'interop-kafkajs',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    retry: { retries: 3 },
  });

  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
  });
  if (!created) fail(`createTopics(${topic}) reported the topic already existed`);

  const producer = kafka.producer();
  await producer.connect();
  const delivered = [];
  const baseTs = Date.now() - 3600000;
  const modes = [
    { label: 'kjs-all', acks: -1, compression: CompressionTypes.GZIP, base: baseTs },
    { label: 'kjs-one', acks: 1, compression: CompressionTypes.None, base: baseTs + count * 10 },
  ];
  for (const mode of modes) {
    const records = makeRecords(mode.label, count, mode.base);
    const results = await producer.send({
      topic,
      acks: mode.acks,
      compression: mode.compression,
      messages: records,
    });
    // One send: per partition, the records keep their order from baseOffset on. Which partition
    // each record took is the default partitioner's choice (murmur2, as Java's); the test checks
    // that from the records read back.
    const byPartition = new Map();
    for (const r of results) {
      if (r.errorCode !== 0) fail(`produce to ${r.topicName}-${r.partition}: error ${r.errorCode}`);
      byPartition.set(r.partition, { next: BigInt(r.baseOffset) });
    }
    const { DefaultPartitioner } = require('kafkajs').Partitioners;
    const partitioner = DefaultPartitioner();
    const partitionMeta = [...Array(partitions).keys()].map((p) => ({ partitionId: p, leader: 0 }));
    for (const rec of records) {
      const partition = partitioner({ topic, partitionMetadata: partitionMeta, message: rec });
      const slot = byPartition.get(partition);
      if (!slot) fail(`no produce result for partition ${partition} of key ${rec.key}`);
      delivered.push({ partition, offset: Number(slot.next), ...rec, timestamp: Number(rec.timestamp) });
      slot.next += 1n;
    }
  }
  await producer.disconnect();

  const offsets = await admin.fetchTopicOffsets(topic);
  for (const o of offsets) {
    const n = delivered.filter((d) => d.partition === o.partition).length;
    if (Number(o.low) !== 0 || Number(o.high) !== n) {
      fail(`${topic}-${o.partition}: offsets low=${o.low} high=${o.high}, expected 0 and ${n}`);
    }
  }
  if (offsets.length !== partitions) fail(`fetchTopicOffsets listed ${offsets.length} partitions`);
  await admin.disconnect();
  clearTimeout(timer);

  for (const d of delivered) {
    console.log(JSON.stringify({ ...d, headers: Object.entries(d.headers) }));
  }
  console.log(JSON.stringify({ client: 'kafkajs', produced: delivered.length }));
}

main().catch((e) => fail(e.stack || String(e)));

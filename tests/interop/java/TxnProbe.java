// The Apache Kafka Java client (kafka-clients) against runnel (tests/interop_txn.rs); compiled
// with javac at test time against the jars bin/setup-test-deps puts in .venv/kafka-java.
//
//  1. The default producer (only bootstrap.servers and serializers set: Java's defaults are
//     acks=all and enable.idempotence=true) sends COUNT records `p-i` to PLAIN_TOPIC, partition
//     i % PARTITIONS, and waits for every acknowledgement.
//  2. A transactional producer (transactional.id TXN_TOPIC-txn) commits transaction `c1`, aborts
//     `a1` and commits `c2` on TXN_TOPIC (COUNT records each: key `L-i`, value `L-i-value`,
//     partition i % PARTITIONS, as tests/interop/py/txn_common.py).
//  3. A read_committed consumer reads PLAIN_TOPIC and TXN_TOPIC, and a read_uncommitted one
//     TXN_TOPIC, every partition from the beginning to its end offset (endOffsets honours the
//     isolation level: the last stable offset under read_committed).
//
// Usage: java -cp ... TxnProbe BOOTSTRAP PLAIN_TOPIC TXN_TOPIC PARTITIONS COUNT
// Prints JSON events {topic, isolation, records: [[partition, offset, key], ...]} and a summary
// line; exits non-zero on failure.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class TxnProbe {
    private static String bootstrap;
    private static int partitions;
    private static int count;

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        String plainTopic = args[1];
        String txnTopic = args[2];
        partitions = Integer.parseInt(args[3]);
        count = Integer.parseInt(args[4]);

        Properties plain = new Properties();
        plain.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        plain.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        plain.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(plain)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (ProducerRecord<String, String> r : records(plainTopic, "p")) {
                acks.add(producer.send(r));
            }
            for (Future<RecordMetadata> f : acks) {
                f.get();
            }
            emit("{\"step\":\"default-producer\",\"acked\":" + acks.size() + "}");
        }

        Properties txn = new Properties();
        txn.putAll(plain);
        txn.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnTopic + "-txn");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(txn)) {
            producer.initTransactions();
            emit("{\"step\":\"init\"}");
            runTxn(producer, txnTopic, "c1", true);
            runTxn(producer, txnTopic, "a1", false);
            runTxn(producer, txnTopic, "c2", true);
        }

        emitRead(plainTopic, "read_committed");
        emitRead(txnTopic, "read_committed");
        emitRead(txnTopic, "read_uncommitted");
        emit("{\"summary\":true,\"client\":\"kafka-clients\",\"transactions\":3}");
    }

    private static List<ProducerRecord<String, String>> records(String topic, String label) {
        List<ProducerRecord<String, String>> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(new ProducerRecord<>(topic, i % partitions, label + "-" + i,
                    label + "-" + i + "-value"));
        }
        return out;
    }

    private static void runTxn(KafkaProducer<String, String> producer, String topic, String label,
            boolean commit) throws Exception {
        producer.beginTransaction();
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        for (ProducerRecord<String, String> r : records(topic, label)) {
            acks.add(producer.send(r));
        }
        producer.flush();
        for (Future<RecordMetadata> f : acks) {
            f.get();
        }
        if (commit) {
            producer.commitTransaction();
        } else {
            producer.abortTransaction();
        }
        emit("{\"step\":\"" + (commit ? "commit" : "abort") + "\",\"label\":\"" + label + "\"}");
    }

    private static void emitRead(String topic, String isolation) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                StringDeserializer.class.getName());
        StringBuilder out = new StringBuilder();
        out.append("{\"topic\":\"").append(topic).append("\",\"isolation\":\"").append(isolation)
                .append("\",\"records\":[");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int p = 0; p < partitions; p++) {
                tps.add(new TopicPartition(topic, p));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> end = consumer.endOffsets(tps, Duration.ofSeconds(30));
            long deadline = System.currentTimeMillis() + 40_000;
            boolean first = true;
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps) {
                    if (consumer.position(tp, Duration.ofSeconds(30)) < end.get(tp)) {
                        done = false;
                    }
                }
                if (done) {
                    break;
                }
                if (System.currentTimeMillis() > deadline) {
                    fail(topic + " " + isolation + ": end offsets " + end + " not reached");
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    out.append(first ? "" : ",").append('[').append(r.partition()).append(',')
                            .append(r.offset()).append(",\"").append(r.key()).append("\"]");
                    first = false;
                }
            }
        }
        emit(out.append("]}").toString());
    }

    private static void emit(String json) {
        System.out.println(json);
        System.out.flush();
    }

    private static void fail(String message) {
        System.err.println("FAIL: " + message);
        System.exit(1);
    }
}

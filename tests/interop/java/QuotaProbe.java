// The Apache Kafka Java client (kafka-clients) against runnel's client quotas
// (tests/quotas.rs); compiled with javac at test time against the jars bin/setup-test-deps puts
// in .venv/kafka-java.
//
//  1. Admin.alterClientQuotas sets producer_byte_rate for client id `java-p` and
//     consumer_byte_rate for `java-c` (RATE each); Admin.describeClientQuotas reads them back.
//  2. A producer (client.id java-p) sends 10 KB records for SECONDS; its own metric
//     producer-metrics/produce-throttle-time-max is reported.
//  3. A consumer (client.id java-c) reads the topic for SECONDS; its
//     consumer-fetch-manager-metrics/fetch-throttle-time-max is reported.
//
// Usage: java -cp ... QuotaProbe BOOTSTRAP TOPIC RATE SECONDS
// Prints one JSON line per step; exits non-zero on failure.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class QuotaProbe {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        double rate = Double.parseDouble(args[2]);
        long seconds = Long.parseLong(args[3]);

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(ap)) {
            List<ClientQuotaAlteration> alterations = List.of(
                new ClientQuotaAlteration(
                    new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, "java-p")),
                    List.of(new ClientQuotaAlteration.Op("producer_byte_rate", rate))),
                new ClientQuotaAlteration(
                    new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, "java-c")),
                    List.of(new ClientQuotaAlteration.Op("consumer_byte_rate", rate))));
            admin.alterClientQuotas(alterations).all().get();
            Map<ClientQuotaEntity, Map<String, Double>> described = admin.describeClientQuotas(
                ClientQuotaFilter.containsOnly(List.of(
                    ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.CLIENT_ID))))
                .entities().get();
            StringBuilder sb = new StringBuilder();
            for (Map.Entry<ClientQuotaEntity, Map<String, Double>> e : described.entrySet()) {
                String client = e.getKey().entries().get(ClientQuotaEntity.CLIENT_ID);
                for (Map.Entry<String, Double> v : e.getValue().entrySet()) {
                    if (sb.length() > 0) sb.append(',');
                    sb.append('"').append(client).append('/').append(v.getKey()).append("\":")
                        .append(v.getValue().longValue());
                }
            }
            System.out.println("{\"step\":\"describe\",\"quotas\":{" + sb + "}}");
        }

        byte[] value = new byte[10_000];
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "java-p");
        pp.put(ProducerConfig.ACKS_CONFIG, "1");
        pp.put(ProducerConfig.BUFFER_MEMORY_CONFIG, "1048576");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        long sent = 0;
        double produceThrottle;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp)) {
            long end = System.currentTimeMillis() + seconds * 1000;
            while (System.currentTimeMillis() < end) {
                producer.send(new ProducerRecord<>(topic, 0, null, value));
                sent += value.length;
            }
            producer.flush();
            produceThrottle = metric(producer.metrics(), "producer-metrics",
                "produce-throttle-time-max");
        }
        System.out.println("{\"step\":\"produce\",\"sent\":" + sent
            + ",\"throttle_max_ms\":" + produceThrottle + "}");

        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-c");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
            ByteArrayDeserializer.class.getName());
        long received = 0;
        double fetchThrottle;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = System.currentTimeMillis() + seconds * 1000;
            while (System.currentTimeMillis() < end) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    received += r.value().length;
                }
            }
            fetchThrottle = metric(consumer.metrics(), "consumer-fetch-manager-metrics",
                "fetch-throttle-time-max");
        }
        System.out.println("{\"step\":\"consume\",\"received\":" + received
            + ",\"throttle_max_ms\":" + fetchThrottle + "}");
    }

    private static double metric(Map<MetricName, ? extends Metric> metrics, String group,
                                 String name) {
        for (Map.Entry<MetricName, ? extends Metric> e : metrics.entrySet()) {
            if (e.getKey().group().equals(group) && e.getKey().name().equals(name)) {
                Object v = e.getValue().metricValue();
                if (v instanceof Double d && !d.isNaN()) return d;
            }
        }
        return 0.0;
    }
}

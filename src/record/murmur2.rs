//! Kafka's murmur2 hash and the default partitioner's choice for keyed records.

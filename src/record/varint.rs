//! Zigzag varints and varlongs as Kafka's record format encodes them.

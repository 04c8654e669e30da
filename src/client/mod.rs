//! A Kafka client on the `kafka-protocol` crate's messages, async on tokio.
pub mod admin;
pub mod cluster;
pub mod connection;
pub mod error;
pub mod offsets;
pub mod versions;

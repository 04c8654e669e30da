//! `runnel serve`: a single-node broker speaking Kafka's wire protocol over
//! the log engine.

pub mod config;
pub mod topic_config;

pub use config::BrokerConfig;

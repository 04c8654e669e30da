//! `runnel serve`: a single-node broker speaking Kafka's wire protocol over
//! the log engine.
//!
//! [`server::Server`] binds and serves; [`state::Broker`] holds the topics
//! and their logs; [`connection`] runs one client connection (pipelined
//! requests answered in order); [`dispatch::Dispatcher`] routes each request
//! to its handler in [`handlers`], which call the coordinators of
//! [`coordinators`] directly (the group coordinator of [`group`] over the
//! broker's `__consumer_offsets`). [`background`] runs retention and the log
//! cleaner; [`config`] reads Kafka's broker configs;
//! [`producer_id_manager`] hands out producer ids durably; [`quota`]
//! keeps client quotas and throttles clients over them.

pub mod background;
pub mod config;
pub mod connection;
pub mod coordinators;
pub mod dispatch;
pub mod group;
pub mod handlers;
pub mod legacy_produce;
pub mod producer_id_manager;
pub mod quota;
pub mod schema_reader;
pub mod server;
pub mod state;
pub mod topic_config;
pub mod txn;

pub use config::BrokerConfig;
pub use dispatch::RequestContext;
pub use server::Server;
pub use state::Broker;

//! `runnel serve`: a single-node broker speaking Kafka's wire protocol over
//! the log engine.
//!
//! [`server::Server`] binds and serves; [`state::Broker`] holds the topics
//! and their logs; [`dispatch::Dispatcher`] routes each request to its
//! handler in [`handlers`], and the group APIs to a
//! [`group_seam::GroupApis`] implementation (the group coordinator).

pub mod background;
pub mod config;
pub mod connection;
pub mod dispatch;
pub mod group;
pub mod group_glue;
pub mod group_seam;
pub mod handlers;
pub mod producer_state;
pub mod server;
pub mod state;
pub mod topic_config;

pub use config::BrokerConfig;
pub use group_seam::{GroupApis, RequestContext};
pub use server::Server;
pub use state::Broker;

//! runnel: a Kafka-compatible streaming platform in one small binary.
//!
//! The library is split by part: [`record`] (Kafka's record batch format),
//! [`log`] (the on-disk log engine), [`protocol`] (Kafka wire framing and
//! API dispatch), [`broker`] (`runnel serve`), [`client`] (a Kafka client on
//! the same messages) and [`cli`] (the `runnel` command line).

pub mod broker;
pub mod cli;
pub mod client;
#[doc(hidden)]
pub mod fuzzing;
pub mod log;
pub mod protocol;
pub mod record;

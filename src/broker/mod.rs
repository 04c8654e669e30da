//! (in progress)
pub mod group;

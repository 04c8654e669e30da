//! Decoding the records of a batch (v2, or legacy v0/v1 message sets).

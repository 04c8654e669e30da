//! Kafka's wire protocol on a connection: length-prefixed framing, request
//! and response headers in the version each API needs, the table of
//! supported API versions, and responses written in pieces so that record
//! bytes can go from a segment file straight to the socket.
//!
//! Every message body is a `kafka-protocol` type; nothing here encodes a
//! message by hand.

pub mod frame;
pub mod header;
pub mod response;
pub mod versions;
pub mod writer;

pub use frame::{FrameError, FrameReader, RequestBudget};
pub use header::{RequestPreamble, decode_request_header};
pub use response::{Chunk, ResponseBody, encode_response, encode_response_with_files};
pub use versions::SupportedApis;

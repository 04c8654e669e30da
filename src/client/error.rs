//! Errors of the Kafka client, each a clear one-liner naming the broker or
//! the Kafka error (`NOT_LEADER_OR_FOLLOWER`, `TOPIC_ALREADY_EXISTS`, ...).

use std::fmt;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;

/// A Kafka error code as the broker returned it, with Kafka's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaCode(pub i16);

impl KafkaCode {
    /// The error, or `None` for code 0.
    pub fn error(self) -> Option<ResponseError> {
        ResponseError::try_from_code(self.0)
    }

    /// Whether Kafka defines this error as retriable.
    pub fn is_retriable(self) -> bool {
        self.error().is_some_and(|e| e.is_retriable())
    }

    /// Kafka's name of the error, e.g. `NOT_LEADER_OR_FOLLOWER`.
    pub fn name(self) -> String {
        match self.error() {
            None => "NONE".to_string(),
            Some(ResponseError::Unknown(code)) => format!("UNKNOWN_ERROR_CODE_{code}"),
            Some(e) => upper_snake(&format!("{e}")),
        }
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// `NotLeaderOrFollower` → `NOT_LEADER_OR_FOLLOWER`.
fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Everything that can go wrong talking to Kafka brokers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be established.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// Broker address as given.
        addr: String,
        /// Short reason, e.g. "connection refused".
        reason: String,
    },
    /// Reading or writing an established connection failed, or the broker
    /// closed it.
    #[error("connection to {addr} lost: {reason}")]
    Disconnected {
        /// Broker address.
        addr: String,
        /// Short reason.
        reason: String,
    },
    /// No response within the request timeout.
    #[error("{api:?} request to {addr} timed out after {timeout_ms} ms")]
    Timeout {
        /// Broker address.
        addr: String,
        /// The API called.
        api: ApiKey,
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// A response that could not be decoded, or a request that could not be
    /// encoded.
    #[error("protocol error with {addr}: {message}")]
    Protocol {
        /// Broker address.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The broker supports no version of an API that we implement.
    #[error(
        "broker {addr} does not support {api:?} (it offers versions {broker_min}..={broker_max}, we speak {ours_min}..={ours_max})"
    )]
    UnsupportedApi {
        /// Broker address.
        addr: String,
        /// The API.
        api: ApiKey,
        /// Lowest version the broker offers (-1 if the API is missing).
        broker_min: i16,
        /// Highest version the broker offers (-1 if the API is missing).
        broker_max: i16,
        /// Lowest version we implement.
        ours_min: i16,
        /// Highest version we implement.
        ours_max: i16,
    },
    /// None of the bootstrap brokers answered.
    #[error("no broker reachable in {brokers}: {last}")]
    NoBrokers {
        /// The bootstrap list.
        brokers: String,
        /// The last connection error.
        last: Box<ClientError>,
    },
    /// The broker answered with a Kafka error code.
    #[error("{context}: {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        /// What was being done, e.g. "create topic orders".
        context: String,
        /// The error code.
        code: KafkaCode,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// A fetch position outside the partition's log.
    #[error(
        "offset {offset} is out of range for {topic}-{partition} (log start {log_start}, end {log_end})"
    )]
    OffsetOutOfRange {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The requested offset.
        offset: i64,
        /// Log start offset (-1 if unknown).
        log_start: i64,
        /// Log end offset (-1 if unknown).
        log_end: i64,
    },
    /// The topic does not exist (after metadata refresh).
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    /// The partition does not exist in the topic.
    #[error("partition {partition} does not exist in topic {topic} ({count} partitions)")]
    UnknownPartition {
        /// Topic.
        topic: String,
        /// Requested partition.
        partition: i32,
        /// Partition count of the topic.
        count: i32,
    },
    /// A record batch in a fetch response could not be decoded.
    #[error("corrupt data in {topic}-{partition} at offset {offset}: {message}")]
    CorruptRecords {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Fetch position.
        offset: i64,
        /// Decoder message.
        message: String,
    },
    /// A bad argument or configuration.
    #[error("{0}")]
    Invalid(String),
    /// The producer was closed or its sender stopped.
    #[error("producer is closed")]
    ProducerClosed,
}

impl ClientError {
    /// A Kafka error with context, or `None` for code 0.
    pub fn kafka(context: impl Into<String>, code: i16, message: Option<&str>) -> Option<Self> {
        if code == 0 {
            return None;
        }
        Some(ClientError::Kafka {
            context: context.into(),
            code: KafkaCode(code),
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        })
    }

    /// Whether retrying the operation (after a metadata refresh) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Disconnected { .. } | ClientError::Timeout { .. } => true,
            ClientError::Kafka { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// The Kafka error code, if this is a broker-returned error.
    pub fn code(&self) -> Option<ResponseError> {
        match self {
            ClientError::Kafka { code, .. } => code.error(),
            _ => None,
        }
    }
}

/// Short description of an I/O error: "connection refused" rather than
/// "Connection refused (os error 111)".
pub(crate) fn io_reason(err: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match err.kind() {
        ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
        | TimedOut | UnexpectedEof | AddrNotAvailable | HostUnreachable | NetworkUnreachable => {
            err.kind().to_string()
        }
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_are_upper_snake() {
        assert_eq!(KafkaCode(6).name(), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(KafkaCode(36).name(), "TOPIC_ALREADY_EXISTS");
        assert_eq!(KafkaCode(1).name(), "OFFSET_OUT_OF_RANGE");
        assert_eq!(KafkaCode(-1).name(), "UNKNOWN_SERVER_ERROR");
        assert_eq!(KafkaCode(9999).name(), "UNKNOWN_ERROR_CODE_9999");
    }

    #[test]
    fn kafka_error_message() {
        let e = ClientError::kafka("create topic t", 36, Some("Topic 't' already exists."))
            .expect("an error");
        assert_eq!(
            e.to_string(),
            "create topic t: TOPIC_ALREADY_EXISTS (Topic 't' already exists.)"
        );
        assert!(ClientError::kafka("x", 0, None).is_none());
        assert!(ClientError::kafka("x", 6, None).is_some_and(|e| e.is_retriable()));
    }

    #[test]
    fn io_reasons_are_short() {
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(io_reason(&e), "connection refused");
    }
}

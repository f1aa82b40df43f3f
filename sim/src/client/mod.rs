//! A minimal Kafka client: just enough to create a topic, produce and fetch,
//! speaking the wire protocol through the `kafka-protocol` crate. It works
//! over madsim's simulated TCP (the sim) or real TCP alike.
//!
//! It never retries on its own: a failed call returns an error and the
//! caller (the workload) decides. A plain producer never resends a value; an
//! idempotent one (`idempotent`) resends only the same batch with the same
//! producer id, epoch and sequence, which the broker must recognise. Either
//! way a value stored twice is the broker's fault, never the client's.

mod admin;
mod connection;
mod fetch;
pub mod group;
mod idempotent;
pub mod lifecycle;
mod metadata;
mod produce;
mod versions;

pub use admin::{create_replicated_topic, create_topic, create_topic_strict};
pub use connection::Connection;
pub use fetch::{decode_records, fetch, fetch_at_most, DecodedRecords, FetchResult};
pub use idempotent::{
    after_failure, init_producer_id, AfterFailure, IdempotentProducer, ProducerIdentity,
};
pub use metadata::{metadata, ClusterView, PartitionView};
pub use produce::{
    encode_batch, encode_batch_as, produce, produce_batch, produce_batch_acked_by, BatchIdentity,
    ACKS_LEADER,
};
pub use versions::ApiVersionsInUse;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Connection refused, reset or closed: the broker is (maybe) down.
    #[error("i/o: {0}")]
    Io(String),
    /// The response was not what the protocol says (the connection is done).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The broker answered with a Kafka error code.
    #[error("kafka error {code} ({name})")]
    Kafka { code: i16, name: String },
}

impl ClientError {
    pub fn kafka(code: i16) -> Self {
        use kafka_protocol::error::ParseResponseErrorCode;
        let name = match code.err() {
            Some(error) => format!("{error:?}"),
            None => "unknown".to_string(),
        };
        ClientError::Kafka { code, name }
    }

    /// Whether the connection can still be used after this error.
    pub fn connection_usable(&self) -> bool {
        matches!(self, ClientError::Kafka { .. })
    }
}

/// The topic every workload client uses.
pub const TOPIC: &str = "t";

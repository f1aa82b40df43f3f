//! The Kafka wire protocol: frames in, requests decoded with the
//! `kafka-protocol` codec, handled against the [`crate::server::broker::Broker`],
//! responses encoded at the version the client asked for.
//!
//! One file per API; `dispatch` routes a decoded request to its handler.

pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod dispatch;
pub mod error_code;
pub mod fetch;
pub mod frame;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
#[cfg(test)]
mod snapshot_tests;
pub mod supported_apis;

use kafka_protocol::protocol::StrBytes;

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

//! The Kafka wire protocol: frames in, requests decoded with the
//! `kafka-protocol` codec, handled against the [`crate::server::broker::Broker`],
//! responses encoded at the version the client asked for.
//!
//! One file per API; `dispatch` routes a decoded request to its handler.

#[cfg(test)]
mod admin_parity_tests;
#[cfg(test)]
mod admin_snapshot_tests;
pub mod alter_configs;
pub mod alter_topic_config;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod authorization;
#[cfg(test)]
mod authorization_tests;
pub mod authorized_operations;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_user_scram_credentials;
pub mod dispatch;
pub mod error_code;
pub mod fetch;
pub mod fetch_budget;
pub mod find_coordinator;
pub mod forward_error;
pub mod forwarding;
pub mod frame;
#[cfg(test)]
mod group_snapshot_tests;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leader_epoch_field;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
#[cfg(test)]
mod offset_delete_tests;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod replica_assignment;
#[cfg(test)]
mod scram_tests;
#[cfg(test)]
mod snapshot_tests;
pub mod supported_apis;
pub mod sync_group;
#[cfg(test)]
pub(crate) mod test_harness;

use kafka_protocol::protocol::StrBytes;

use crate::core::group::{GroupError, GroupResponse};

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The group coordinator answered a request with another request's
/// response: a bug, logged, and answered as COORDINATOR_NOT_AVAILABLE
/// (retriable) rather than with a panic.
pub(crate) fn unexpected_group_response(api: &str, response: &GroupResponse) -> GroupError {
    tracing::error!(
        api,
        ?response,
        "the group coordinator answered with the wrong response type"
    );
    GroupError::CoordinatorNotAvailable
}

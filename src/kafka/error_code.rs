//! Mapping of odradek's typed errors onto Kafka error codes, at the edge.

use kafka_protocol::error::ResponseError;

use crate::core::controller::TopicError;
use crate::core::partition::leader_epoch_fencing::EpochFencing;
use crate::core::producer_state::ProducerError;
use crate::core::scram::ScramError;
use crate::log::record_batch::BatchError;
use crate::log::LogError;
use crate::server::broker::{CommitError, PartitionUnavailable};

pub const NONE: i16 = 0;

pub fn code(e: ResponseError) -> i16 {
    e.code()
}

/// Kafka's code for a failed metadata commit.
pub fn for_commit_error(e: &CommitError) -> i16 {
    match e {
        CommitError::Topic(t) => for_topic_error(t),
        CommitError::Storage(_) => code(ResponseError::KafkaStorageError),
        CommitError::NotController { .. } => code(ResponseError::NotController),
        CommitError::Unconfirmed(_) => code(ResponseError::RequestTimedOut),
        CommitError::Refused { code, .. } => *code,
    }
}

pub fn for_topic_error(e: &TopicError) -> i16 {
    code(match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidName { .. }
        | TopicError::Reserved { .. }
        | TopicError::Collision { .. } => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor { .. } => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
    })
}

pub fn for_log_error(e: &LogError) -> i16 {
    code(match e {
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::Disk(_) | LogError::Offline { .. } | LogError::CorruptFile { .. } => {
            ResponseError::KafkaStorageError
        }
        LogError::CorruptBatch { .. } | LogError::RejectedBatch { .. } => {
            ResponseError::CorruptMessage
        }
    })
}

pub fn for_epoch_fencing(e: &EpochFencing) -> i16 {
    code(match e {
        EpochFencing::Fenced { .. } => ResponseError::FencedLeaderEpoch,
        EpochFencing::Unknown { .. } => ResponseError::UnknownLeaderEpoch,
    })
}

pub fn for_partition_unavailable(e: &PartitionUnavailable) -> i16 {
    code(match e {
        PartitionUnavailable::Unknown => ResponseError::UnknownTopicOrPartition,
        PartitionUnavailable::Failed => ResponseError::KafkaStorageError,
        PartitionUnavailable::NotLeader => ResponseError::NotLeaderOrFollower,
    })
}

pub fn for_producer_error(e: &ProducerError) -> i16 {
    code(match e {
        ProducerError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        ProducerError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        ProducerError::InvalidRecord { .. } => ResponseError::InvalidRecord,
    })
}

pub fn for_batch_error(e: &BatchError) -> i16 {
    code(match e {
        BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
        BatchError::BadMagic { .. } => ResponseError::UnsupportedForMessageFormat,
        BatchError::BadCrc { .. } => ResponseError::CorruptMessage,
        BatchError::Truncated { .. }
        | BatchError::BadLength { .. }
        | BatchError::Incomplete { .. }
        | BatchError::Invalid { .. }
        | BatchError::Empty => ResponseError::CorruptMessage,
    })
}

pub fn for_scram_error(e: &ScramError) -> i16 {
    code(match e {
        ScramError::NotFound(_) => ResponseError::ResourceNotFound,
        ScramError::Duplicate(_) => ResponseError::DuplicateResource,
        ScramError::UnknownMechanism => ResponseError::UnsupportedSaslMechanism,
        ScramError::Unacceptable(_) => ResponseError::UnacceptableCredential,
        ScramError::KeysNotComputable(_) => ResponseError::UnknownServerError,
        ScramError::TooMany { .. } => ResponseError::PolicyViolation,
        ScramError::RequestTooLarge => ResponseError::InvalidRequest,
    })
}

//! Authorized-operation bitfields (KIP-430) as a Kafka broker without an
//! authorizer answers them: every operation the resource type supports
//! (Kafka's `AclEntry.supportedOperations`), each set as `1 << code` of its
//! `AclOperation`. When the client did not ask, Kafka answers `i32::MIN`.

/// `AclOperation` codes (Kafka's `org.apache.kafka.common.acl.AclOperation`).
const READ: i32 = 3;
const WRITE: i32 = 4;
const CREATE: i32 = 5;
const DELETE: i32 = 6;
const ALTER: i32 = 7;
const DESCRIBE: i32 = 8;
const CLUSTER_ACTION: i32 = 9;
const DESCRIBE_CONFIGS: i32 = 10;
const ALTER_CONFIGS: i32 = 11;
const IDEMPOTENT_WRITE: i32 = 12;

/// Kafka's "authorized operations not requested" value.
pub const NOT_REQUESTED: i32 = i32::MIN;

const fn bits(ops: &[i32]) -> i32 {
    let mut out = 0;
    let mut i = 0;
    while i < ops.len() {
        out |= 1 << ops[i];
        i += 1;
    }
    out
}

/// Topic: READ, WRITE, CREATE, DESCRIBE, DELETE, ALTER, DESCRIBE_CONFIGS,
/// ALTER_CONFIGS.
pub const TOPIC: i32 = bits(&[
    READ,
    WRITE,
    CREATE,
    DESCRIBE,
    DELETE,
    ALTER,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);

/// Group: READ, DESCRIBE, DELETE.
pub const GROUP: i32 = bits(&[READ, DESCRIBE, DELETE]);

/// Cluster: CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE, ALTER, DESCRIBE.
pub const CLUSTER: i32 = bits(&[
    CREATE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
    ALTER,
    DESCRIBE,
]);

/// `ops` when the client asked for them, Kafka's "not requested" otherwise.
pub fn if_requested(requested: bool, ops: i32) -> i32 {
    if requested {
        ops
    } else {
        NOT_REQUESTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_kafka_supported_operations() {
        assert_eq!(TOPIC.count_ones(), 8);
        assert_eq!(CLUSTER.count_ones(), 7);
        assert_eq!(GROUP.count_ones(), 3);
        assert_eq!(GROUP, (1 << 3) | (1 << 6) | (1 << 8));
    }
}

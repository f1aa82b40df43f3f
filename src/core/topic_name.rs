//! Topic names as Kafka rules them (its `Topic.java`): the legal characters,
//! the internal names no client may create, and the `.`/`_` collision (two
//! names that differ only there would share metric names, so Kafka refuses
//! the second one).

/// Kafka's limit on topic name length.
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// The group coordinator's topic (Kafka's `GROUP_METADATA_TOPIC_NAME`).
pub const GROUP_METADATA_TOPIC: &str = "__consumer_offsets";
/// The transaction coordinator's topic.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// The share-group coordinator's topic (KIP-932).
pub const SHARE_GROUP_STATE_TOPIC: &str = "__share_group_state";
/// KRaft's metadata log. Never a topic in the image: Kafka refuses to
/// create it (CreateTopics answers INVALID_REQUEST).
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// Topics a coordinator creates for itself, with its own configs; Kafka
/// flags them `is_internal` in Metadata.
pub const INTERNAL_TOPICS: [&str; 3] = [
    GROUP_METADATA_TOPIC,
    TRANSACTION_STATE_TOPIC,
    SHARE_GROUP_STATE_TOPIC,
];

/// Why a name cannot be a topic at all: Kafka's wording after
/// "Topic name is invalid: ".
pub fn invalid_reason(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the empty string is not allowed".to_string());
    }
    if name == "." || name == ".." {
        return Some(format!("'{name}' is not allowed"));
    }
    if name.len() > TOPIC_NAME_LENGTH_MAX {
        return Some(format!(
            "the length of '{name}' is longer than the max allowed length {TOPIC_NAME_LENGTH_MAX}"
        ));
    }
    if !name.bytes().all(is_legal_byte) {
        return Some(format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    None
}

/// `[a-zA-Z0-9._-]`: the only bytes a topic name (and so a partition
/// directory name) can hold. Broker-internal files use names outside it.
pub fn is_legal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

/// Whether a coordinator owns the topic (it is created only by that
/// coordinator, never by a client or on demand).
pub fn is_internal(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// `name` with `.` folded to `_` (Kafka's `unifyCollisionChars`): two names
/// with the same fold collide.
pub fn fold(name: &str) -> String {
    name.replace('.', "_")
}

/// The reserved name a client-requested name is, or collides with: the
/// internal topics and the metadata log, compared after folding, so that
/// `__consumer.offsets` cannot block the group coordinator's own topic.
pub fn reserved_collision(name: &str) -> Option<&'static str> {
    let folded = fold(name);
    INTERNAL_TOPICS
        .iter()
        .chain(std::iter::once(&CLUSTER_METADATA_TOPIC))
        .find(|reserved| fold(reserved) == folded)
        .copied()
}

/// The first of `existing` that `name` collides with, other than `name`
/// itself (Kafka's `Topic.hasCollision`).
pub fn collision<'a>(name: &str, existing: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if !name.contains(['.', '_']) {
        // Folding changes nothing, and an equal fold would need the same name.
        return None;
    }
    let folded = fold(name);
    existing
        .into_iter()
        .find(|other| *other != name && fold(other) == folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_legal_names() {
        for name in ["t", "a.b", "a_b", "a-b", "A9", &"x".repeat(249)] {
            assert_eq!(invalid_reason(name), None, "{name}");
        }
        for name in ["", ".", "..", "a b", "a/b", "é", "a\0", &"x".repeat(250)] {
            assert!(invalid_reason(name).is_some(), "{name:?}");
        }
        assert_eq!(
            invalid_reason("a b").unwrap(),
            "'a b' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        );
    }

    #[test]
    fn reserved_names_and_their_folds() {
        assert_eq!(
            reserved_collision("__cluster_metadata"),
            Some(CLUSTER_METADATA_TOPIC)
        );
        assert_eq!(
            reserved_collision("__transaction_state"),
            Some(TRANSACTION_STATE_TOPIC)
        );
        assert_eq!(
            reserved_collision("__consumer.offsets"),
            Some(GROUP_METADATA_TOPIC)
        );
        assert_eq!(
            reserved_collision("_.cluster.metadata"),
            Some(CLUSTER_METADATA_TOPIC)
        );
        assert_eq!(reserved_collision("__cluster_metadata2"), None);
        assert_eq!(reserved_collision("_consumer_offsets"), None);
        assert!(is_internal("__consumer_offsets") && !is_internal("__cluster_metadata"));
    }

    #[test]
    fn collisions_fold_dots_to_underscores() {
        let existing = ["a_b", "x.y.z", "plain"];
        assert_eq!(collision("a.b", existing), Some("a_b"));
        assert_eq!(collision("x_y.z", existing), Some("x.y.z"));
        // The same name is not a collision (it is "already exists").
        assert_eq!(collision("a_b", existing), None);
        assert_eq!(collision("a-b", existing), None);
        assert_eq!(collision("plain", existing), None);
        assert_eq!(collision("ab", existing), None);
    }
}

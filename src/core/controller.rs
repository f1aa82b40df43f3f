//! The controller's decisions on topics: validate an admin request against
//! the metadata image and produce the records that carry it out. Pure: the
//! caller commits the records (single-node journal now, Raft later) and
//! applies them.

use std::collections::BTreeMap;

use crate::core::metadata::{MetadataImage, MetadataRecord, TopicId};
use crate::core::topic_config::{ConfigError, TopicConfig};
use crate::core::topic_name;

pub use crate::core::topic_name::TOPIC_NAME_LENGTH_MAX;
/// A bound on partitions per topic, so one request cannot exhaust the node.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic {0} already exists")]
    AlreadyExists(String),
    #[error("topic {0} does not exist")]
    Unknown(String),
    #[error("Topic name is invalid: {reason}")]
    InvalidName { name: String, reason: String },
    /// An internal topic's name, or one colliding with it after `.`/`_`
    /// folding: only its coordinator creates it.
    #[error(
        "Topic '{name}' is reserved: {reserved} is an internal topic created only by the broker"
    )]
    Reserved {
        name: String,
        reserved: &'static str,
    },
    /// Kafka's `Topic.hasCollision`: equal to an existing name once `.` is
    /// folded to `_`.
    #[error("Topic '{name}' collides with existing topic: {existing}")]
    Collision { name: String, existing: String },
    #[error("invalid partition count {0}")]
    InvalidPartitions(i32),
    #[error("replication factor {requested} exceeds the {available} live brokers")]
    InvalidReplicationFactor { requested: i32, available: usize },
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
}

/// Checks a topic name's syntax the way Kafka does (`Topic.validate`).
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    match topic_name::invalid_reason(name) {
        Some(reason) => Err(TopicError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A new topic id, derived from the name and the metadata log position so
/// that it is unique, deterministic under simulation and never zero.
pub fn derive_topic_id(cluster_id: &str, name: &str, applied_count: u64) -> TopicId {
    let mut id = [0u8; 16];
    let seed = format!("{cluster_id}/{name}/{applied_count}");
    let lo = fnv1a64(seed.as_bytes(), 0xcbf2_9ce4_8422_2325);
    let hi = fnv1a64(seed.as_bytes(), 0x8422_2325_cbf2_9ce4);
    id[..8].copy_from_slice(&hi.to_be_bytes());
    id[8..].copy_from_slice(&lo.to_be_bytes());
    if id.iter().all(|b| *b == 0) {
        id[15] = 1;
    }
    id
}

fn fnv1a64(bytes: &[u8], basis: u64) -> u64 {
    bytes.iter().fold(basis, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A validated request to create one topic.
#[derive(Debug, Clone)]
pub struct CreateTopic<'a> {
    pub name: &'a str,
    /// -1 means the broker default.
    pub num_partitions: i32,
    /// -1 means the broker default (1 for now).
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// A topic a client asked for (CreateTopics, or auto-creation on demand):
/// refuses the internal names and every name folding to one of them.
pub fn create_topic(
    image: &MetadataImage,
    request: &CreateTopic<'_>,
    default_partitions: i32,
    cluster_id: &str,
) -> Result<Vec<MetadataRecord>, TopicError> {
    validate_topic_name(request.name)?;
    if let Some(reserved) = topic_name::reserved_collision(request.name) {
        return Err(TopicError::Reserved {
            name: request.name.to_string(),
            reserved,
        });
    }
    create_validated(image, request, default_partitions, cluster_id)
}

/// A coordinator's own topic (`topic_name::INTERNAL_TOPICS`), created by the
/// broker itself with the coordinator's configs.
pub fn create_internal_topic(
    image: &MetadataImage,
    request: &CreateTopic<'_>,
    default_partitions: i32,
    cluster_id: &str,
) -> Result<Vec<MetadataRecord>, TopicError> {
    validate_topic_name(request.name)?;
    assert!(
        topic_name::is_internal(request.name),
        "{} is not an internal topic",
        request.name
    );
    create_validated(image, request, default_partitions, cluster_id)
}

fn create_validated(
    image: &MetadataImage,
    request: &CreateTopic<'_>,
    default_partitions: i32,
    cluster_id: &str,
) -> Result<Vec<MetadataRecord>, TopicError> {
    if image.topics.contains_key(request.name) {
        return Err(TopicError::AlreadyExists(request.name.to_string()));
    }
    if let Some(existing) =
        topic_name::collision(request.name, image.topics.keys().map(String::as_str))
    {
        return Err(TopicError::Collision {
            name: request.name.to_string(),
            existing: existing.to_string(),
        });
    }
    let partitions = if request.num_partitions == -1 {
        default_partitions
    } else {
        request.num_partitions
    };
    if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
        return Err(TopicError::InvalidPartitions(partitions));
    }
    let live: Vec<i32> = image.live_brokers().map(|b| b.node_id).collect();
    let replication = if request.replication_factor == -1 {
        1
    } else {
        request.replication_factor as i32
    };
    if replication < 1 || replication as usize > live.len() {
        return Err(TopicError::InvalidReplicationFactor {
            requested: replication,
            available: live.len(),
        });
    }
    TopicConfig::validate(&request.configs)?;
    let topic_id = derive_topic_id(cluster_id, request.name, image.applied_count);
    let mut records = vec![MetadataRecord::CreateTopic {
        name: request.name.to_string(),
        topic_id,
        configs: request.configs.clone(),
    }];
    let start = placement_start(&topic_id, live.len());
    for partition in 0..partitions {
        let replicas = place_replicas(&live, start, partition, replication as usize);
        records.push(MetadataRecord::CreatePartition {
            topic_id,
            partition,
            leader: replicas[0],
            isr: replicas.clone(),
            replicas,
            leader_epoch: 0,
        });
    }
    Ok(records)
}

/// Where a topic's round-robin placement starts among the live brokers:
/// derived from its id, so the first partitions of different topics do not
/// all lead on the same broker (Kafka starts at a random broker).
fn placement_start(topic_id: &TopicId, live_count: usize) -> usize {
    if live_count == 0 {
        return 0;
    }
    (u64::from_be_bytes(topic_id[8..].try_into().expect("8 bytes")) % live_count as u64) as usize
}

/// Round-robin placement: replica i of partition p on the live broker
/// (start + p + i); the first replica is the preferred leader.
fn place_replicas(live: &[i32], start: usize, partition: i32, replication: usize) -> Vec<i32> {
    (0..replication)
        .map(|i| live[(start + partition as usize + i) % live.len()])
        .collect()
}

pub fn delete_topic(image: &MetadataImage, name: &str) -> Result<Vec<MetadataRecord>, TopicError> {
    let topic = image
        .topics
        .get(name)
        .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
    Ok(vec![MetadataRecord::DeleteTopic {
        topic_id: topic.topic_id,
    }])
}

/// Grows a topic to `new_total` partitions (Kafka never shrinks them).
pub fn create_partitions(
    image: &MetadataImage,
    name: &str,
    new_total: i32,
) -> Result<Vec<MetadataRecord>, TopicError> {
    let topic = image
        .topics
        .get(name)
        .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
    let current = topic.partitions.len() as i32;
    if new_total <= current || new_total > PARTITIONS_PER_TOPIC_MAX {
        return Err(TopicError::InvalidPartitions(new_total));
    }
    let live: Vec<i32> = image.live_brokers().map(|b| b.node_id).collect();
    let replication = topic
        .partitions
        .values()
        .next()
        .map(|p| p.replicas.len())
        .unwrap_or(1);
    if live.len() < replication {
        return Err(TopicError::InvalidReplicationFactor {
            requested: replication as i32,
            available: live.len(),
        });
    }
    let start = placement_start(&topic.topic_id, live.len());
    Ok((current..new_total)
        .map(|partition| {
            let replicas = place_replicas(&live, start, partition, replication);
            MetadataRecord::CreatePartition {
                topic_id: topic.topic_id,
                partition,
                leader: replicas[0],
                isr: replicas.clone(),
                replicas,
                leader_epoch: 0,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with_broker() -> MetadataImage {
        let mut image = MetadataImage::default();
        image.apply(&MetadataRecord::RegisterBroker {
            node_id: 1,
            host: "h".into(),
            port: 9092,
            broker_epoch: 0,
        });
        image.apply(&MetadataRecord::UnfenceBroker { node_id: 1 });
        image
    }

    #[test]
    fn create_then_delete_a_topic() {
        let mut image = image_with_broker();
        let request = CreateTopic {
            name: "t",
            num_partitions: 3,
            replication_factor: -1,
            configs: BTreeMap::new(),
        };
        let records = create_topic(&image, &request, 1, "c").unwrap();
        records.iter().for_each(|r| image.apply(r));
        assert_eq!(image.topics["t"].partitions.len(), 3);
        assert_eq!(
            create_topic(&image, &request, 1, "c"),
            Err(TopicError::AlreadyExists("t".into()))
        );
        let records = create_partitions(&image, "t", 5).unwrap();
        records.iter().for_each(|r| image.apply(r));
        assert_eq!(image.topics["t"].partitions.len(), 5);
        delete_topic(&image, "t")
            .unwrap()
            .iter()
            .for_each(|r| image.apply(r));
        assert!(image.topics.is_empty() && image.topic_names.is_empty());
    }

    #[test]
    fn bad_requests_are_refused() {
        let image = image_with_broker();
        let mk = |name, n, rf| CreateTopic {
            name,
            num_partitions: n,
            replication_factor: rf,
            configs: BTreeMap::new(),
        };
        assert!(matches!(
            create_topic(&image, &mk("a b", 1, 1), 1, "c"),
            Err(TopicError::InvalidName { .. })
        ));
        assert!(matches!(
            create_topic(&image, &mk("..", 1, 1), 1, "c"),
            Err(TopicError::InvalidName { .. })
        ));
        assert_eq!(
            create_topic(&image, &mk("t", 0, 1), 1, "c"),
            Err(TopicError::InvalidPartitions(0))
        );
        assert!(matches!(
            create_topic(&image, &mk("t", 1, 3), 1, "c"),
            Err(TopicError::InvalidReplicationFactor { .. })
        ));
        assert_eq!(
            delete_topic(&image, "nope"),
            Err(TopicError::Unknown("nope".into()))
        );
    }

    fn mk(name: &str) -> CreateTopic<'_> {
        CreateTopic {
            name,
            num_partitions: 1,
            replication_factor: -1,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn clients_cannot_create_internal_names_or_their_folds() {
        let image = image_with_broker();
        for name in [
            "__cluster_metadata",
            "__transaction_state",
            "__consumer_offsets",
            "__share_group_state",
            "__consumer.offsets",
            "__cluster.metadata",
        ] {
            assert!(
                matches!(
                    create_topic(&image, &mk(name), 1, "c"),
                    Err(TopicError::Reserved { .. })
                ),
                "{name}"
            );
        }
        // The coordinator creates its own topic.
        assert!(create_internal_topic(&image, &mk("__consumer_offsets"), 1, "c").is_ok());
    }

    #[test]
    fn a_name_colliding_after_folding_is_refused() {
        let mut image = image_with_broker();
        create_topic(&image, &mk("a_b"), 1, "c")
            .unwrap()
            .iter()
            .for_each(|r| image.apply(r));
        let refused = create_topic(&image, &mk("a.b"), 1, "c").unwrap_err();
        assert_eq!(
            refused,
            TopicError::Collision {
                name: "a.b".into(),
                existing: "a_b".into()
            }
        );
        assert_eq!(
            refused.to_string(),
            "Topic 'a.b' collides with existing topic: a_b"
        );
        // The same name is "already exists", as in Kafka.
        assert_eq!(
            create_topic(&image, &mk("a_b"), 1, "c"),
            Err(TopicError::AlreadyExists("a_b".into()))
        );
        assert!(create_topic(&image, &mk("a-b"), 1, "c").is_ok());
    }
}

//! The metadata image as a Raft snapshot: the records that rebuild it from
//! nothing, plus the count of records applied so far (topic ids derive from
//! it, so a node that installed a snapshot derives the same ones as a node
//! that replayed the log). Encoded with bincode under a byte limit.

use serde::{Deserialize, Serialize};

use crate::core::metadata::image::MetadataImage;
use crate::core::metadata::record::MetadataRecord;

/// The largest metadata snapshot a node accepts (a peer's bytes are not
/// trusted to be small).
pub const METADATA_SNAPSHOT_BYTES_MAX: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotBody {
    applied_count: u64,
    next_acl_id: u64,
    records: Vec<MetadataRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotDecodeError {
    #[error("metadata snapshot does not decode: {0}")]
    Decode(String),
}

/// Records that rebuild `image` when applied in order to an empty one.
pub fn image_records(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for b in image.brokers.values() {
        records.push(MetadataRecord::RegisterBroker {
            node_id: b.node_id,
            host: b.host.clone(),
            port: b.port,
            broker_epoch: b.broker_epoch,
        });
        if let Some((host, port)) = &b.rpc {
            records.push(MetadataRecord::BrokerRpcAddress {
                node_id: b.node_id,
                host: host.clone(),
                port: *port,
            });
        }
        if let Some(incarnation) = b.incarnation {
            records.push(MetadataRecord::BrokerIncarnation {
                node_id: b.node_id,
                incarnation,
            });
        }
        if !b.fenced {
            records.push(MetadataRecord::UnfenceBroker { node_id: b.node_id });
        }
    }
    for t in image.topics.values() {
        records.push(MetadataRecord::CreateTopic {
            name: t.name.clone(),
            topic_id: t.topic_id,
            configs: t.configs.clone(),
        });
        for (index, p) in &t.partitions {
            records.push(MetadataRecord::CreatePartition {
                topic_id: t.topic_id,
                partition: *index,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                leader: p.leader,
                leader_epoch: p.leader_epoch,
            });
            if !p.elr.is_empty() || p.last_known_leader != -1 {
                records.push(MetadataRecord::ChangeEligibleLeaders {
                    topic_id: t.topic_id,
                    partition: *index,
                    elr: p.elr.clone(),
                    last_known_leader: p.last_known_leader,
                });
            }
        }
    }
    if image.producer_ids_end > 0 {
        records.push(MetadataRecord::ProducerIdsBlock {
            end_id: image.producer_ids_end,
        });
    }
    for (id, binding) in image.acls.iter() {
        records.push(MetadataRecord::CreateAcl {
            id,
            binding: binding.clone(),
        });
    }
    for (user, credentials) in image.scram.users() {
        for (mechanism, credential) in credentials {
            records.push(MetadataRecord::UpsertScramCredential {
                user: user.to_string(),
                mechanism: *mechanism,
                credential: credential.clone(),
            });
        }
    }
    records
}

pub fn encode(image: &MetadataImage) -> Vec<u8> {
    let body = SnapshotBody {
        applied_count: image.applied_count,
        next_acl_id: image.next_acl_id,
        records: image_records(image),
    };
    bincode::serialize(&body).expect("metadata records always serialize")
}

/// Rebuilds the image a snapshot holds.
pub fn decode(bytes: &[u8]) -> Result<MetadataImage, SnapshotDecodeError> {
    use bincode::Options;
    let body: SnapshotBody = bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(METADATA_SNAPSHOT_BYTES_MAX)
        .deserialize(bytes)
        .map_err(|e| SnapshotDecodeError::Decode(e.to_string()))?;
    let mut image = MetadataImage::default();
    for record in &body.records {
        image
            .check(record)
            .map_err(|e| SnapshotDecodeError::Decode(format!("inconsistent record: {e}")))?;
        image.apply(record);
    }
    image.applied_count = body.applied_count;
    // ACL ids continue after the snapshot's, even if the newest was deleted.
    image.next_acl_id = image.next_acl_id.max(body.next_acl_id);
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::controller::{create_topic, CreateTopic};
    use crate::core::partition_leadership::fence_broker;

    #[test]
    fn a_snapshot_rebuilds_the_image_it_was_taken_of() {
        let mut image = MetadataImage::default();
        let apply = |image: &mut MetadataImage, records: Vec<MetadataRecord>| {
            for r in &records {
                image.apply(r);
            }
        };
        for n in 1..=3 {
            apply(
                &mut image,
                vec![
                    MetadataRecord::RegisterBroker {
                        node_id: n,
                        host: "h".into(),
                        port: 9000,
                        broker_epoch: 2,
                    },
                    MetadataRecord::BrokerRpcAddress {
                        node_id: n,
                        host: "r".into(),
                        port: 19000,
                    },
                    MetadataRecord::BrokerIncarnation {
                        node_id: n,
                        incarnation: 7 + n as u64,
                    },
                    MetadataRecord::UnfenceBroker { node_id: n },
                ],
            );
        }
        let request = CreateTopic {
            name: "t",
            num_partitions: 4,
            replication_factor: 3,
            configs: [("cleanup.policy".to_string(), "compact".to_string())].into(),
        };
        let created = create_topic(&image, &request, 1, "c").unwrap();
        apply(&mut image, created);
        let fenced = fence_broker(&image, 2);
        apply(&mut image, fenced);
        // Every replica fenced: empty ISRs, eligible leaders, last leaders.
        for n in [3, 1] {
            let fenced = fence_broker(&image, n);
            apply(&mut image, fenced);
        }
        assert!(image.topics["t"]
            .partitions
            .values()
            .all(|p| p.isr.is_empty() && !p.elr.is_empty() && p.last_known_leader != -1));
        apply(
            &mut image,
            vec![MetadataRecord::ProducerIdsBlock { end_id: 5000 }],
        );
        let rebuilt = decode(&encode(&image)).unwrap();
        assert_eq!(rebuilt, image);
    }

    #[test]
    fn garbage_is_refused_not_applied() {
        assert!(decode(&[0xff; 64]).is_err());
        assert!(decode(&[]).is_err());
    }
}

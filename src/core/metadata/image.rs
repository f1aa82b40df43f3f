//! The metadata image: what the applied metadata records say the cluster is.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::core::acl::AclTable;
use crate::core::scram::ScramTable;

use crate::core::metadata::record::{MetadataRecord, TopicId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub broker_epoch: i64,
    /// The node-to-node address, once the broker announced one.
    pub rpc: Option<(String, u16)>,
    /// The process incarnation of its latest registration, if it gave one.
    pub incarnation: Option<u64>,
    /// Not counted as live: no leadership, no ISR membership, not listed
    /// to clients. A broker registers fenced and is unfenced once the
    /// controller hears from it (`UnfenceBroker`).
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    /// May be empty (KIP-966): its last member, fenced, moved to `elr`.
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Eligible leader replicas (KIP-966): out of the ISR, yet holding
    /// every record below the high watermark; electable when the ISR is
    /// empty. Disjoint from the ISR once a change's records are applied.
    pub elr: Vec<i32>,
    /// The leader when the ISR emptied, or -1 (KIP-966's LastKnownElr with
    /// one member): elected when ISR and ELR are both empty, since every
    /// replica that held the acknowledged records restarted uncleanly.
    pub last_known_leader: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: TopicId,
    pub configs: BTreeMap<String, String>,
    pub partitions: BTreeMap<i32, PartitionImage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicImage>,
    pub topic_names: BTreeMap<TopicId, String>,
    /// Records applied so far (the next record's index in the metadata log).
    pub applied_count: u64,
    /// End of the newest producer-id block handed to a broker.
    pub producer_ids_end: i64,
    /// The ACLs (shared: the image is cloned on every commit, ACLs rarely
    /// change).
    pub acls: Arc<AclTable>,
    /// The id the next ACL gets.
    pub next_acl_id: u64,
    /// The SCRAM credentials (shared like the ACLs).
    pub scram: Arc<ScramTable>,
}

impl MetadataImage {
    /// Registered brokers not fenced, by id: the ones clients are told of
    /// and the controller places replicas and leaders on.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    pub fn is_live(&self, node_id: i32) -> bool {
        self.brokers.get(&node_id).is_some_and(|b| !b.fenced)
    }

    pub fn topic_by_id(&self, topic_id: &TopicId) -> Option<&TopicImage> {
        self.topic_names
            .get(topic_id)
            .and_then(|n| self.topics.get(n))
    }

    /// Why `record` cannot apply to this image, if it cannot (what
    /// [`MetadataImage::apply`] asserts). A cluster node checks every
    /// committed record first and skips one that fails, the same way on
    /// every node, rather than crash on it forever: a record built by a
    /// controller from a stale image must not take the cluster down.
    pub fn check(&self, record: &MetadataRecord) -> Result<(), String> {
        let partition = |topic_id: &TopicId, partition: &i32| {
            self.topic_by_id(topic_id)
                .and_then(|t| t.partitions.get(partition))
        };
        let registered = |node_id: &i32| {
            if self.brokers.contains_key(node_id) {
                Ok(())
            } else {
                Err(format!("broker {node_id} is not registered"))
            }
        };
        match record {
            MetadataRecord::RegisterBroker { .. }
            | MetadataRecord::SetTopicConfig { .. }
            | MetadataRecord::DeleteAcl { .. }
            | MetadataRecord::UpsertScramCredential { .. }
            | MetadataRecord::DeleteScramCredential { .. } => Ok(()),
            MetadataRecord::BrokerRpcAddress { node_id, .. }
            | MetadataRecord::FenceBroker { node_id }
            | MetadataRecord::UnfenceBroker { node_id }
            | MetadataRecord::BrokerIncarnation { node_id, .. } => registered(node_id),
            MetadataRecord::CreateTopic { name, topic_id, .. } => {
                if self.topics.contains_key(name) {
                    Err(format!("topic {name} exists"))
                } else if self.topic_names.contains_key(topic_id)
                    || topic_id.iter().all(|b| *b == 0)
                {
                    Err(format!("topic id of {name} reused or zero"))
                } else {
                    Ok(())
                }
            }
            MetadataRecord::CreatePartition {
                topic_id,
                partition: index,
                replicas,
                isr,
                ..
            } => match self.topic_by_id(topic_id) {
                None => Err("partition of an unknown topic".into()),
                Some(t) if t.partitions.contains_key(index) => {
                    Err(format!("partition {index} exists"))
                }
                Some(_) if !isr.iter().all(|r| replicas.contains(r)) => {
                    Err("ISR outside the replicas".into())
                }
                Some(_) => Ok(()),
            },
            MetadataRecord::ChangePartition {
                topic_id,
                partition: index,
                leader,
                leader_epoch,
                ..
            } => match partition(topic_id, index) {
                None => Err("change of an unknown partition".into()),
                Some(p) if *leader_epoch < p.leader_epoch => Err(format!(
                    "leader epoch {leader_epoch} below {}",
                    p.leader_epoch
                )),
                Some(p) if *leader != p.leader && *leader_epoch == p.leader_epoch => {
                    Err("a new leader without a new epoch".into())
                }
                Some(_) => Ok(()),
            },
            MetadataRecord::ChangeEligibleLeaders {
                topic_id,
                partition: index,
                elr,
                last_known_leader,
            } => match partition(topic_id, index) {
                None => Err("ELR of an unknown partition".into()),
                Some(p) if !elr.iter().all(|r| p.replicas.contains(r)) => {
                    Err("ELR outside the replicas".into())
                }
                Some(_) if elr.iter().enumerate().any(|(i, r)| elr[..i].contains(r)) => {
                    Err("a replica twice in the ELR".into())
                }
                Some(p) if *last_known_leader != -1 && !p.replicas.contains(last_known_leader) => {
                    Err("last known leader outside the replicas".into())
                }
                Some(_) => Ok(()),
            },
            MetadataRecord::DeleteTopic { topic_id } => {
                if self.topic_names.contains_key(topic_id) {
                    Ok(())
                } else {
                    Err("delete of an unknown topic".into())
                }
            }
            MetadataRecord::ProducerIdsBlock { end_id } => {
                if *end_id > self.producer_ids_end {
                    Ok(())
                } else {
                    Err(format!("producer id block end {end_id} does not grow"))
                }
            }
            MetadataRecord::CreateAcl { id, .. } => {
                if *id >= self.next_acl_id {
                    Ok(())
                } else {
                    Err(format!("ACL id {id} reused"))
                }
            }
        }
    }

    /// Applies one committed record. Records come from our own controller,
    /// which validated them against this image, so an inconsistent record is
    /// a bug: assert rather than limp on.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::RegisterBroker {
                node_id,
                host,
                port,
                broker_epoch,
            } => {
                let rpc = self.brokers.get(node_id).and_then(|b| b.rpc.clone());
                self.brokers.insert(
                    *node_id,
                    BrokerInfo {
                        node_id: *node_id,
                        host: host.clone(),
                        port: *port,
                        broker_epoch: *broker_epoch,
                        rpc,
                        incarnation: None,
                        fenced: true,
                    },
                );
            }
            MetadataRecord::BrokerRpcAddress {
                node_id,
                host,
                port,
            } => {
                let broker = self
                    .brokers
                    .get_mut(node_id)
                    .expect("rpc address of an unregistered broker");
                broker.rpc = Some((host.clone(), *port));
            }
            MetadataRecord::BrokerIncarnation {
                node_id,
                incarnation,
            } => {
                self.brokers
                    .get_mut(node_id)
                    .expect("incarnation of an unregistered broker")
                    .incarnation = Some(*incarnation);
            }
            MetadataRecord::FenceBroker { node_id } => {
                self.brokers
                    .get_mut(node_id)
                    .expect("fence of an unregistered broker")
                    .fenced = true;
            }
            MetadataRecord::UnfenceBroker { node_id } => {
                self.brokers
                    .get_mut(node_id)
                    .expect("unfence of an unregistered broker")
                    .fenced = false;
            }
            MetadataRecord::CreateTopic {
                name,
                topic_id,
                configs,
            } => {
                assert!(
                    !self.topics.contains_key(name),
                    "topic {name} created twice"
                );
                assert!(!self.topic_names.contains_key(topic_id), "topic id reused");
                assert!(topic_id.iter().any(|b| *b != 0), "zero topic id");
                self.topic_names.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        name: name.clone(),
                        topic_id: *topic_id,
                        configs: configs.clone(),
                        partitions: BTreeMap::new(),
                    },
                );
            }
            MetadataRecord::CreatePartition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
            } => {
                let topic = self.topic_mut(topic_id);
                assert!(
                    !topic.partitions.contains_key(partition),
                    "partition created twice"
                );
                assert!(
                    isr.iter().all(|r| replicas.contains(r)),
                    "ISR within replicas"
                );
                topic.partitions.insert(
                    *partition,
                    PartitionImage {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        elr: Vec::new(),
                        last_known_leader: -1,
                    },
                );
            }
            MetadataRecord::ChangePartition {
                topic_id,
                partition,
                isr,
                leader,
                leader_epoch,
            } => {
                let topic = self.topic_mut(topic_id);
                let p = topic
                    .partitions
                    .get_mut(partition)
                    .expect("change of an unknown partition");
                assert!(*leader_epoch >= p.leader_epoch, "leader epochs only grow");
                if *leader != p.leader {
                    assert!(
                        *leader_epoch > p.leader_epoch,
                        "a new leader gets a new epoch"
                    );
                }
                p.isr = isr.clone();
                p.leader = *leader;
                p.leader_epoch = *leader_epoch;
            }
            MetadataRecord::ChangeEligibleLeaders {
                topic_id,
                partition,
                elr,
                last_known_leader,
            } => {
                let topic = self.topic_mut(topic_id);
                let p = topic
                    .partitions
                    .get_mut(partition)
                    .expect("ELR of an unknown partition");
                assert!(
                    elr.iter().all(|r| p.replicas.contains(r)),
                    "ELR within replicas"
                );
                p.elr = elr.clone();
                p.last_known_leader = *last_known_leader;
            }
            MetadataRecord::SetTopicConfig {
                topic_id,
                key,
                value,
            } => {
                let topic = self.topic_mut(topic_id);
                match value {
                    Some(v) => topic.configs.insert(key.clone(), v.clone()),
                    None => topic.configs.remove(key),
                };
            }
            MetadataRecord::ProducerIdsBlock { end_id } => {
                assert!(
                    *end_id > self.producer_ids_end,
                    "producer id blocks only grow"
                );
                self.producer_ids_end = *end_id;
            }
            MetadataRecord::CreateAcl { id, binding } => {
                assert!(*id >= self.next_acl_id, "ACL ids only grow");
                Arc::make_mut(&mut self.acls).insert(*id, binding.clone());
                self.next_acl_id = id + 1;
            }
            MetadataRecord::DeleteAcl { id } => {
                Arc::make_mut(&mut self.acls).remove(*id);
            }
            MetadataRecord::UpsertScramCredential {
                user,
                mechanism,
                credential,
            } => {
                Arc::make_mut(&mut self.scram).upsert(user, *mechanism, credential.clone());
            }
            MetadataRecord::DeleteScramCredential { user, mechanism } => {
                Arc::make_mut(&mut self.scram).remove(user, *mechanism);
            }
            MetadataRecord::DeleteTopic { topic_id } => {
                let name = self
                    .topic_names
                    .remove(topic_id)
                    .expect("delete of an unknown topic");
                self.topics.remove(&name).expect("topic indexed by id");
            }
        }
        self.applied_count += 1;
    }

    fn topic_mut(&mut self, topic_id: &TopicId) -> &mut TopicImage {
        let name = self
            .topic_names
            .get(topic_id)
            .expect("record for an unknown topic id");
        self.topics.get_mut(name).expect("topic indexed by id")
    }
}

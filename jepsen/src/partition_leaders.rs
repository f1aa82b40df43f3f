//! Who leads which partition of the workload's topic, as the cluster's
//! Metadata says: the nemesis aims its targeted faults with it.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// How long one Metadata lookup may take before the nemesis gives up on
/// aiming and falls back to an untargeted fault.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// One partition's leader and its other replicas (the followers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leadership {
    pub leader: u32,
    pub followers: Vec<u32>,
}

/// Every partition of `topic` that has a leader, in partition order; empty
/// when the cluster cannot say (no answer in time, or no leader anywhere).
pub fn partition_leaders(bootstrap: &str, topic: &str) -> Vec<Leadership> {
    let Ok(consumer) = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "0")
        .create::<BaseConsumer>()
    else {
        return Vec::new();
    };
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT) else {
        return Vec::new();
    };
    let mut leaderships = Vec::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let Some(leader) = u32::try_from(partition.leader()).ok().filter(|l| *l > 0) else {
            continue;
        };
        let followers = partition
            .replicas()
            .iter()
            .filter_map(|r| u32::try_from(*r).ok())
            .filter(|r| *r > 0 && *r != leader)
            .collect();
        leaderships.push(Leadership { leader, followers });
    }
    leaderships
}

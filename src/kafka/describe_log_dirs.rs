//! DescribeLogDirs v0–4: this node's one log directory (`log.dirs`, as an
//! absolute path) with the size of each hosted partition, for the topics
//! asked (null: all). Offset lag is 0 (no future replicas move between
//! directories). v4 adds the directory's total and usable bytes, -1 when
//! unknown, as Kafka answers when it cannot read them.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use crate::kafka::str_bytes;
use crate::server::broker::Broker;

pub fn handle(broker: &Broker, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let wanted = |topic: &str, partition: i32| match &request.topics {
        None => true,
        Some(topics) => topics
            .iter()
            .any(|t| t.topic.as_str() == topic && t.partitions.contains(&partition)),
    };
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for handle in broker.all_partitions() {
        if !wanted(&handle.topic, handle.partition) {
            continue;
        }
        by_topic.entry(handle.topic.clone()).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(handle.partition)
                .with_partition_size(handle.size_bytes() as i64)
                .with_offset_lag(0)
                .with_is_future_key(false),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(TopicName(str_bytes(&name)))
                .with_partitions(partitions)
        })
        .collect();
    let result = DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(&broker.config.log_dir_display))
        .with_topics(topics)
        .with_total_bytes(-1)
        .with_usable_bytes(-1);
    DescribeLogDirsResponse::default().with_results(vec![result])
}

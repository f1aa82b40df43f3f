//! librdkafka's 0081_admin against Kafka's answers, in process through the
//! real dispatcher: authorized-operation bitfields (no authorizer: every
//! supported operation) and manual replica assignments in CreateTopics and
//! CreatePartitions, Kafka topic configs odradek accepts without effect,
//! and per-broker dynamic SASL configs.

use kafka_protocol::messages::alter_configs_request::{
    AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, BrokerId, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DescribeClusterRequest,
    DescribeClusterResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::kafka::test_harness::{broker, call_as};
use crate::server::broker::Broker;

const INVALID_CONFIG: i16 = 40;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const INVALID_REQUEST: i16 = 42;
const NOT_REQUESTED: i32 = i32::MIN;
/// READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS.
const TOPIC_OPS: i32 = 0b1101_1111_1000;
/// CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE.
const CLUSTER_OPS: i32 = 0b1_1111_1010_0000;
/// READ DELETE DESCRIBE.
const GROUP_OPS: i32 = 0b1_0100_1000;

fn name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

async fn call<Req, Resp>(broker: &Broker, api: ApiKey, version: i16, request: &Req) -> Resp
where
    Req: kafka_protocol::protocol::Encodable,
    Resp: kafka_protocol::protocol::Decodable,
{
    call_as(broker, api, version, request, "parity-test", None).await
}

fn assigned(topic: &str, partitions: &[&[i32]]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(
            partitions
                .iter()
                .enumerate()
                .map(|(i, replicas)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(i as i32)
                        .with_broker_ids(replicas.iter().map(|b| BrokerId(*b)).collect())
                })
                .collect(),
        )
}

async fn create(broker: &Broker, topics: Vec<CreatableTopic>) -> CreateTopicsResponse {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(topics);
    call(broker, ApiKey::CreateTopics, 7, &request).await
}

#[tokio::test]
async fn authorized_operations_are_every_supported_operation_when_asked() {
    let broker = broker().await;
    let node = broker.config.node_id;
    create(&broker, vec![assigned("ops", &[&[node]])]).await;
    for (version, ask) in [(8, true), (10, true), (12, true), (12, false), (8, false)] {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name("ops")))
            ]))
            .with_include_topic_authorized_operations(ask)
            .with_include_cluster_authorized_operations(ask && version <= 10);
        let meta: MetadataResponse = call(&broker, ApiKey::Metadata, version, &request).await;
        let topic_ops = meta.topics[0].topic_authorized_operations;
        assert_eq!(
            topic_ops,
            if ask { TOPIC_OPS } else { NOT_REQUESTED },
            "v{version}"
        );
        assert_eq!(topic_ops.count_ones(), if ask { 8 } else { 1 });
        if version <= 10 {
            let cluster = meta.cluster_authorized_operations;
            assert_eq!(
                cluster,
                if ask { CLUSTER_OPS } else { NOT_REQUESTED },
                "v{version}"
            );
        }
    }
    for ask in [true, false] {
        let cluster: DescribeClusterResponse = call(
            &broker,
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(ask),
        )
        .await;
        let expected = if ask { CLUSTER_OPS } else { NOT_REQUESTED };
        assert_eq!(cluster.cluster_authorized_operations, expected);
        let groups: DescribeGroupsResponse = call(
            &broker,
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_static_str("g"))])
                .with_include_authorized_operations(ask),
        )
        .await;
        let expected = if ask { GROUP_OPS } else { NOT_REQUESTED };
        assert_eq!(groups.groups[0].authorized_operations, expected);
    }
}

#[tokio::test]
async fn create_topics_takes_a_manual_assignment_of_registered_brokers() {
    let broker = broker().await;
    let node = broker.config.node_id;
    let other = node + 1;
    let answer = create(
        &broker,
        vec![
            assigned("manual", &[&[node], &[node], &[node]]),
            assigned("unknown-broker", &[&[other]]),
            assigned("twice", &[&[node, node]]),
            assigned("empty", &[&[]]),
            assigned("uneven", &[&[node], &[node, other]]),
            assigned("counted", &[&[node]]).with_num_partitions(1),
            assigned("gap", &[&[node]]).with_assignments(vec![
                CreatableReplicaAssignment::default()
                    .with_partition_index(1)
                    .with_broker_ids(vec![BrokerId(node)]),
            ]),
        ],
    )
    .await;
    let codes: Vec<(String, i16)> = answer
        .topics
        .iter()
        .map(|t| (t.name.0.to_string(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("manual".into(), 0),
            ("unknown-broker".into(), INVALID_REPLICA_ASSIGNMENT),
            ("twice".into(), INVALID_REPLICA_ASSIGNMENT),
            ("empty".into(), INVALID_REPLICA_ASSIGNMENT),
            ("uneven".into(), INVALID_REPLICA_ASSIGNMENT),
            ("counted".into(), INVALID_REQUEST),
            ("gap".into(), INVALID_REPLICA_ASSIGNMENT),
        ]
    );
    assert_eq!(answer.topics[0].num_partitions, 3);
    assert_eq!(answer.topics[0].replication_factor, 1);
    let topic = broker
        .image()
        .topics
        .get("manual")
        .cloned()
        .expect("created");
    assert_eq!(topic.partitions.len(), 3);
    assert!(topic.partitions.values().all(|p| p.replicas == vec![node]));
}

#[tokio::test]
async fn create_partitions_takes_a_manual_assignment_of_registered_brokers() {
    let broker = broker().await;
    let node = broker.config.node_id;
    create(&broker, vec![assigned("grow", &[&[node]])]).await;
    let grow = |count: i32, partitions: &[&[i32]]| {
        CreatePartitionsTopic::default()
            .with_name(name("grow"))
            .with_count(count)
            .with_assignments(Some(
                partitions
                    .iter()
                    .map(|r| {
                        CreatePartitionsAssignment::default()
                            .with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())
                    })
                    .collect(),
            ))
    };
    for (topic, expected) in [
        (grow(3, &[&[node]]), INVALID_REPLICA_ASSIGNMENT),
        (grow(2, &[&[node + 1]]), INVALID_REPLICA_ASSIGNMENT),
        (grow(2, &[&[node, node]]), INVALID_REPLICA_ASSIGNMENT),
        (grow(3, &[&[node], &[node]]), 0),
    ] {
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(vec![topic]);
        let answer: CreatePartitionsResponse =
            call(&broker, ApiKey::CreatePartitions, 3, &request).await;
        assert_eq!(answer.results[0].error_code, expected, "{answer:?}");
    }
    assert_eq!(broker.image().topics["grow"].partitions.len(), 3);
}

fn set_topic_config(topic: &str, key: &str, value: &str) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_string(topic.to_string()))
        .with_configs(vec![AlterableConfig::default()
            .with_name(StrBytes::from_string(key.to_string()))
            .with_config_operation(0)
            .with_value(Some(StrBytes::from_string(value.to_string())))])])
}

#[tokio::test]
async fn kafka_topic_configs_without_effect_are_accepted_checked_and_described() {
    let broker = broker().await;
    let node = broker.config.node_id;
    create(&broker, vec![assigned("inert", &[&[node]])]).await;
    for (key, value, expected) in [
        ("flush.ms", "12345", 0),
        ("flush.messages", "0", INVALID_CONFIG),
        ("message.format.version", "2.8", 0),
        ("preallocate", "maybe", INVALID_CONFIG),
    ] {
        let answer: IncrementalAlterConfigsResponse = call(
            &broker,
            ApiKey::IncrementalAlterConfigs,
            1,
            &set_topic_config("inert", key, value),
        )
        .await;
        assert_eq!(answer.responses[0].error_code, expected, "{key}={value}");
    }
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("inert"))
            .with_configuration_keys(None)]);
    let described: DescribeConfigsResponse =
        call(&broker, ApiKey::DescribeConfigs, 4, &request).await;
    let row = |name: &str| {
        described.results[0]
            .configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .map(|c| {
                (
                    c.value.as_ref().map(|v| v.to_string()),
                    c.config_source,
                    c.config_type,
                )
            })
    };
    assert_eq!(row("flush.ms"), Some((Some("12345".into()), 1, 5)));
    assert_eq!(
        row("message.format.version"),
        Some((Some("2.8".into()), 1, 2))
    );
    assert_eq!(
        row("flush.messages"),
        Some((Some(i64::MAX.to_string()), 5, 5)),
        "default, as Kafka"
    );
    assert_eq!(row("preallocate"), Some((Some("false".into()), 5, 1)));
}

#[tokio::test]
async fn per_broker_sasl_listener_configs_are_accepted_and_static_ones_refused() {
    let broker = broker().await;
    let node = broker.config.node_id.to_string();
    let alter = |resource: &str, key: &str, value: &str, validate_only: bool| {
        AlterConfigsRequest::default()
            .with_validate_only(validate_only)
            .with_resources(vec![LegacyResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_string(resource.to_string()))
                .with_configs(vec![LegacyConfig::default()
                    .with_name(StrBytes::from_string(key.to_string()))
                    .with_value(Some(StrBytes::from_string(value.to_string())))])])
    };
    let relogin = "sasl.kerberos.min.time.before.relogin";
    for (resource, key, value, validate_only, expected) in [
        (node.as_str(), relogin, "58000", true, 0),
        (node.as_str(), relogin, "58000", false, 0),
        (node.as_str(), relogin, "soon", false, INVALID_CONFIG),
        (
            node.as_str(),
            "log.retention.ms",
            "1",
            false,
            INVALID_REQUEST,
        ),
        ("", relogin, "58000", false, INVALID_REQUEST),
    ] {
        let answer: AlterConfigsResponse = call(
            &broker,
            ApiKey::AlterConfigs,
            2,
            &alter(resource, key, value, validate_only),
        )
        .await;
        assert_eq!(
            answer.responses[0].error_code, expected,
            "{resource}: {key}={value}"
        );
    }
    let incremental = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_string(node.clone()))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str(relogin))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_static_str("58000")))]),
    ]);
    let answer: IncrementalAlterConfigsResponse =
        call(&broker, ApiKey::IncrementalAlterConfigs, 1, &incremental).await;
    assert_eq!(answer.responses[0].error_code, 0);
}

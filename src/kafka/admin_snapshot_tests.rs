//! The admin APIs of issue 10's semantics item, in process through the real
//! dispatcher: AlterConfigs and IncrementalAlterConfigs change a live
//! partition, DescribeConfigs reports sources, synonyms, types and
//! documentation, DeleteRecords moves the log start, DescribeCluster and
//! DescribeLogDirs describe this node, and an acks=0 produce error closes
//! the connection.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::alter_configs_request::{
    AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, CreateTopicsRequest, CreateTopicsResponse,
    DeleteRecordsRequest, DeleteRecordsResponse, DescribeClusterRequest, DescribeClusterResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    ProduceRequest, ProduceResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::kafka::dispatch::{handle_frame, DispatchError};
use crate::kafka::test_harness::{broker, call_as};
use crate::log::batch_builder::uncompressed_batch;
use crate::server::broker::Broker;

const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const POLICY_VIOLATION: i16 = 44;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn call<Req: Encodable, Resp: kafka_protocol::protocol::Decodable>(
    broker: &Broker,
    api: ApiKey,
    version: i16,
    request: &Req,
) -> Resp {
    call_as(broker, api, version, request, "admin-test", None).await
}

async fn create(broker: &Broker, topic: &str, configs: &[(&str, &str)]) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(topic)))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            )]);
    let created: CreateTopicsResponse = call(broker, ApiKey::CreateTopics, 7, &request).await;
    assert_eq!(created.topics[0].error_code, 0, "{topic} created");
}

fn produce(topic: &str, partition: i32, acks: i16, records: usize) -> ProduceRequest {
    let values: Vec<(Option<Bytes>, Option<Bytes>)> = (0..records)
        .map(|i| (None, Some(Bytes::from(format!("v{i}")))))
        .collect();
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(uncompressed_batch(
                    &values, 1_000, 1,
                ))))])])
}

fn incremental(topic: &str, ops: &[(&str, i8, Option<&str>)]) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s(topic))
        .with_configs(
            ops.iter()
                .map(|(k, op, v)| {
                    AlterableConfig::default()
                        .with_name(s(k))
                        .with_config_operation(*op)
                        .with_value(v.map(s))
                })
                .collect(),
        )])
}

#[tokio::test]
async fn configs_change_live_partitions_and_are_described() {
    let broker = broker().await;
    create(&broker, "orders", &[("retention.ms", "3600000")]).await;

    // SET and APPEND (from the default "delete").
    let request = incremental(
        "orders",
        &[
            ("min.insync.replicas", 0, Some("2")),
            ("cleanup.policy", 2, Some("compact")),
        ],
    );
    let answer: IncrementalAlterConfigsResponse =
        call(&broker, ApiKey::IncrementalAlterConfigs, 1, &request).await;
    assert_eq!(answer.responses[0].error_code, 0, "{answer:?}");
    let live = broker.partition("orders", 0).expect("hosted").config();
    assert_eq!(live.min_insync_replicas, 2, "the live partition took it");
    assert!(live.compacted && live.delete_by_retention);
    assert_eq!(live.retention_ms, 3_600_000, "untouched keys stay");

    // validate_only changes nothing; errors by Kafka class.
    let request = incremental("orders", &[("retention.ms", 0, Some("1"))]).with_validate_only(true);
    let answer: IncrementalAlterConfigsResponse =
        call(&broker, ApiKey::IncrementalAlterConfigs, 1, &request).await;
    assert_eq!(answer.responses[0].error_code, 0);
    assert_eq!(
        broker.partition("orders", 0).unwrap().config().retention_ms,
        3_600_000
    );
    for (ops, code) in [
        (vec![("no.such", 0, Some("1"))], INVALID_CONFIG),
        (vec![("retention.ms", 2, Some("1"))], INVALID_CONFIG),
        (vec![("retention.ms", 0, None)], INVALID_REQUEST),
        (
            vec![("retention.ms", 0, Some("1")), ("retention.ms", 1, None)],
            INVALID_REQUEST,
        ),
    ] {
        let answer: IncrementalAlterConfigsResponse = call(
            &broker,
            ApiKey::IncrementalAlterConfigs,
            1,
            &incremental("orders", &ops),
        )
        .await;
        assert_eq!(answer.responses[0].error_code, code, "{ops:?}");
    }
    let answer: IncrementalAlterConfigsResponse = call(
        &broker,
        ApiKey::IncrementalAlterConfigs,
        1,
        &incremental("missing", &[("retention.ms", 0, Some("1"))]),
    )
    .await;
    assert_eq!(answer.responses[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);

    // DescribeConfigs with synonyms and documentation.
    let describe = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("orders"))
            .with_configuration_keys(Some(vec![
                s("min.insync.replicas"),
                s("segment.bytes"),
            ]))]);
    let described: DescribeConfigsResponse =
        call(&broker, ApiKey::DescribeConfigs, 4, &describe).await;
    insta::assert_debug_snapshot!("describe_configs_v4_synonyms_and_documentation", described);

    // Legacy AlterConfigs replaces the whole set.
    let legacy = AlterConfigsRequest::default().with_resources(vec![LegacyResource::default()
        .with_resource_type(2)
        .with_resource_name(s("orders"))
        .with_configs(vec![LegacyConfig::default()
            .with_name(s("segment.ms"))
            .with_value(Some(s("60000")))])]);
    let answer: AlterConfigsResponse = call(&broker, ApiKey::AlterConfigs, 2, &legacy).await;
    assert_eq!(answer.responses[0].error_code, 0);
    let live = broker.partition("orders", 0).unwrap().config();
    assert_eq!(live.segment_ms, 60_000);
    assert_eq!(live.min_insync_replicas, 1, "reset to the default");
    assert!(!live.compacted, "reset to the default");
    let image = broker.image();
    assert_eq!(
        image.topics["orders"].configs.len(),
        1,
        "persisted as metadata"
    );

    for (key, value) in [("no.such.config", "1"), ("retention.ms", "soon")] {
        let bad = AlterConfigsRequest::default().with_resources(vec![LegacyResource::default()
            .with_resource_type(2)
            .with_resource_name(s("orders"))
            .with_configs(vec![LegacyConfig::default()
                .with_name(s(key))
                .with_value(Some(s(value)))])]);
        for version in [0, 1, 2] {
            let answer: AlterConfigsResponse =
                call(&broker, ApiKey::AlterConfigs, version, &bad).await;
            assert_eq!(
                answer.responses[0].error_code, INVALID_CONFIG,
                "{key} v{version}"
            );
        }
    }

    // Broker configs are static: refused, as Kafka refuses read-only ones.
    let broker_change =
        AlterConfigsRequest::default().with_resources(vec![LegacyResource::default()
            .with_resource_type(4)
            .with_resource_name(s("1"))
            .with_configs(vec![LegacyConfig::default()
                .with_name(s("log.retention.ms"))
                .with_value(Some(s("1")))])]);
    let answer: AlterConfigsResponse = call(&broker, ApiKey::AlterConfigs, 2, &broker_change).await;
    assert_eq!(answer.responses[0].error_code, INVALID_REQUEST);

    let describe_broker = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s("1"))
            .with_configuration_keys(Some(vec![
                s("default.replication.factor"),
                s("log.cleanup.policy"),
                s("log.message.timestamp.type"),
            ])),
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s("7")),
    ]);
    let described: DescribeConfigsResponse =
        call(&broker, ApiKey::DescribeConfigs, 4, &describe_broker).await;
    assert_eq!(described.results[1].error_code, INVALID_REQUEST);
    insta::assert_debug_snapshot!("describe_configs_v4_broker", described);
}

#[tokio::test]
async fn delete_records_moves_the_log_start() {
    let broker = broker().await;
    create(&broker, "purge", &[]).await;
    create(&broker, "kept", &[("cleanup.policy", "compact")]).await;
    let produced: ProduceResponse =
        call(&broker, ApiKey::Produce, 9, &produce("purge", 0, 1, 10)).await;
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);

    let request = |topic: &str, offset: i64| {
        DeleteRecordsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(offset),
                    DeleteRecordsPartition::default()
                        .with_partition_index(9)
                        .with_offset(0),
                ])])
    };
    let answer: DeleteRecordsResponse =
        call(&broker, ApiKey::DeleteRecords, 2, &request("purge", 4)).await;
    let p = &answer.topics[0].partitions;
    assert_eq!((p[0].error_code, p[0].low_watermark), (0, 4));
    assert_eq!(p[1].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(broker.partition("purge", 0).unwrap().offsets().0, 4);
    assert!(broker
        .partition("purge", 0)
        .unwrap()
        .read(3, 1 << 20)
        .is_err());

    let answer: DeleteRecordsResponse =
        call(&broker, ApiKey::DeleteRecords, 2, &request("purge", 11)).await;
    assert_eq!(
        answer.topics[0].partitions[0].error_code,
        OFFSET_OUT_OF_RANGE
    );
    let answer: DeleteRecordsResponse =
        call(&broker, ApiKey::DeleteRecords, 2, &request("purge", -1)).await;
    assert_eq!(
        answer.topics[0].partitions[0].low_watermark, 10,
        "-1 is the HW"
    );
    let answer: DeleteRecordsResponse =
        call(&broker, ApiKey::DeleteRecords, 2, &request("kept", 0)).await;
    assert_eq!(answer.topics[0].partitions[0].error_code, POLICY_VIOLATION);
}

#[tokio::test]
async fn describe_cluster_and_log_dirs() {
    let broker = broker().await;
    create(&broker, "sized", &[]).await;
    let _: ProduceResponse = call(&broker, ApiKey::Produce, 9, &produce("sized", 0, 1, 3)).await;
    let cluster: DescribeClusterResponse = call(
        &broker,
        ApiKey::DescribeCluster,
        1,
        &DescribeClusterRequest::default(),
    )
    .await;
    insta::assert_debug_snapshot!("describe_cluster_v1", cluster);
    let controllers: DescribeClusterResponse = call(
        &broker,
        ApiKey::DescribeCluster,
        1,
        &DescribeClusterRequest::default().with_endpoint_type(2),
    )
    .await;
    assert_eq!(controllers.error_code, 115);
    let dirs: DescribeLogDirsResponse = call(
        &broker,
        ApiKey::DescribeLogDirs,
        4,
        &DescribeLogDirsRequest::default().with_topics(None),
    )
    .await;
    let sized = dirs.results[0]
        .topics
        .iter()
        .find(|t| t.name.as_str() == "sized")
        .expect("listed");
    assert!(sized.partitions[0].partition_size > 0);
}

#[tokio::test]
async fn an_acks0_produce_error_closes_the_connection() {
    let broker = broker().await;
    create(&broker, "quiet", &[]).await;
    let frame = |request: &ProduceRequest| {
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(9)
            .with_correlation_id(1)
            .encode(&mut frame, ApiKey::Produce.request_header_version(9))
            .unwrap();
        request.encode(&mut frame, 9).unwrap();
        frame.freeze()
    };
    let ok = handle_frame(&broker, frame(&produce("quiet", 0, 0, 1))).await;
    assert!(matches!(ok, Ok(crate::kafka::dispatch::Reply::Nothing)));
    let failed = handle_frame(&broker, frame(&produce("quiet", 5, 0, 1))).await;
    assert!(
        matches!(
            failed,
            Err(DispatchError::UnacknowledgedProduceFailed { .. })
        ),
        "an acks=0 error must close the connection"
    );
}

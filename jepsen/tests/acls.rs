//! The ACL APIs and the standard authorizer on the release binary, through raw frames (the
//! rdkafka crate has no ACL admin API): SECURITY_DISABLED without an authorizer; with one,
//! CreateAcls / DescribeAcls / DeleteAcls round trip, ACLs survive a restart, and a DENY on one
//! topic for `User:ANONYMOUS` makes produce and fetch fail with TOPIC_AUTHORIZATION_FAILED
//! while another topic keeps working.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse, FetchRequest, FetchResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use odradek_jepsen::wire::{frame, RawConnection, Reply};
use odradek_jepsen::{BrokerOptions, BrokerProcess};

const ACL_VERSION: i16 = 3;
const SECURITY_DISABLED: i16 = 54;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const INVALID_REQUEST: i16 = 42;
// Kafka's codes (ResourceType, PatternType, AclOperation, AclPermissionType).
const TOPIC: i8 = 2;
const CLUSTER: i8 = 4;
const ANY: i8 = 1;
const LITERAL: i8 = 3;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DENY: i8 = 2;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Sends one request on a new connection and returns the response body (after its header).
fn call<R: Encodable>(broker: &BrokerProcess, api: ApiKey, version: i16, request: &R) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(11)
        .with_client_id(Some(StrBytes::from_static_str("acl-test")))
        .encode(&mut buf, api.request_header_version(version))
        .expect("header");
    request.encode(&mut buf, version).expect("request");
    let mut conn = RawConnection::connect(broker.addr()).expect("connect");
    conn.send(&frame(&buf)).expect("send");
    let Reply::Frame(body) = conn.read_reply(Duration::from_secs(10)).expect("read") else {
        panic!("no answer to {api:?}\n{}", broker.log_tail());
    };
    let mut body = Bytes::from(body);
    let header =
        ResponseHeader::decode(&mut body, api.response_header_version(version)).expect("header");
    assert_eq!(header.correlation_id, 11);
    body
}

fn deny(topic: &str, operation: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(TOPIC)
        .with_resource_name(s(topic))
        .with_resource_pattern_type(LITERAL)
        .with_principal(s("User:ANONYMOUS"))
        .with_host(s("*"))
        .with_operation(operation)
        .with_permission_type(DENY)
}

fn create_acls(broker: &BrokerProcess, creations: Vec<AclCreation>) -> CreateAclsResponse {
    let request = CreateAclsRequest::default().with_creations(creations);
    let mut body = call(broker, ApiKey::CreateAcls, ACL_VERSION, &request);
    CreateAclsResponse::decode(&mut body, ACL_VERSION).expect("CreateAcls response")
}

fn describe_all(broker: &BrokerProcess) -> DescribeAclsResponse {
    // The codec's defaults for the nullable filters are empty strings: null means "any".
    let request = DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY);
    let mut body = call(broker, ApiKey::DescribeAcls, ACL_VERSION, &request);
    DescribeAclsResponse::decode(&mut body, ACL_VERSION).expect("DescribeAcls response")
}

/// The (resource name, operation) of every ACL DescribeAcls reports.
fn described(broker: &BrokerProcess) -> Vec<(String, i8)> {
    let response = describe_all(broker);
    assert_eq!(response.error_code, 0, "{response:?}");
    let mut acls: Vec<(String, i8)> = response
        .resources
        .iter()
        .flat_map(|r| {
            r.acls
                .iter()
                .map(|a| (r.resource_name.to_string(), a.operation))
        })
        .collect();
    acls.sort();
    acls
}

fn delete_acls(broker: &BrokerProcess, filters: Vec<DeleteAclsFilter>) -> DeleteAclsResponse {
    let request = DeleteAclsRequest::default().with_filters(filters);
    let mut body = call(broker, ApiKey::DeleteAcls, ACL_VERSION, &request);
    DeleteAclsResponse::decode(&mut body, ACL_VERSION).expect("DeleteAcls response")
}

fn filter(topic: Option<&str>, operation: i8) -> DeleteAclsFilter {
    DeleteAclsFilter::default()
        .with_resource_type_filter(if topic.is_some() { TOPIC } else { ANY })
        .with_resource_name_filter(topic.map(s))
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_pattern_type_filter(ANY)
        .with_operation(operation)
        .with_permission_type(ANY)
}

/// One uncompressed v2 batch holding one record.
fn one_record_batch() -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(Bytes::from_static(b"v")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &[record], &options).expect("encode batch");
    buf.freeze()
}

/// Produces one record to `topic`/0 and returns the partition's error code.
fn produce_error(broker: &BrokerProcess, topic: &str) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(one_record_batch()))])]);
    let mut body = call(broker, ApiKey::Produce, 9, &request);
    let response = ProduceResponse::decode(&mut body, 9).expect("produce response");
    response.responses[0].partition_responses[0].error_code
}

/// Fetches `topic`/0 from offset 0 and returns the partition's error code.
fn fetch_error(broker: &BrokerProcess, topic: &str) -> i16 {
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let mut body = call(broker, ApiKey::Fetch, 11, &request);
    let response = FetchResponse::decode(&mut body, 11).expect("fetch response");
    response.responses[0].partitions[0].error_code
}

#[test]
fn without_an_authorizer_the_acl_apis_answer_security_disabled() {
    let broker = BrokerProcess::start_default().expect("broker starts");
    let created = create_acls(&broker, vec![deny("t", WRITE), deny("u", READ)]);
    assert_eq!(created.results.len(), 2);
    for result in &created.results {
        assert_eq!(result.error_code, SECURITY_DISABLED);
        assert_eq!(
            result.error_message.as_deref(),
            Some("No Authorizer is configured.")
        );
    }
    let described = describe_all(&broker);
    assert_eq!(described.error_code, SECURITY_DISABLED);
    assert_eq!(
        described.error_message.as_deref(),
        Some("No Authorizer is configured on the broker")
    );
    let deleted = delete_acls(&broker, vec![filter(None, ANY)]);
    assert_eq!(deleted.filter_results[0].error_code, SECURITY_DISABLED);
    // Nothing is enforced: produce works.
    let topic = unique_topic("acl-off");
    create_topic(&broker.bootstrap(), &topic, 1, &[]);
    assert_eq!(produce_error(&broker, &topic), 0);
}

#[test]
fn acls_round_trip_survive_a_restart_and_a_deny_closes_one_topic() {
    let mut broker = BrokerOptions::default()
        .arg("--authorizer")
        .arg("org.apache.kafka.metadata.authorizer.StandardAuthorizer")
        .arg("--allow-everyone-if-no-acl-found")
        .arg("true")
        .start()
        .expect("broker starts");
    let open = unique_topic("acl-open");
    let closed = unique_topic("acl-closed");
    create_topic(&broker.bootstrap(), &open, 1, &[]);
    create_topic(&broker.bootstrap(), &closed, 1, &[]);
    assert_eq!(produce_error(&broker, &closed), 0, "no ACL yet");

    let bad_cluster = deny(&closed, WRITE)
        .with_resource_type(CLUSTER)
        .with_resource_name(s("not-the-cluster"));
    let created = create_acls(
        &broker,
        vec![deny(&closed, WRITE), deny(&closed, READ), bad_cluster],
    );
    let codes: Vec<i16> = created.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, 0, INVALID_REQUEST]);
    assert_eq!(
        created.results[2].error_message.as_deref(),
        Some("The only valid name for the CLUSTER resource is kafka-cluster")
    );
    let expected = vec![(closed.clone(), READ), (closed.clone(), WRITE)];
    assert_eq!(described(&broker), expected);

    assert_eq!(produce_error(&broker, &closed), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(fetch_error(&broker, &closed), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        produce_error(&broker, &open),
        0,
        "another topic keeps working"
    );
    assert_eq!(fetch_error(&broker, &open), 0);

    broker.restart().expect("broker restarts");
    assert_eq!(described(&broker), expected, "ACLs survive a restart");
    assert_eq!(produce_error(&broker, &closed), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(produce_error(&broker, &open), 0);

    // Deleting the WRITE deny reports it; the topic still has an ACL (the READ deny), so
    // allow.everyone.if.no.acl.found no longer applies to it and WRITE stays refused.
    let deleted = delete_acls(&broker, vec![filter(Some(&closed), WRITE)]);
    let matching = &deleted.filter_results[0].matching_acls;
    assert_eq!(deleted.filter_results[0].error_code, 0);
    assert_eq!(matching.len(), 1);
    assert_eq!(matching[0].operation, WRITE);
    assert_eq!(&*matching[0].resource_name, closed.as_str());
    assert_eq!(described(&broker), vec![(closed.clone(), READ)]);
    assert_eq!(produce_error(&broker, &closed), TOPIC_AUTHORIZATION_FAILED);

    let deleted = delete_acls(&broker, vec![filter(None, ANY)]);
    assert_eq!(deleted.filter_results[0].matching_acls.len(), 1);
    assert!(described(&broker).is_empty());
    assert_eq!(
        produce_error(&broker, &closed),
        0,
        "no ACL left: everyone allowed"
    );
    assert_eq!(fetch_error(&broker, &closed), 0);
}

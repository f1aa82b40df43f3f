//! A real cluster of 3 voters and 1 broker-only node (an observer of the
//! metadata quorum) on loopback, driven by librdkafka: the observer
//! registers, hosts replicas of an RF=3 topic and leads some, takes
//! produce and consume, survives its own kill -9 and a voter's; admin
//! changes sent over the wire to nodes that are not the active controller
//! (the observer and a voter) are forwarded and succeed.
#![cfg(not(madsim))]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, MetadataRequest,
    MetadataResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use odradek_jepsen::wire::{frame, RawConnection, Reply};
use odradek_jepsen::{BrokerProcess, Cluster};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Offset;

const NODES: usize = 4;
const VOTERS: usize = 3;
/// The broker-only node.
const OBSERVER: i32 = 4;
const FORMATION_TIMEOUT: Duration = Duration::from_secs(30);
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(40);

/// One cluster at a time (each picks its ports before binding them).
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start_cluster() -> (std::sync::MutexGuard<'static, ()>, Cluster) {
    let turn = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let cluster = Cluster::start_with_voters(NODES, VOTERS, |_, options| {
        options
            .arg("--default-replication-factor")
            .arg("3")
            .arg("--default-fsync-policy")
            .arg("always")
    })
    .expect("start the cluster");
    let bootstrap = cluster.bootstrap();
    wait_until(
        FORMATION_TIMEOUT,
        "every broker (the observer too) registered and live",
        || live_brokers(&bootstrap) == NODES,
        &cluster,
    );
    (turn, cluster)
}

fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool, cluster: &Cluster) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("not within {timeout:?}: {what}\n{}", cluster.log_tails());
}

fn live_brokers(bootstrap: &str) -> usize {
    consumer(bootstrap, &[])
        .fetch_metadata(None, Duration::from_secs(3))
        .map(|m| m.brokers().len())
        .unwrap_or(0)
}

/// Every partition of `topic`: (id, leader, replicas, isr).
fn partitions(bootstrap: &str, topic: &str) -> Vec<(i32, i32, Vec<i32>, Vec<i32>)> {
    let Ok(metadata) = consumer(bootstrap, &[]).fetch_metadata(Some(topic), Duration::from_secs(3))
    else {
        return Vec::new();
    };
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Vec::new();
    };
    t.partitions()
        .iter()
        .map(|p| (p.id(), p.leader(), p.replicas().to_vec(), p.isr().to_vec()))
        .collect()
}

fn reliable_producer(bootstrap: &str) -> FutureProducer {
    producer(
        bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "60000"),
            ("retry.backoff.ms", "200"),
        ],
    )
}

/// Sends `values` to `partition`; returns those acknowledged.
#[allow(clippy::result_large_err)]
fn send(producer: &FutureProducer, topic: &str, partition: i32, values: &[String]) -> Vec<String> {
    let futures: Vec<_> = values
        .iter()
        .map(|v| {
            producer.send_result(
                FutureRecord::<(), String>::to(topic)
                    .partition(partition)
                    .payload(v),
            )
        })
        .collect();
    let mut acked = Vec::new();
    for (value, future) in values.iter().zip(futures) {
        let Ok(future) = future else { continue };
        if let Ok(Ok(_)) = block_on(future) {
            acked.push(value.clone());
        }
    }
    acked
}

/// Every value of `partition` from its start, until `expected` are all
/// seen or the timeout passes.
fn read_values(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    expected: &BTreeSet<String>,
) -> Vec<String> {
    let consumer: BaseConsumer = consumer(bootstrap, &[("auto.offset.reset", "earliest")]);
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + FAILOVER_TIMEOUT;
    let mut values = Vec::new();
    let mut seen = BTreeSet::new();
    while Instant::now() < deadline && !expected.is_subset(&seen) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            seen.insert(value.clone());
            values.push(value);
        }
    }
    values
}

/// One request over a raw connection to `node`, its decoded response.
fn call<Req: Encodable, Resp: Decodable>(
    node: &BrokerProcess,
    api: ApiKey,
    version: i16,
    request: &Req,
) -> Option<Resp> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(11)
        .with_client_id(Some(StrBytes::from_static_str("observer-test")))
        .encode(&mut buf, api.request_header_version(version))
        .ok()?;
    request.encode(&mut buf, version).ok()?;
    let mut conn = RawConnection::connect(node.addr()).ok()?;
    conn.send(&frame(&buf)).ok()?;
    // Forwarding may wait for a controller: well within this.
    let Ok(Reply::Frame(body)) = conn.read_reply(Duration::from_secs(30)) else {
        return None;
    };
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, api.response_header_version(version)).ok()?;
    assert_eq!(header.correlation_id, 11, "the client's correlation id");
    Resp::decode(&mut body, version).ok()
}

/// Node `id` (1-based), shared.
fn at(cluster: &Cluster, id: i32) -> &BrokerProcess {
    &cluster.nodes[(id - 1) as usize]
}

fn controller_id(node: &BrokerProcess) -> Option<i32> {
    let request = MetadataRequest::default().with_topics(Some(Vec::new()));
    let response: MetadataResponse = call(node, ApiKey::Metadata, 12, &request)?;
    Some(response.controller_id.0).filter(|id| *id > 0)
}

fn topic_count(node: &BrokerProcess, topic: &str) -> Option<usize> {
    let request = MetadataRequest::default().with_topics(None);
    let response: MetadataResponse = call(node, ApiKey::Metadata, 12, &request)?;
    Some(
        response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
            .map_or(0, |t| t.partitions.len()),
    )
}

#[test]
fn an_observer_hosts_and_leads_replicas_and_survives_kill9_of_itself_and_a_voter() {
    let (_turn, mut cluster) = start_cluster();
    let bootstrap = cluster.bootstrap();
    assert_ne!(
        controller_id(cluster.node(OBSERVER)),
        Some(OBSERVER),
        "a broker-only node never controls"
    );
    // RF=3 over 4 brokers, round-robin: the observer holds replicas of
    // three of four partitions and prefers to lead one.
    let topic = unique_topic("observed");
    let new_topic =
        NewTopic::new(&topic, 4, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let results = block_on(admin(&bootstrap).create_topics([&new_topic], &admin_options()))
        .expect("CreateTopics request");
    if let Some(Err((name, code))) = results.into_iter().next() {
        panic!("CreateTopics {name}: {code:?}\n{}", cluster.log_tails());
    }
    wait_until(
        FAILOVER_TIMEOUT,
        "every partition led with a full ISR",
        || {
            let parts = partitions(&bootstrap, &topic);
            parts.len() == 4 && parts.iter().all(|(_, l, _, isr)| *l > 0 && isr.len() == 3)
        },
        &cluster,
    );
    let parts = partitions(&bootstrap, &topic);
    let hosted: Vec<i32> = parts
        .iter()
        .filter(|(_, _, replicas, isr)| replicas.contains(&OBSERVER) && isr.contains(&OBSERVER))
        .map(|(id, ..)| *id)
        .collect();
    assert!(
        hosted.len() >= 3,
        "the observer is an in-sync replica: {parts:?}"
    );
    let led = parts
        .iter()
        .find(|(_, leader, ..)| *leader == OBSERVER)
        .map(|(id, ..)| *id)
        .unwrap_or_else(|| panic!("the observer leads a partition: {parts:?}"));

    // Produce and consume through the observer alone as bootstrap, to the
    // partition it leads.
    let via_observer = cluster.node(OBSERVER).bootstrap();
    let producer = reliable_producer(&via_observer);
    let first: Vec<String> = (0..200).map(|i| format!("a-{i}")).collect();
    let mut acked = send(&producer, &topic, led, &first);
    assert_eq!(acked.len(), first.len(), "{}", cluster.log_tails());
    let expected: BTreeSet<String> = acked.iter().cloned().collect();
    let values = read_values(&via_observer, &topic, led, &expected);
    assert_eq!(
        values.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "read back through the observer"
    );

    // kill -9 of the observer: its leadership moves, producers go on.
    cluster.node(OBSERVER).kill9().unwrap();
    let voters_bootstrap = (1..=VOTERS as i32)
        .map(|id| cluster.node(id).bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let producer = reliable_producer(&voters_bootstrap);
    let second: Vec<String> = (0..200).map(|i| format!("b-{i}")).collect();
    let acked_after = send(&producer, &topic, led, &second);
    assert_eq!(acked_after.len(), second.len(), "{}", cluster.log_tails());
    acked.extend(acked_after);
    cluster.node(OBSERVER).restart().unwrap();
    wait_until(
        FAILOVER_TIMEOUT,
        "the restarted observer back in every ISR it belongs to",
        || {
            partitions(&bootstrap, &topic)
                .iter()
                .filter(|(id, ..)| hosted.contains(id))
                .all(|(_, _, _, isr)| isr.contains(&OBSERVER))
        },
        &cluster,
    );

    // kill -9 of a voter (the active controller, the hardest one): the
    // remaining two voters elect another; the observer follows the new
    // controller and the topic stays writable through it.
    let controller = controller_id(cluster.node(1)).expect("a controller");
    assert!(controller <= VOTERS as i32);
    cluster.node(controller).kill9().unwrap();
    wait_until(
        FAILOVER_TIMEOUT,
        "the observer names a new controller",
        || controller_id(at(&cluster, OBSERVER)).is_some_and(|c| c != controller),
        &cluster,
    );
    let survivors_bootstrap = (1..=NODES as i32)
        .filter(|id| *id != controller)
        .map(|id| cluster.node(id).bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let producer = reliable_producer(&survivors_bootstrap);
    let third: Vec<String> = (0..200).map(|i| format!("c-{i}")).collect();
    let acked_third = send(&producer, &topic, led, &third);
    assert_eq!(acked_third.len(), third.len(), "{}", cluster.log_tails());
    acked.extend(acked_third);
    // A topic created through the observer after the failover.
    let later = unique_topic("after-voter-death");
    let results = block_on(admin(&via_observer).create_topics(
        [&NewTopic::new(&later, 1, TopicReplication::Fixed(2))],
        &admin_options(),
    ))
    .expect("CreateTopics request");
    if let Some(Err((name, code))) = results.into_iter().next() {
        panic!("CreateTopics {name}: {code:?}\n{}", cluster.log_tails());
    }

    let expected: BTreeSet<String> = acked.iter().cloned().collect();
    let values = read_values(&survivors_bootstrap, &topic, led, &expected);
    let seen: BTreeSet<String> = values.iter().cloned().collect();
    let lost: Vec<&String> = expected.difference(&seen).collect();
    assert!(
        lost.is_empty(),
        "acknowledged records lost: {lost:?}\n{}",
        cluster.log_tails()
    );
    assert_eq!(values.len(), seen.len(), "no duplicates with idempotence");
}

#[test]
fn admin_changes_sent_to_non_controllers_are_forwarded() {
    let (_turn, mut cluster) = start_cluster();
    let bootstrap = cluster.bootstrap();
    let controller = controller_id(cluster.node(1)).expect("a controller");
    let voter = (1..=VOTERS as i32)
        .find(|id| *id != controller)
        .expect("another voter");
    for target in [OBSERVER, voter] {
        let topic = unique_topic(&format!("forwarded-via-{target}"));
        create_topic(&bootstrap, &topic, 1, &[]);
        wait_until(
            FAILOVER_TIMEOUT,
            "the topic known at the target",
            || topic_count(at(&cluster, target), &topic) == Some(1),
            &cluster,
        );
        let node = cluster.node(target);
        let name = TopicName(StrBytes::from_string(topic.clone()));

        // CreatePartitions: 1 → 3, read back at the same node.
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(name.clone())
                .with_count(3)
                .with_assignments(None)])
            .with_timeout_ms(10_000);
        let response: CreatePartitionsResponse =
            call(node, ApiKey::CreatePartitions, 3, &request).expect("CreatePartitions answered");
        assert_eq!(
            response.results[0].error_code,
            0,
            "CreatePartitions via node {target}: {:?}\n{}",
            response.results[0].error_message,
            cluster.log_tails()
        );
        let node = cluster.node(target);
        assert_eq!(
            topic_count(node, &topic),
            Some(3),
            "seen at node {target} at once"
        );

        // IncrementalAlterConfigs (SET retention.ms), read back there.
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_string(topic.clone()))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_static_str("123456")))]),
        ]);
        let response: IncrementalAlterConfigsResponse =
            call(node, ApiKey::IncrementalAlterConfigs, 1, &request)
                .expect("IncrementalAlterConfigs answered");
        assert_eq!(
            response.responses[0].error_code, 0,
            "IncrementalAlterConfigs via node {target}: {:?}",
            response.responses[0].error_message
        );
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_string(topic.clone()))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")])),
        ]);
        let response: DescribeConfigsResponse =
            call(node, ApiKey::DescribeConfigs, 4, &request).expect("DescribeConfigs answered");
        let value = response.results[0]
            .configs
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .and_then(|c| c.value.clone());
        assert_eq!(value.as_deref(), Some("123456"), "seen at node {target}");

        // DeleteTopics, gone at the same node.
        let request = DeleteTopicsRequest::default()
            .with_topics(vec![DeleteTopicState::default().with_name(Some(name))])
            .with_timeout_ms(10_000);
        let response: DeleteTopicsResponse =
            call(node, ApiKey::DeleteTopics, 6, &request).expect("DeleteTopics answered");
        assert_eq!(
            response.responses[0].error_code, 0,
            "DeleteTopics via node {target}: {:?}",
            response.responses[0].error_message
        );
        assert_eq!(topic_count(node, &topic), Some(0), "gone at node {target}");
    }
}

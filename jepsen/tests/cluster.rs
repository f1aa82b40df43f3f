//! A real 3-node cluster of the release binary on loopback, driven by
//! librdkafka: replicated produce and consume, kill -9 of a partition
//! leader mid-stream with no acknowledged record lost, the killed node
//! rejoining the ISR after a restart, and a consumer group that keeps
//! working when its coordinator's node dies.
#![cfg(not(madsim))]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use odradek_jepsen::wire::{frame, RawConnection, Reply};
use odradek_jepsen::{BrokerProcess, Cluster};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Offset;

const NODES: usize = 3;
/// How long the cluster may take to elect a controller and register every
/// broker after the processes started.
const FORMATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a failover (fencing, election, clients following) may take.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(40);

/// One cluster at a time: each holds six loopback ports it chose before
/// its processes bound them, and clusters started side by side could take
/// each other's.
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start_cluster() -> (std::sync::MutexGuard<'static, ()>, Cluster) {
    let turn = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let cluster = Cluster::start(NODES, |_, options| {
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
        "every broker registered and live",
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

/// (leader, isr) of a partition as Metadata tells it.
fn partition_state(bootstrap: &str, topic: &str, partition: i32) -> Option<(i32, Vec<i32>)> {
    let metadata = consumer(bootstrap, &[])
        .fetch_metadata(Some(topic), Duration::from_secs(3))
        .ok()?;
    let t = metadata.topics().iter().find(|t| t.name() == topic)?;
    let p = t.partitions().iter().find(|p| p.id() == partition)?;
    Some((p.leader(), p.isr().to_vec()))
}

fn create_replicated_topic(bootstrap: &str, topic: &str, partitions: i32, cluster: &Cluster) {
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    let results = block_on(admin(bootstrap).create_topics([&new_topic], &admin_options()))
        .expect("CreateTopics request");
    if let Some(Err((name, code))) = results.into_iter().next() {
        panic!("CreateTopics {name}: {code:?}\n{}", cluster.log_tails());
    }
    wait_until(
        FAILOVER_TIMEOUT,
        "every partition led with a full ISR",
        || {
            (0..partitions).all(|p| {
                partition_state(bootstrap, topic, p).is_some_and(|(l, isr)| l > 0 && isr.len() == 3)
            })
        },
        cluster,
    );
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

/// Sends `values` to `partition` and returns those acknowledged.
// rdkafka's send_result hands the record back in its error.
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

/// Every value of `partition`, read from its start until `expected` are
/// all seen or the timeout passes.
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

#[test]
fn kill_the_leader_mid_stream_and_lose_no_acknowledged_record() {
    let (_turn, mut cluster) = start_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("replicated");
    create_replicated_topic(&bootstrap, &topic, 1, &cluster);
    let producer = reliable_producer(&bootstrap);
    let first: Vec<String> = (0..300).map(|i| format!("a-{i}")).collect();
    let mut acked = send(&producer, &topic, 0, &first);
    assert_eq!(
        acked.len(),
        first.len(),
        "a healthy cluster acknowledges everything\n{}",
        cluster.log_tails()
    );

    let (leader, _) = partition_state(&bootstrap, &topic, 0).expect("partition 0");
    cluster.node(leader).kill9().unwrap();
    let second: Vec<String> = (0..300).map(|i| format!("b-{i}")).collect();
    let acked_after = send(&producer, &topic, 0, &second);
    assert_eq!(
        acked_after.len(),
        second.len(),
        "producers go on after a leader dies (RF=3, min ISR 2)\n{}",
        cluster.log_tails()
    );
    acked.extend(acked_after);
    let (new_leader, isr) = partition_state(&bootstrap, &topic, 0).expect("partition 0");
    assert_ne!(new_leader, leader, "a new leader was elected");
    assert!(
        !isr.contains(&leader),
        "the dead broker left the ISR: {isr:?}"
    );

    let expected: BTreeSet<String> = acked.iter().cloned().collect();
    let values = read_values(&bootstrap, &topic, 0, &expected);
    let seen: BTreeSet<String> = values.iter().cloned().collect();
    let lost: Vec<&String> = expected.difference(&seen).collect();
    assert!(
        lost.is_empty(),
        "acknowledged records lost: {lost:?}\n{}",
        cluster.log_tails()
    );
    assert_eq!(values.len(), seen.len(), "no duplicates with idempotence");

    // The killed node restarts, truncates by leader epoch, catches up and
    // rejoins the ISR.
    cluster.node(leader).restart().unwrap();
    wait_until(
        FAILOVER_TIMEOUT,
        "the restarted node back in the ISR",
        || partition_state(&bootstrap, &topic, 0).is_some_and(|(_, isr)| isr.contains(&leader)),
        &cluster,
    );
}

#[test]
fn a_consumer_group_goes_on_when_its_coordinator_dies() {
    let (_turn, mut cluster) = start_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("grouped");
    create_replicated_topic(&bootstrap, &topic, 2, &cluster);
    let producer = reliable_producer(&bootstrap);
    let values: Vec<String> = (0..200).map(|i| format!("v-{i}")).collect();
    for (i, chunk) in values.chunks(100).enumerate() {
        assert_eq!(send(&producer, &topic, i as i32, chunk).len(), chunk.len());
    }
    let group = unique_topic("group");
    let make_consumer = || -> BaseConsumer {
        consumer(
            &bootstrap,
            &[
                ("group.id", group.as_str()),
                ("auto.offset.reset", "earliest"),
                ("enable.auto.offset.store", "true"),
                ("session.timeout.ms", "10000"),
            ],
        )
    };
    let consumer = make_consumer();
    consumer.subscribe(&[&topic]).unwrap();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + FAILOVER_TIMEOUT;
    while seen.len() < 100 && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert!(
        seen.len() >= 100,
        "the group consumed\n{}",
        cluster.log_tails()
    );
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit offsets");
    drop(consumer);

    // The coordinator is the leader of __consumer_offsets' partition.
    let (coordinator, _) =
        partition_state(&bootstrap, "__consumer_offsets", 0).expect("offsets topic");
    cluster.node(coordinator).kill9().unwrap();
    let consumer = make_consumer();
    consumer.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + FAILOVER_TIMEOUT;
    let mut again = BTreeSet::new();
    while seen.len() + again.len() < values.len() && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            again.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    // The committed offsets survived the coordinator's death: the group
    // resumes after them, reading nothing twice and nothing less.
    let reread: Vec<&String> = seen.intersection(&again).collect();
    assert!(
        reread.is_empty(),
        "records before the committed offsets read again: {reread:?}\n{}",
        cluster.log_tails()
    );
    assert_eq!(
        seen.len() + again.len(),
        values.len(),
        "the group read everything after its coordinator died\n{}",
        cluster.log_tails()
    );
}

#[test]
fn a_restarted_cluster_keeps_every_acknowledged_record() {
    let (_turn, mut cluster) = start_cluster();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("restarted");
    create_replicated_topic(&bootstrap, &topic, 1, &cluster);
    let producer = reliable_producer(&bootstrap);
    let first: Vec<String> = (0..100).map(|i| format!("r-{i}")).collect();
    let mut acked = send(&producer, &topic, 0, &first);
    // A failover bumps the leader epoch; the records after it carry the new
    // epoch, which a replaying node must not mistake for damage.
    let (leader, _) = partition_state(&bootstrap, &topic, 0).expect("partition 0");
    cluster.node(leader).kill9().unwrap();
    let second: Vec<String> = (0..100).map(|i| format!("s-{i}")).collect();
    acked.extend(send(&producer, &topic, 0, &second));
    drop(producer);
    assert_eq!(
        acked.len(),
        200,
        "every record acknowledged\n{}",
        cluster.log_tails()
    );
    cluster.node(leader).restart().unwrap();
    wait_until(
        FAILOVER_TIMEOUT,
        "the restarted node back in the ISR",
        || partition_state(&bootstrap, &topic, 0).is_some_and(|(_, isr)| isr.len() == 3),
        &cluster,
    );
    // The whole cluster stops and starts again, replaying its metadata.
    for id in 1..=NODES as i32 {
        cluster.node(id).stop().unwrap();
    }
    for id in 1..=NODES as i32 {
        cluster.node(id).restart().unwrap();
    }
    wait_until(
        FORMATION_TIMEOUT,
        "the partition led again",
        || partition_state(&bootstrap, &topic, 0).is_some_and(|(l, _)| l > 0),
        &cluster,
    );
    let expected: BTreeSet<String> = acked.iter().cloned().collect();
    let values = read_values(&bootstrap, &topic, 0, &expected);
    let seen: BTreeSet<String> = values.iter().cloned().collect();
    let lost: Vec<&String> = expected.difference(&seen).collect();
    assert!(
        lost.is_empty(),
        "acknowledged records lost over a full restart: {lost:?}\n{}",
        cluster.log_tails()
    );
}

/// The active controller as `node` reports it (Metadata v12 `controller_id`,
/// which rdkafka does not expose).
fn controller_id(node: &BrokerProcess) -> Option<i32> {
    let version = 12;
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Metadata as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("cluster-test")))
        .encode(&mut buf, ApiKey::Metadata.request_header_version(version))
        .ok()?;
    MetadataRequest::default()
        .with_topics(Some(Vec::new()))
        .encode(&mut buf, version)
        .ok()?;
    let mut conn = RawConnection::connect(node.addr()).ok()?;
    conn.send(&frame(&buf)).ok()?;
    let Ok(Reply::Frame(body)) = conn.read_reply(Duration::from_secs(5)) else {
        return None;
    };
    let mut body = Bytes::from(body);
    ResponseHeader::decode(&mut body, ApiKey::Metadata.response_header_version(version)).ok()?;
    let response = MetadataResponse::decode(&mut body, version).ok()?;
    Some(response.controller_id.0).filter(|id| *id > 0)
}

#[test]
fn losing_the_active_controller_elects_another_and_admin_goes_on() {
    let (_turn, mut cluster) = start_cluster();
    let controller = controller_id(&cluster.nodes[0]).expect("a controller");
    cluster.node(controller).kill9().unwrap();
    let survivor = if controller == 1 { 2 } else { 1 };
    wait_until(
        FAILOVER_TIMEOUT,
        "another controller elected",
        || controller_id(&cluster.nodes[(survivor - 1) as usize]).is_some_and(|c| c != controller),
        &cluster,
    );
    // Topic creation needs the controller; produce needs a fenced node's
    // leaderships moved.
    let bootstrap = cluster
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as i32 + 1 != controller)
        .map(|(_, n)| n.bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let topic = unique_topic("after-controller");
    let new_topic = NewTopic::new(&topic, 1, TopicReplication::Fixed(2));
    let results = block_on(admin(&bootstrap).create_topics([&new_topic], &admin_options()))
        .expect("CreateTopics request");
    if let Some(Err((name, code))) = results.into_iter().next() {
        panic!(
            "CreateTopics {name} after the controller died: {code:?}\n{}",
            cluster.log_tails()
        );
    }
    let producer = reliable_producer(&bootstrap);
    let values: Vec<String> = (0..50).map(|i| format!("c-{i}")).collect();
    assert_eq!(
        send(&producer, &topic, 0, &values).len(),
        values.len(),
        "produce after the controller died\n{}",
        cluster.log_tails()
    );
}

/// A topic deleted while a node was down: once back, and once its image
/// holds its new registration (so it is caught up with the controller), the
/// node removes that topic's files; a live topic's files stay (Kafka's
/// stray logs).
#[test]
fn a_node_removes_the_files_of_a_topic_deleted_while_it_was_down() {
    let (_turn, mut cluster) = start_cluster();
    let bootstrap = cluster.bootstrap();
    let doomed = unique_topic("deleted-while-down");
    let kept = unique_topic("kept-while-down");
    create_replicated_topic(&bootstrap, &doomed, 1, &cluster);
    create_replicated_topic(&bootstrap, &kept, 1, &cluster);
    let node = NODES as i32;
    let data = cluster.node(node).data_dir();
    let (doomed_dir, kept_dir) = (
        data.join(format!("{doomed}-0")),
        data.join(format!("{kept}-0")),
    );
    wait_until(
        FAILOVER_TIMEOUT,
        "both topics' files on the last node",
        || doomed_dir.exists() && kept_dir.exists(),
        &cluster,
    );
    cluster.node(node).kill9().unwrap();
    let others = cluster.nodes[..NODES - 1]
        .iter()
        .map(|n| n.bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let deleted = block_on(admin(&others).delete_topics(&[&doomed], &admin_options()))
        .expect("DeleteTopics request");
    assert!(
        deleted.iter().all(|r| r.is_ok()),
        "DeleteTopics {deleted:?}\n{}",
        cluster.log_tails()
    );
    cluster.node(node).restart().unwrap();
    wait_until(
        FAILOVER_TIMEOUT,
        "the deleted topic's files gone from the restarted node",
        || !doomed_dir.exists(),
        &cluster,
    );
    wait_until(
        FAILOVER_TIMEOUT,
        "the restarted node back in the live topic's ISR",
        || partition_state(&bootstrap, &kept, 0).is_some_and(|(_, isr)| isr.len() == 3),
        &cluster,
    );
    assert!(kept_dir.exists(), "the live topic's files stay");
}

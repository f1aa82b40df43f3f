//! One partition's failure stays inside it: requests to other partitions
//! and the background loops go on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::core::controller::CreateTopic;
use crate::io::clock::now_ms;
use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::kafka::test_harness::call_as;
use crate::log::record_batch::test_support::batch;
use crate::server::broker::Broker;
use crate::server::config::BrokerConfig;
use crate::server::housekeeping;

async fn broker() -> Arc<Broker> {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
    let config = BrokerConfig {
        data_dir: "data".to_string(),
        retention_check_interval_ms: 20,
        ..BrokerConfig::single_node_default()
    };
    Broker::open(config, disk).await.expect("broker opens")
}

async fn create(broker: &Broker, name: &str, configs: &[(&str, &str)]) {
    let configs: BTreeMap<String, String> = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    broker
        .create_topic(CreateTopic {
            name,
            num_partitions: 1,
            replication_factor: -1,
            configs,
        })
        .await
        .expect("topic created");
}

async fn produce(broker: &Broker, topic: &str, timestamp_ms: i64) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(batch(&[b"v"], timestamp_ms))))])]);
    let response: ProduceResponse =
        call_as(broker, ApiKey::Produce, 9, &request, "test", None).await;
    response.responses[0].partition_responses[0].error_code
}

#[tokio::test]
async fn a_failed_partition_answers_storage_errors_and_stops_nothing_else() {
    let broker = broker().await;
    create(&broker, "broken", &[]).await;
    create(&broker, "healthy", &[("retention.ms", "100")]).await;
    let broken = broker.partition("broken", 0).unwrap();
    broken.poison_for_test();

    assert_eq!(
        produce(&broker, "broken", now_ms()).await,
        ResponseError::KafkaStorageError.code()
    );
    assert_eq!(produce(&broker, "healthy", now_ms() - 60_000).await, 0);

    // The background loops skip the failed partition and keep working on
    // the others: retention deletes the healthy topic's expired record.
    let mut tasks = housekeeping::spawn_all(&broker);
    let healthy = broker.partition("healthy", 0).unwrap();
    let mut expired = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if healthy.offsets().0 == 1 {
            expired = true;
            break;
        }
    }
    assert!(expired, "retention went on despite the failed partition");
    let ended = tokio::time::timeout(
        Duration::from_millis(200),
        housekeeping::first_to_end(&mut tasks),
    )
    .await;
    assert!(ended.is_err(), "no background loop ended: {ended:?}");
    for (_, task) in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn a_background_loop_that_ends_is_reported_by_name() {
    let mut tasks = vec![
        ("forever", tokio::spawn(std::future::pending::<()>())),
        (
            "dies",
            tokio::spawn(async { panic!("a bug in a loop (test)") }),
        ),
    ];
    let (name, how) = housekeeping::first_to_end(&mut tasks).await;
    assert_eq!(name, "dies");
    assert!(how.contains("panic"), "{how}");
    tasks[0].1.abort();
}

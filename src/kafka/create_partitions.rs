//! CreatePartitions: grow a topic's partition count, optionally with a
//! manual replica assignment for the new partitions.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use crate::core::controller;
use crate::core::metadata::MetadataImage;
use crate::kafka::error_code;
use crate::kafka::{replica_assignment, str_bytes};
use crate::server::broker::Broker;

pub async fn handle(broker: &Broker, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let outcome = if let Err(refusal) =
            check_assignments(&broker.image(), &name, topic.count, &topic.assignments)
        {
            Err(refusal)
        } else if request.validate_only {
            controller::create_partitions(&broker.image(), &name, topic.count)
                .map(|_| ())
                .map_err(|e| (error_code::for_topic_error(&e), e.to_string()))
        } else {
            broker
                .commit_checked(|image| controller::create_partitions(image, &name, topic.count))
                .await
                .map_err(|e| (error_code::for_commit_error(&e), e.to_string()))
        };
        let result = CreatePartitionsTopicResult::default().with_name(topic.name);
        results.push(match outcome {
            Ok(()) => result,
            Err((error, message)) => result
                .with_error_code(error)
                .with_error_message(Some(str_bytes(&message))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

/// A manual assignment of the new partitions, checked as Kafka checks it
/// once the topic and the count are known good; an unknown topic or a count
/// that is no increase is left to the controller's own answer.
fn check_assignments(
    image: &MetadataImage,
    name: &str,
    count: i32,
    assignments: &Option<Vec<CreatePartitionsAssignment>>,
) -> Result<(), replica_assignment::Refusal> {
    let (Some(assignments), Some(topic)) = (assignments, image.topics.get(name)) else {
        return Ok(());
    };
    let current = topic.partitions.len();
    let Some(additional) = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_sub(current))
    else {
        return Ok(());
    };
    if additional == 0 {
        return Ok(());
    }
    let replication_factor = topic
        .partitions
        .values()
        .next()
        .map_or(1, |p| p.replicas.len());
    let assignments: Vec<Vec<i32>> = assignments
        .iter()
        .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
        .collect();
    replica_assignment::for_new_partitions(image, &assignments, additional, replication_factor)
}

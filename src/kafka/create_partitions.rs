//! CreatePartitions: grow a topic's partition count.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use crate::core::controller;
use crate::kafka::error_code::{self, code};
use crate::kafka::str_bytes;
use crate::server::broker::{Broker, CommitError};

pub async fn handle(broker: &Broker, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let outcome = if topic.assignments.is_some() {
            Err((
                code(ResponseError::InvalidRequest),
                "manual replica assignment is not supported".to_string(),
            ))
        } else if request.validate_only {
            controller::create_partitions(&broker.image(), &name, topic.count)
                .map(|_| ())
                .map_err(|e| (error_code::for_topic_error(&e), e.to_string()))
        } else {
            broker
                .commit_checked(|image| controller::create_partitions(image, &name, topic.count))
                .await
                .map_err(|e| match &e {
                    CommitError::Topic(t) => (error_code::for_topic_error(t), e.to_string()),
                    CommitError::Storage(_) => {
                        (code(ResponseError::KafkaStorageError), e.to_string())
                    }
                })
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

//! DeleteTopics: by name (all versions) or by topic id (v6+).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use crate::core::controller;
use crate::kafka::error_code::{self, code};
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

pub async fn handle(
    broker: &Broker,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    // (name if known, id if given)
    let mut targets: Vec<(Option<String>, Option<uuid::Uuid>)> = request
        .topic_names
        .iter()
        .map(|n| (Some(n.0.to_string()), None))
        .collect();
    for t in &request.topics {
        match &t.name {
            Some(name) => targets.push((Some(name.0.to_string()), None)),
            None => targets.push((None, Some(t.topic_id))),
        }
    }
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let image = broker.image();
        let name = name
            .or_else(|| id.and_then(|id| image.topic_by_id(id.as_bytes()).map(|t| t.name.clone())));
        // v6+ answers with the topic id, also when the request named the topic.
        let known_id = name
            .as_ref()
            .and_then(|n| image.topics.get(n))
            .map(|t| uuid::Uuid::from_bytes(t.topic_id));
        let mut result = DeletableTopicResult::default();
        if version >= 6 {
            result = result.with_topic_id(known_id.or(id).unwrap_or_default());
        }
        let Some(name) = name else {
            responses.push(result.with_error_code(code(ResponseError::UnknownTopicId)));
            continue;
        };
        result = result.with_name(Some(TopicName(str_bytes(&name))));
        if name == crate::server::offsets_topic::OFFSETS_TOPIC {
            // The group coordinator's storage: deleting it would lose every
            // committed offset.
            responses.push(result.with_error_code(code(ResponseError::InvalidTopicException)));
            continue;
        }
        let outcome = broker
            .commit_checked(|image| controller::delete_topic(image, &name))
            .await;
        let error = match outcome {
            Ok(()) => 0,
            Err(e) => error_code::for_commit_error(&e),
        };
        responses.push(result.with_error_code(error));
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

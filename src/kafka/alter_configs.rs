//! AlterConfigs v0–2 (legacy): a topic's explicit configs become exactly
//! the ones named (the others are reset to their defaults), as Kafka's
//! `legacyAlterConfigs`. Broker resources: see
//! [`alter_topic_config::broker_resource`].

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use crate::core::config_change;
use crate::kafka::alter_topic_config::{
    self as shared, duplicate_resource, duplicated, Outcome, RESOURCE_BROKER, RESOURCE_TOPIC,
};
use crate::kafka::error_code::code;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

pub async fn handle(broker: &Broker, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let names: Vec<(i8, String)> = request
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.to_string()))
        .collect();
    let twice = duplicated(&names);
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let name = resource.resource_name.to_string();
        let configs: Vec<(String, Option<String>)> = resource
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let outcome: Outcome = if twice.contains(&(resource.resource_type, name.clone())) {
            duplicate_resource()
        } else {
            match resource.resource_type {
                RESOURCE_TOPIC => match config_change::replace(&configs) {
                    Err(e) => shared::from_change_error(e),
                    Ok(next) => {
                        shared::alter_topic(broker, &name, request.validate_only, |_| Ok(next))
                            .await
                    }
                },
                RESOURCE_BROKER => shared::broker_resource(broker, &name, &configs),
                other => (
                    code(ResponseError::InvalidRequest),
                    Some(format!("Unknown resource type {other}")),
                ),
            }
        };
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_error_code(outcome.0)
                .with_error_message(outcome.1.as_deref().map(str_bytes))
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone()),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

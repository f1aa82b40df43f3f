//! IncrementalAlterConfigs v0–1: SET, DELETE, APPEND and SUBTRACT on a
//! topic's explicit configs ([`crate::core::config_change`]), committed as
//! metadata records and applied to the live partitions. Broker resources:
//! see [`alter_topic_config::broker_resource`].

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use crate::core::config_change::{self, ConfigOp};
use crate::kafka::alter_topic_config::{
    self as shared, duplicate_resource, duplicated, Outcome, RESOURCE_BROKER, RESOURCE_TOPIC,
};
use crate::kafka::error_code::code;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

pub async fn handle(
    broker: &Broker,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let names: Vec<(i8, String)> = request
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.to_string()))
        .collect();
    let twice = duplicated(&names);
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let name = resource.resource_name.to_string();
        let ops: Result<Vec<(String, ConfigOp)>, _> = resource
            .configs
            .iter()
            .map(|c| {
                ConfigOp::from_wire(c.config_operation, c.value.as_deref())
                    .map(|op| (c.name.to_string(), op))
            })
            .collect();
        let outcome: Outcome = if twice.contains(&(resource.resource_type, name.clone())) {
            duplicate_resource()
        } else {
            match (resource.resource_type, ops) {
                (RESOURCE_TOPIC | RESOURCE_BROKER, Err(e)) => shared::from_change_error(e),
                (RESOURCE_TOPIC, Ok(ops)) => {
                    shared::alter_topic(broker, &name, request.validate_only, |current| {
                        config_change::incremental(current, &ops)
                    })
                    .await
                }
                (RESOURCE_BROKER, Ok(ops)) => {
                    let configs: Vec<(String, Option<String>)> = ops
                        .into_iter()
                        .map(|(k, op)| match op {
                            ConfigOp::Delete => (k, None),
                            ConfigOp::Set(v) | ConfigOp::Append(v) | ConfigOp::Subtract(v) => {
                                (k, Some(v))
                            }
                        })
                        .collect();
                    shared::broker_resource(broker, &name, &configs)
                }
                (other, _) => (
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

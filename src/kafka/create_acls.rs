//! CreateAcls v1–3. Without an authorizer every binding gets
//! SECURITY_DISABLED ("No Authorizer is configured."), as in Kafka. With
//! one, each binding is validated as Kafka does (`core::acl::validate`) and
//! the new ones are committed as metadata records; a binding that already
//! exists succeeds without a record.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use crate::core::acl::changes;
use crate::core::acl::validate::{self, AclRequestError, Creation};
use crate::kafka::error_code::code;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

/// The request cannot be parsed as Kafka parses it (an UNKNOWN code): the
/// connection is closed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Every binding answered with `error`.
pub fn refuse_all(
    request: &CreateAclsRequest,
    error: ResponseError,
    message: Option<&str>,
) -> CreateAclsResponse {
    let result = AclCreationResult::default()
        .with_error_code(code(error))
        .with_error_message(message.map(str_bytes));
    CreateAclsResponse::default().with_results(vec![result; request.creations.len()])
}

pub async fn handle(
    broker: &Broker,
    request: CreateAclsRequest,
) -> Result<CreateAclsResponse, Refused> {
    let creations: Vec<Creation<'_>> = request
        .creations
        .iter()
        .map(|c| Creation {
            resource_type: c.resource_type,
            resource_name: &c.resource_name,
            pattern_type: c.resource_pattern_type,
            principal: &c.principal,
            host: &c.host,
            operation: c.operation,
            permission: c.permission_type,
        })
        .collect();
    match validate::check_creations(&creations) {
        Err(AclRequestError::UnknownElement) => {
            return Err(Refused(
                "CreatableAcls contain unknown elements".to_string(),
            ))
        }
        Err(AclRequestError::Unbuildable(reason)) if broker.config.authorizer.is_some() => {
            tracing::debug!(reason, "CreateAcls with a binding Kafka cannot build");
            return Ok(refuse_all(
                &request,
                ResponseError::UnknownServerError,
                None,
            ));
        }
        _ => {}
    }
    if broker.config.authorizer.is_none() {
        return Ok(refuse_all(
            &request,
            ResponseError::SecurityDisabled,
            Some("No Authorizer is configured."),
        ));
    }
    let bindings: Vec<_> = creations.iter().map(validate::binding_to_create).collect();
    let max_acls = broker.config.limits.max_acls;
    let committed = broker
        .commit_built(|image| changes::create(&image.acls, image.next_acl_id, bindings, max_acls))
        .await;
    let outcomes = match committed {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::warn!(%e, "CreateAcls could not be committed");
            return Ok(refuse_all(
                &request,
                ResponseError::UnknownServerError,
                None,
            ));
        }
    };
    let results = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(()) => AclCreationResult::default(),
            Err(e) => AclCreationResult::default()
                .with_error_code(code(ResponseError::InvalidRequest))
                .with_error_message(Some(str_bytes(&e.0))),
        })
        .collect();
    Ok(CreateAclsResponse::default().with_results(results))
}

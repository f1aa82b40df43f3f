//! DeleteAcls v1–3: each filter's matching bindings are removed (metadata
//! records) and reported under that filter. Without an authorizer every
//! filter gets SECURITY_DISABLED ("No Authorizer is configured."), as in
//! Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use crate::core::acl::changes;
use crate::core::acl::validate::{self, FilterFields};
use crate::kafka::error_code::code;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

pub use crate::kafka::create_acls::Refused;

/// Every filter answered with `error`.
pub fn refuse_all(
    request: &DeleteAclsRequest,
    error: ResponseError,
    message: Option<&str>,
) -> DeleteAclsResponse {
    let result = DeleteAclsFilterResult::default()
        .with_error_code(code(error))
        .with_error_message(message.map(str_bytes));
    DeleteAclsResponse::default().with_filter_results(vec![result; request.filters.len()])
}

pub async fn handle(
    broker: &Broker,
    request: DeleteAclsRequest,
) -> Result<DeleteAclsResponse, Refused> {
    let fields: Vec<FilterFields<'_>> = request
        .filters
        .iter()
        .map(|f| FilterFields {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.as_deref(),
            pattern_type: f.pattern_type_filter,
            principal: f.principal_filter.as_deref(),
            host: f.host_filter.as_deref(),
            operation: f.operation,
            permission: f.permission_type,
        })
        .collect();
    if validate::check_filters(&fields).is_err() {
        return Err(Refused("Filters contain UNKNOWN elements".to_string()));
    }
    if broker.config.authorizer.is_none() {
        return Ok(refuse_all(
            &request,
            ResponseError::SecurityDisabled,
            Some("No Authorizer is configured."),
        ));
    }
    let filters: Vec<_> = fields
        .iter()
        .map(|f| {
            let filter = validate::filter(f);
            validate::filter_to_delete(&filter).map(|()| filter)
        })
        .collect();
    let committed = broker
        .commit_built(|image| changes::delete(&image.acls, &filters))
        .await;
    let outcomes = match committed {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::warn!(%e, "DeleteAcls could not be committed");
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
            Err(e) => DeleteAclsFilterResult::default()
                .with_error_code(code(ResponseError::InvalidRequest))
                .with_error_message(Some(str_bytes(&e.0))),
            Ok(deleted) => DeleteAclsFilterResult::default().with_matching_acls(
                deleted
                    .iter()
                    .map(|b| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(b.pattern.resource_type.code())
                            .with_resource_name(str_bytes(&b.pattern.name))
                            .with_pattern_type(b.pattern.pattern_type.code())
                            .with_principal(str_bytes(&b.entry.principal))
                            .with_host(str_bytes(&b.entry.host))
                            .with_operation(b.entry.operation.code())
                            .with_permission_type(b.entry.permission.code())
                    })
                    .collect(),
            ),
        })
        .collect();
    Ok(DeleteAclsResponse::default().with_filter_results(results))
}

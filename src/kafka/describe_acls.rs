//! DescribeAcls v1–3: the bindings a filter matches, grouped by resource
//! pattern. Without an authorizer: SECURITY_DISABLED ("No Authorizer is
//! configured on the broker"), as in Kafka.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use crate::core::acl::validate::{self, FilterFields};
use crate::kafka::error_code::code;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

pub use crate::kafka::create_acls::Refused;

pub fn handle(
    broker: &Broker,
    request: DescribeAclsRequest,
) -> Result<DescribeAclsResponse, Refused> {
    let fields = FilterFields {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.as_deref(),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.as_deref(),
        host: request.host_filter.as_deref(),
        operation: request.operation,
        permission: request.permission_type,
    };
    if validate::check_filters(std::slice::from_ref(&fields)).is_err() {
        return Err(Refused(
            "DescribeAclsRequest contains UNKNOWN elements".to_string(),
        ));
    }
    if broker.config.authorizer.is_none() {
        return Ok(DescribeAclsResponse::default()
            .with_error_code(code(ResponseError::SecurityDisabled))
            .with_error_message(Some(str_bytes("No Authorizer is configured on the broker"))));
    }
    let filter = validate::filter(&fields);
    let image = broker.image();
    let mut by_pattern = BTreeMap::new();
    for (_, binding) in image.acls.iter().filter(|(_, b)| filter.matches(b)) {
        by_pattern
            .entry(&binding.pattern)
            .or_insert_with(Vec::new)
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(&binding.entry.principal))
                    .with_host(str_bytes(&binding.entry.host))
                    .with_operation(binding.entry.operation.code())
                    .with_permission_type(binding.entry.permission.code()),
            );
    }
    let resources = by_pattern
        .into_iter()
        .map(|(pattern, acls)| {
            DescribeAclsResource::default()
                .with_resource_type(pattern.resource_type.code())
                .with_resource_name(str_bytes(&pattern.name))
                .with_pattern_type(pattern.pattern_type.code())
                .with_acls(acls)
        })
        .collect();
    Ok(DescribeAclsResponse::default().with_resources(resources))
}

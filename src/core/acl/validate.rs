//! Kafka's checks of ACL bindings to create and of filters, with its error
//! messages, in the order a Kafka broker applies them:
//!
//! 1. parsing the request: a code 0 (UNKNOWN) anywhere fails the whole
//!    request (Kafka closes the connection);
//! 2. building `AclBinding`s: resource type ANY, pattern type MATCH or ANY,
//!    operation ANY or permission ANY throw, and every result of the request
//!    is UNKNOWN_SERVER_ERROR;
//! 3. per binding (`AclApis`, then `AclControlManager.validateNewAcl`):
//!    INVALID_REQUEST with Kafka's message.
//!
//! Beyond Kafka: a principal must be `Type:Name` (Kafka's ZooKeeper
//! authorizer refused it too; a KRaft broker stores it and then fails every
//! authorization against it), and a binding's strings are bounded
//! ([`BINDING_SIZE_MAX_BYTES`]) so a commit to the metadata journal is too.

use crate::core::acl::binding::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType,
    ResourcePattern, ResourceType, CLUSTER_NAME,
};

/// Resource name, principal and host of one binding together, in bytes, at
/// most (odradek's; Kafka has none). Topic names are at most 249 bytes.
pub const BINDING_SIZE_MAX_BYTES: usize = 16 * 1024;

/// The raw fields of one ACL creation (CreateAcls) as the client sent them.
#[derive(Debug, Clone)]
pub struct Creation<'a> {
    pub resource_type: i8,
    pub resource_name: &'a str,
    pub pattern_type: i8,
    pub principal: &'a str,
    pub host: &'a str,
    pub operation: i8,
    pub permission: i8,
}

/// The raw fields of a filter (DescribeAcls, DeleteAcls).
#[derive(Debug, Clone)]
pub struct FilterFields<'a> {
    pub resource_type: i8,
    pub resource_name: Option<&'a str>,
    pub pattern_type: i8,
    pub principal: Option<&'a str>,
    pub host: Option<&'a str>,
    pub operation: i8,
    pub permission: i8,
}

/// Why a request or one of its bindings is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclRequestError {
    /// A field holds code 0 (UNKNOWN): Kafka fails to parse the request.
    #[error("the request contains UNKNOWN elements")]
    UnknownElement,
    /// Kafka cannot build the binding: every result is UNKNOWN_SERVER_ERROR.
    #[error("{0}")]
    Unbuildable(String),
}

/// One binding refused: INVALID_REQUEST with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidBinding(pub String);

/// Request-level checks of a CreateAcls request (steps 1 and 2).
pub fn check_creations(creations: &[Creation<'_>]) -> Result<(), AclRequestError> {
    let unknown = creations.iter().any(|c| {
        c.pattern_type == PatternType::Unknown.code()
            || c.resource_type == ResourceType::Unknown.code()
            || c.permission == AclPermissionType::Unknown.code()
            || c.operation == AclOperation::Unknown.code()
    });
    if unknown {
        return Err(AclRequestError::UnknownElement);
    }
    for c in creations {
        let resource_type = ResourceType::from_code(c.resource_type);
        let pattern_type = PatternType::from_code(c.pattern_type);
        if resource_type == ResourceType::Any {
            return Err(AclRequestError::Unbuildable(
                "resourceType must not be ANY".into(),
            ));
        }
        if matches!(pattern_type, PatternType::Match | PatternType::Any) {
            return Err(AclRequestError::Unbuildable(format!(
                "patternType must not be {pattern_type}"
            )));
        }
        if AclOperation::from_code(c.operation) == AclOperation::Any {
            return Err(AclRequestError::Unbuildable(
                "operation must not be ANY".into(),
            ));
        }
        if AclPermissionType::from_code(c.permission) == AclPermissionType::Any {
            return Err(AclRequestError::Unbuildable(
                "permissionType must not be ANY".into(),
            ));
        }
    }
    Ok(())
}

/// Per-binding checks (step 3): the binding to store, or why not.
pub fn binding_to_create(c: &Creation<'_>) -> Result<AclBinding, InvalidBinding> {
    let invalid = |m: String| Err(InvalidBinding(m));
    let resource_type = ResourceType::from_code(c.resource_type);
    let pattern_type = PatternType::from_code(c.pattern_type);
    let operation = AclOperation::from_code(c.operation);
    let permission = AclPermissionType::from_code(c.permission);
    // AclApis.
    if resource_type == ResourceType::Cluster && c.resource_name != CLUSTER_NAME {
        return invalid(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if c.resource_name.is_empty() {
        return invalid("Invalid empty resource name".into());
    }
    // AclControlManager.validateNewAcl.
    if matches!(resource_type, ResourceType::Unknown | ResourceType::Any) {
        return invalid(format!("Invalid resourceType {resource_type}"));
    }
    if !matches!(pattern_type, PatternType::Literal | PatternType::Prefixed) {
        return invalid(format!("Invalid patternType {pattern_type}"));
    }
    if matches!(operation, AclOperation::Unknown | AclOperation::Any) {
        return invalid(format!("Invalid operation {operation}"));
    }
    if !matches!(
        permission,
        AclPermissionType::Allow | AclPermissionType::Deny
    ) {
        return invalid(format!("Invalid permissionType {permission}"));
    }
    // odradek's: SecurityUtils.parseKafkaPrincipal's refusal, and the bound.
    if !c.principal.contains(':') {
        return invalid(format!(
            "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
            c.principal
        ));
    }
    let size = c.resource_name.len() + c.principal.len() + c.host.len();
    if size > BINDING_SIZE_MAX_BYTES {
        return invalid(format!(
            "The ACL binding is {size} bytes; at most {BINDING_SIZE_MAX_BYTES} are accepted"
        ));
    }
    Ok(AclBinding {
        pattern: ResourcePattern {
            resource_type,
            name: c.resource_name.to_string(),
            pattern_type,
        },
        entry: AccessControlEntry {
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation,
            permission,
        },
    })
}

/// Request-level check of filters (step 1): code 0 anywhere fails the
/// request.
pub fn check_filters(filters: &[FilterFields<'_>]) -> Result<(), AclRequestError> {
    let unknown = filters.iter().any(|f| {
        f.pattern_type == PatternType::Unknown.code()
            || f.resource_type == ResourceType::Unknown.code()
            || f.operation == AclOperation::Unknown.code()
            || f.permission == AclPermissionType::Unknown.code()
    });
    if unknown {
        Err(AclRequestError::UnknownElement)
    } else {
        Ok(())
    }
}

/// The filter as Kafka builds it (codes it does not know become UNKNOWN).
pub fn filter(f: &FilterFields<'_>) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::from_code(f.resource_type),
        name: f.resource_name.map(str::to_string),
        pattern_type: PatternType::from_code(f.pattern_type),
        principal: f.principal.map(str::to_string),
        host: f.host.map(str::to_string),
        operation: AclOperation::from_code(f.operation),
        permission: AclPermissionType::from_code(f.permission),
    }
}

/// DeleteAcls' per-filter check (`AclControlManager.validateFilter`).
pub fn filter_to_delete(filter: &AclBindingFilter) -> Result<(), InvalidBinding> {
    if filter.resource_type == ResourceType::Unknown || filter.pattern_type == PatternType::Unknown
    {
        return Err(InvalidBinding("Unknown patternFilter.".into()));
    }
    if filter.operation == AclOperation::Unknown || filter.permission == AclPermissionType::Unknown
    {
        return Err(InvalidBinding("Unknown entryFilter.".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creation() -> Creation<'static> {
        Creation {
            resource_type: ResourceType::Topic.code(),
            resource_name: "t",
            pattern_type: PatternType::Literal.code(),
            principal: "User:alice",
            host: "*",
            operation: AclOperation::Read.code(),
            permission: AclPermissionType::Allow.code(),
        }
    }

    fn message(c: Creation<'_>) -> String {
        binding_to_create(&c).unwrap_err().0
    }

    #[test]
    fn a_valid_creation_becomes_a_binding() {
        let b = binding_to_create(&creation()).unwrap();
        assert_eq!(b.pattern.resource_type, ResourceType::Topic);
        assert_eq!(b.entry.operation, AclOperation::Read);
        assert!(check_creations(&[creation()]).is_ok());
    }

    #[test]
    fn code_zero_fails_the_request() {
        for c in [
            Creation {
                resource_type: 0,
                ..creation()
            },
            Creation {
                pattern_type: 0,
                ..creation()
            },
            Creation {
                operation: 0,
                ..creation()
            },
            Creation {
                permission: 0,
                ..creation()
            },
        ] {
            assert_eq!(
                check_creations(&[creation(), c]),
                Err(AclRequestError::UnknownElement)
            );
        }
    }

    #[test]
    fn any_and_match_fail_the_whole_request() {
        for c in [
            Creation {
                resource_type: ResourceType::Any.code(),
                ..creation()
            },
            Creation {
                pattern_type: PatternType::Match.code(),
                ..creation()
            },
            Creation {
                pattern_type: PatternType::Any.code(),
                ..creation()
            },
            Creation {
                operation: AclOperation::Any.code(),
                ..creation()
            },
            Creation {
                permission: AclPermissionType::Any.code(),
                ..creation()
            },
        ] {
            assert!(matches!(
                check_creations(&[c]),
                Err(AclRequestError::Unbuildable(_))
            ));
        }
    }

    #[test]
    fn per_binding_messages_are_kafkas() {
        assert_eq!(
            message(Creation {
                resource_type: ResourceType::Cluster.code(),
                resource_name: "other",
                ..creation()
            }),
            "The only valid name for the CLUSTER resource is kafka-cluster"
        );
        assert_eq!(
            message(Creation {
                resource_name: "",
                ..creation()
            }),
            "Invalid empty resource name"
        );
        assert_eq!(
            message(Creation {
                resource_type: 42,
                ..creation()
            }),
            "Invalid resourceType UNKNOWN"
        );
        assert_eq!(
            message(Creation {
                pattern_type: 42,
                ..creation()
            }),
            "Invalid patternType UNKNOWN"
        );
        assert_eq!(
            message(Creation {
                operation: 42,
                ..creation()
            }),
            "Invalid operation UNKNOWN"
        );
        assert_eq!(
            message(Creation {
                permission: 42,
                ..creation()
            }),
            "Invalid permissionType UNKNOWN"
        );
        assert!(message(Creation {
            principal: "alice",
            ..creation()
        })
        .starts_with("Could not parse principal from `alice`"));
        let long = "x".repeat(BINDING_SIZE_MAX_BYTES);
        assert!(message(Creation {
            resource_name: &long,
            ..creation()
        })
        .contains("at most"));
        assert!(binding_to_create(&Creation {
            resource_type: ResourceType::Cluster.code(),
            resource_name: CLUSTER_NAME,
            ..creation()
        })
        .is_ok());
    }

    #[test]
    fn unknown_filters_are_refused_for_delete() {
        let fields = FilterFields {
            resource_type: 42,
            resource_name: None,
            pattern_type: PatternType::Any.code(),
            principal: None,
            host: None,
            operation: AclOperation::Any.code(),
            permission: AclPermissionType::Any.code(),
        };
        assert_eq!(
            filter_to_delete(&filter(&fields)).unwrap_err().0,
            "Unknown patternFilter."
        );
        let fields = FilterFields {
            resource_type: ResourceType::Any.code(),
            operation: 42,
            ..fields
        };
        assert_eq!(
            filter_to_delete(&filter(&fields)).unwrap_err().0,
            "Unknown entryFilter."
        );
        assert!(check_filters(&[FilterFields {
            permission: 0,
            ..fields
        }])
        .is_err());
    }
}

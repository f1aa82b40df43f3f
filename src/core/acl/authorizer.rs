//! The standard authorizer's decision (Kafka's `StandardAuthorizerData`):
//!
//! - a super user (`super.users`) may do anything;
//! - the ACLs that apply to a resource are the LITERAL ones of its name, the
//!   LITERAL `*` of its type and the PREFIXED ones whose name starts it;
//! - among those whose principal (the client's, or `User:*`) and host (the
//!   client's IP, or `*`) match: a DENY for the operation (or ALL) denies,
//!   whatever else matches; otherwise an ALLOW for the operation grants —
//!   an ALLOW for READ, WRITE, DELETE or ALTER also grants DESCRIBE, one for
//!   ALTER_CONFIGS also grants DESCRIBE_CONFIGS, one for ALL grants all;
//! - a resource with no ACL at all follows `allow.everyone.if.no.acl.found`;
//!   one with ACLs, none of them granting, is denied.

use std::collections::BTreeSet;

use crate::core::acl::binding::{
    AccessControlEntry, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};
use crate::core::acl::table::AclTable;

/// `super.users` and `allow.everyone.if.no.acl.found`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Principals (`User:alice`) allowed everything.
    pub super_users: BTreeSet<String>,
    /// What a resource with no ACL answers (Kafka's default: deny).
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerConfig {
    /// Parses Kafka's `super.users` value: principals separated by `;`,
    /// each `Type:Name` (Kafka's `SecurityUtils.parseKafkaPrincipal`).
    pub fn parse_super_users(value: &str) -> Result<BTreeSet<String>, String> {
        let mut users = BTreeSet::new();
        for user in value.split(';').map(str::trim).filter(|u| !u.is_empty()) {
            if !user.contains(':') {
                return Err(format!(
                    "Could not parse principal from `{user}` (no colon is present separating the principal type from the principal name)"
                ));
            }
            users.insert(user.to_string());
        }
        Ok(users)
    }
}

/// Who is asking: the client's principal and address. Without
/// authentication every client is `User:ANONYMOUS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub principal: String,
    /// The client's IP address as text (`127.0.0.1`), matched against ACL
    /// hosts.
    pub host: String,
}

/// Kafka's principal of an unauthenticated client.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

impl Session {
    pub fn anonymous(host: impl Into<String>) -> Session {
        Session {
            principal: ANONYMOUS.to_string(),
            host: host.into(),
        }
    }
}

/// Whether `session` may do `operation` on the resource `name` of type
/// `resource_type`.
pub fn authorize(
    config: &AuthorizerConfig,
    acls: &AclTable,
    session: &Session,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if config.super_users.contains(&session.principal) {
        return true;
    }
    let mut has_resource_acls = false;
    let mut allowed = false;
    for pattern in applicable_patterns(resource_type, name) {
        for entry in acls.entries_for(&pattern) {
            has_resource_acls = true;
            match entry_result(entry, session, operation) {
                Some(AclPermissionType::Deny) => return false,
                Some(AclPermissionType::Allow) => allowed = true,
                _ => {}
            }
        }
    }
    allowed || (!has_resource_acls && config.allow_everyone_if_no_acl_found)
}

/// The patterns whose ACLs apply to a resource: its literal name, the
/// literal wildcard and every prefix of its name (PREFIXED).
fn applicable_patterns(resource_type: ResourceType, name: &str) -> Vec<ResourcePattern> {
    let pattern = |name: &str, pattern_type| ResourcePattern {
        resource_type,
        name: name.to_string(),
        pattern_type,
    };
    let mut patterns = vec![pattern(name, PatternType::Literal)];
    if name != WILDCARD {
        patterns.push(pattern(WILDCARD, PatternType::Literal));
    }
    patterns.extend(
        name.char_indices()
            .map(|(i, c)| &name[..i + c.len_utf8()])
            .map(|prefix| pattern(prefix, PatternType::Prefixed)),
    );
    patterns
}

/// Kafka's `findResult`: `None` when the entry does not apply to this
/// principal, host and operation; its permission when it does.
fn entry_result(
    entry: &AccessControlEntry,
    session: &Session,
    operation: AclOperation,
) -> Option<AclPermissionType> {
    if entry.principal != session.principal && entry.principal != WILDCARD_PRINCIPAL {
        return None;
    }
    if entry.host != WILDCARD && entry.host != session.host {
        return None;
    }
    if entry.operation != AclOperation::All {
        let applies = if entry.permission == AclPermissionType::Allow {
            implies(entry.operation, operation)
        } else {
            entry.operation == operation
        };
        if !applies {
            return None;
        }
    }
    Some(entry.permission)
}

/// Whether an ALLOW for `granted` grants `wanted`.
fn implies(granted: AclOperation, wanted: AclOperation) -> bool {
    use AclOperation::*;
    match wanted {
        Describe => matches!(granted, Describe | Read | Write | Delete | Alter),
        DescribeConfigs => matches!(granted, DescribeConfigs | AlterConfigs),
        _ => granted == wanted,
    }
}

/// Kafka's `Authorizer.authorizeByResourceType`: whether `session` may do
/// `operation` on at least one resource of the type (an idempotent producer
/// without IDEMPOTENT_WRITE on the cluster passes with WRITE on some topic).
/// Allowed if an arbitrary resource would be; otherwise if some ALLOW
/// binding (literal or prefixed) names resources that no DENY covers.
pub fn authorize_by_resource_type(
    config: &AuthorizerConfig,
    acls: &AclTable,
    session: &Session,
    operation: AclOperation,
    resource_type: ResourceType,
) -> bool {
    if authorize(config, acls, session, operation, resource_type, "hardcode") {
        return true;
    }
    let mut allows = Vec::new();
    let mut denies = Vec::new();
    for (_, binding) in acls.iter() {
        if binding.pattern.resource_type != resource_type {
            continue;
        }
        let applies = entry_result(&binding.entry, session, operation).is_some()
            && (binding.entry.operation == operation
                || binding.entry.operation == AclOperation::All);
        if !applies {
            continue;
        }
        match binding.entry.permission {
            AclPermissionType::Allow => allows.push(&binding.pattern),
            AclPermissionType::Deny => denies.push(&binding.pattern),
            _ => {}
        }
    }
    if denies
        .iter()
        .any(|d| d.pattern_type == PatternType::Literal && d.name == WILDCARD)
    {
        return false;
    }
    allows.iter().any(|allow| {
        !denies.iter().any(|deny| match deny.pattern_type {
            PatternType::Literal => {
                allow.pattern_type == PatternType::Literal && deny.name == allow.name
            }
            PatternType::Prefixed => allow.name.starts_with(&deny.name),
            _ => false,
        })
    })
}

/// The operations of `supported` that `session` may do (KIP-430's bit
/// field, `1 << code` each).
pub fn authorized_operations(
    config: &AuthorizerConfig,
    acls: &AclTable,
    session: &Session,
    resource_type: ResourceType,
    name: &str,
    supported: &[AclOperation],
) -> i32 {
    supported
        .iter()
        .filter(|op| authorize(config, acls, session, **op, resource_type, name))
        .fold(0, |bits, op| bits | (1 << op.code()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::acl::binding::AclBinding;
    use AclOperation::*;
    use AclPermissionType::*;

    fn acl(
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        host: &str,
        operation: AclOperation,
        permission: AclPermissionType,
    ) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Topic,
                name: name.into(),
                pattern_type,
            },
            entry: AccessControlEntry {
                principal: principal.into(),
                host: host.into(),
                operation,
                permission,
            },
        }
    }

    fn table(acls: Vec<AclBinding>) -> AclTable {
        let mut table = AclTable::default();
        for (id, b) in acls.into_iter().enumerate() {
            table.insert(id as u64, b);
        }
        table
    }

    fn me() -> Session {
        Session::anonymous("10.0.0.1")
    }

    fn can(config: &AuthorizerConfig, t: &AclTable, op: AclOperation, topic: &str) -> bool {
        authorize(config, t, &me(), op, ResourceType::Topic, topic)
    }

    #[test]
    fn no_acls_follow_the_default() {
        let t = AclTable::default();
        let deny = AuthorizerConfig::default();
        assert!(!can(&deny, &t, Read, "t"));
        let allow = AuthorizerConfig {
            allow_everyone_if_no_acl_found: true,
            ..Default::default()
        };
        assert!(can(&allow, &t, Read, "t"));
    }

    #[test]
    fn acls_for_someone_else_still_close_the_resource() {
        let allow = AuthorizerConfig {
            allow_everyone_if_no_acl_found: true,
            ..Default::default()
        };
        let t = table(vec![acl(
            "t",
            PatternType::Literal,
            "User:bob",
            "*",
            Read,
            Allow,
        )]);
        assert!(!can(&allow, &t, Read, "t"));
        assert!(can(&allow, &t, Read, "other"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let config = AuthorizerConfig::default();
        let t = table(vec![
            acl("t", PatternType::Literal, ANONYMOUS, "*", All, Allow),
            acl("t", PatternType::Prefixed, "User:*", "*", Write, Deny),
        ]);
        assert!(can(&config, &t, Read, "t"));
        assert!(!can(&config, &t, Write, "t"));
    }

    #[test]
    fn implied_operations_only_from_allow() {
        let config = AuthorizerConfig::default();
        let t = table(vec![
            acl("t", PatternType::Literal, ANONYMOUS, "*", Write, Allow),
            acl(
                "c",
                PatternType::Literal,
                ANONYMOUS,
                "*",
                AlterConfigs,
                Allow,
            ),
            acl("d", PatternType::Literal, ANONYMOUS, "*", Read, Allow),
            acl("d", PatternType::Literal, ANONYMOUS, "*", Write, Deny),
        ]);
        assert!(can(&config, &t, Describe, "t"));
        assert!(!can(&config, &t, Read, "t"));
        assert!(can(&config, &t, DescribeConfigs, "c"));
        assert!(!can(&config, &t, Describe, "c"));
        // A DENY of WRITE does not deny DESCRIBE.
        assert!(can(&config, &t, Describe, "d"));
        assert!(!can(&config, &t, Write, "d"));
    }

    #[test]
    fn prefix_wildcard_principal_and_host_matching() {
        let config = AuthorizerConfig::default();
        let t = table(vec![
            acl("foo", PatternType::Prefixed, "User:*", "*", Read, Allow),
            acl(
                "*",
                PatternType::Literal,
                ANONYMOUS,
                "10.0.0.2",
                Write,
                Allow,
            ),
            acl(
                "bar",
                PatternType::Literal,
                ANONYMOUS,
                "10.0.0.1",
                Write,
                Allow,
            ),
        ]);
        assert!(can(&config, &t, Read, "foobar"));
        assert!(can(&config, &t, Read, "foo"));
        assert!(!can(&config, &t, Read, "fo"));
        assert!(!can(&config, &t, Write, "foobar"), "the host differs");
        assert!(can(&config, &t, Write, "bar"));
        assert!(!can(&config, &t, Write, "barn"), "a literal is no prefix");
    }

    #[test]
    fn literal_wildcard_applies_to_every_name() {
        let config = AuthorizerConfig::default();
        let t = table(vec![acl(
            "*",
            PatternType::Literal,
            ANONYMOUS,
            "*",
            Read,
            Deny,
        )]);
        let allow = AuthorizerConfig {
            allow_everyone_if_no_acl_found: true,
            ..config
        };
        assert!(!can(&allow, &t, Read, "anything"));
        assert!(!can(&allow, &t, Write, "anything"), "the resource has ACLs");
    }

    #[test]
    fn super_users_always_pass() {
        let config = AuthorizerConfig {
            super_users: AuthorizerConfig::parse_super_users("User:a; User:ANONYMOUS").unwrap(),
            ..Default::default()
        };
        let t = table(vec![acl(
            "t",
            PatternType::Literal,
            ANONYMOUS,
            "*",
            All,
            Deny,
        )]);
        assert!(can(&config, &t, Read, "t"));
        assert!(AuthorizerConfig::parse_super_users("alice").is_err());
        assert!(AuthorizerConfig::parse_super_users("").unwrap().is_empty());
    }

    #[test]
    fn by_resource_type() {
        let config = AuthorizerConfig::default();
        let me = me();
        let any =
            |t: &AclTable| authorize_by_resource_type(&config, t, &me, Write, ResourceType::Topic);
        assert!(!any(&AclTable::default()));
        assert!(any(&table(vec![acl(
            "t",
            PatternType::Literal,
            ANONYMOUS,
            "*",
            Write,
            Allow
        )])));
        assert!(!any(&table(vec![
            acl("t", PatternType::Literal, ANONYMOUS, "*", Write, Allow),
            acl("t", PatternType::Prefixed, ANONYMOUS, "*", Write, Deny),
        ])));
        assert!(!any(&table(vec![
            acl("t", PatternType::Literal, ANONYMOUS, "*", Write, Allow),
            acl("*", PatternType::Literal, ANONYMOUS, "*", Write, Deny),
        ])));
    }

    #[test]
    fn authorized_operations_bits() {
        let config = AuthorizerConfig::default();
        let t = table(vec![acl(
            "t",
            PatternType::Literal,
            ANONYMOUS,
            "*",
            Read,
            Allow,
        )]);
        let bits = authorized_operations(
            &config,
            &t,
            &me(),
            ResourceType::Topic,
            "t",
            &[Read, Write, Describe],
        );
        assert_eq!(bits, (1 << 3) | (1 << 8));
    }
}

//! ACL vocabulary with Kafka's wire codes (`org.apache.kafka.common.acl`,
//! `org.apache.kafka.common.resource`), a binding (one ACL) and a binding
//! filter with Kafka's matching rules.

use serde::{Deserialize, Serialize};

/// Kafka's name of the one cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The resource name and host that match any.
pub const WILDCARD: &str = "*";
/// The principal that matches any user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:expr, $text:expr;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),* }

        impl $name {
            /// Kafka's `fromCode`: a code it does not know is UNKNOWN.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),* }
            }
            /// Kafka's enum constant name, as its error messages print it.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

coded_enum!(
    /// `ResourceType`.
    ResourceType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
);

coded_enum!(
    /// `PatternType`: LITERAL and PREFIXED name bindings; MATCH and ANY only
    /// appear in filters.
    PatternType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Match = 2, "MATCH";
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
);

coded_enum!(
    /// `AclOperation`.
    AclOperation {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
);

coded_enum!(
    /// `AclPermissionType`.
    AclPermissionType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
);

/// A resource pattern: which resources an ACL applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
}

/// Who may (or may not) do what from where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccessControlEntry {
    /// `Type:Name`, e.g. `User:alice`, `User:*`.
    pub principal: String,
    /// An IP address or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

/// One ACL: an entry bound to a resource pattern (Kafka's `AclBinding`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

/// What DescribeAcls and DeleteAcls select (Kafka's `AclBindingFilter`):
/// `None` strings match anything; ANY types match any value; a MATCH
/// pattern type matches the bindings that would apply to the named resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// Kafka's `AclBindingFilter.matches`: `ResourcePatternFilter.matches`
    /// and `AccessControlEntryFilter.matches`.
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(&binding.pattern) && self.matches_entry(&binding.entry)
    }

    fn matches_pattern(&self, pattern: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != pattern.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != pattern.pattern_type
        {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == pattern.pattern_type {
            return *name == pattern.name;
        }
        // MATCH: the bindings that apply to the resource `name`.
        match pattern.pattern_type {
            PatternType::Literal => *name == pattern.name || pattern.name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&pattern.name),
            // Stored bindings are LITERAL or PREFIXED only (validated).
            _ => false,
        }
    }

    fn matches_entry(&self, entry: &AccessControlEntry) -> bool {
        if self
            .principal
            .as_ref()
            .is_some_and(|p| *p != entry.principal)
        {
            return false;
        }
        if self.host.as_ref().is_some_and(|h| *h != entry.host) {
            return false;
        }
        if self.operation != AclOperation::Any && self.operation != entry.operation {
            return false;
        }
        self.permission == AclPermissionType::Any || self.permission == entry.permission
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn binding(rt: ResourceType, name: &str, pt: PatternType) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: rt,
                name: name.into(),
                pattern_type: pt,
            },
            entry: AccessControlEntry {
                principal: "User:alice".into(),
                host: "*".into(),
                operation: AclOperation::Read,
                permission: AclPermissionType::Allow,
            },
        }
    }

    fn any_filter() -> AclBindingFilter {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }

    #[test]
    fn codes_round_trip_and_unknown_codes_are_unknown() {
        for code in 0..=7 {
            assert_eq!(ResourceType::from_code(code).code(), code);
        }
        for code in 0..=14 {
            assert_eq!(AclOperation::from_code(code).code(), code);
        }
        assert_eq!(ResourceType::from_code(99), ResourceType::Unknown);
        assert_eq!(PatternType::from_code(-1), PatternType::Unknown);
        assert_eq!(AclOperation::IdempotentWrite.name(), "IDEMPOTENT_WRITE");
    }

    #[test]
    fn any_filter_matches_everything() {
        let filter = any_filter();
        assert!(filter.matches(&binding(ResourceType::Topic, "t", PatternType::Literal)));
        assert!(filter.matches(&binding(ResourceType::Group, "g", PatternType::Prefixed)));
    }

    #[test]
    fn literal_filter_matches_the_same_pattern_only() {
        let filter = AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: Some("foo".into()),
            pattern_type: PatternType::Literal,
            ..any_filter()
        };
        assert!(filter.matches(&binding(ResourceType::Topic, "foo", PatternType::Literal)));
        assert!(!filter.matches(&binding(ResourceType::Topic, "foo", PatternType::Prefixed)));
        assert!(!filter.matches(&binding(ResourceType::Topic, "*", PatternType::Literal)));
        assert!(!filter.matches(&binding(ResourceType::Group, "foo", PatternType::Literal)));
    }

    #[test]
    fn any_pattern_type_with_a_name_matches_that_name_exactly() {
        let filter = AclBindingFilter {
            name: Some("foo".into()),
            ..any_filter()
        };
        assert!(filter.matches(&binding(ResourceType::Topic, "foo", PatternType::Prefixed)));
        assert!(!filter.matches(&binding(ResourceType::Topic, "fo", PatternType::Prefixed)));
        assert!(!filter.matches(&binding(ResourceType::Topic, "*", PatternType::Literal)));
    }

    #[test]
    fn match_filter_finds_literal_wildcard_and_prefix_bindings() {
        let filter = AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: Some("foobar".into()),
            pattern_type: PatternType::Match,
            ..any_filter()
        };
        assert!(filter.matches(&binding(
            ResourceType::Topic,
            "foobar",
            PatternType::Literal
        )));
        assert!(filter.matches(&binding(ResourceType::Topic, "*", PatternType::Literal)));
        assert!(filter.matches(&binding(ResourceType::Topic, "foo", PatternType::Prefixed)));
        assert!(!filter.matches(&binding(ResourceType::Topic, "foo", PatternType::Literal)));
        assert!(!filter.matches(&binding(ResourceType::Topic, "bar", PatternType::Prefixed)));
    }

    #[test]
    fn entry_fields_filter() {
        let b = binding(ResourceType::Topic, "t", PatternType::Literal);
        let mut filter = any_filter();
        filter.principal = Some("User:bob".into());
        assert!(!filter.matches(&b));
        filter.principal = Some("User:alice".into());
        assert!(filter.matches(&b));
        filter.operation = AclOperation::Write;
        assert!(!filter.matches(&b));
        filter.operation = AclOperation::Read;
        filter.permission = AclPermissionType::Deny;
        assert!(!filter.matches(&b));
        filter.permission = AclPermissionType::Allow;
        filter.host = Some("10.0.0.1".into());
        assert!(!filter.matches(&b));
    }
}

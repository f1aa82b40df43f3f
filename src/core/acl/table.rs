//! The ACLs of the metadata image: by id (records name them by id), and by
//! binding, ordered by resource pattern so the authorizer finds the entries
//! of one pattern with a range scan.

use std::collections::BTreeMap;

use crate::core::acl::binding::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, ResourcePattern,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclTable {
    by_id: BTreeMap<u64, AclBinding>,
    by_binding: BTreeMap<AclBinding, u64>,
}

impl AclTable {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, binding: &AclBinding) -> bool {
        self.by_binding.contains_key(binding)
    }

    /// Every ACL with its id, in id (creation) order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &AclBinding)> {
        self.by_id.iter().map(|(id, b)| (*id, b))
    }

    /// Adds a committed ACL. Records come from our own controller, which
    /// never creates a binding twice or reuses an id: assert it.
    pub fn insert(&mut self, id: u64, binding: AclBinding) {
        assert!(!self.by_id.contains_key(&id), "ACL id {id} reused");
        let previous = self.by_binding.insert(binding.clone(), id);
        assert!(previous.is_none(), "ACL {binding:?} created twice");
        self.by_id.insert(id, binding);
    }

    /// Removes a committed ACL; it must exist.
    pub fn remove(&mut self, id: u64) -> AclBinding {
        let binding = self
            .by_id
            .remove(&id)
            .expect("removal of an unknown ACL id");
        let removed = self.by_binding.remove(&binding);
        assert_eq!(removed, Some(id), "ACL indexes agree");
        binding
    }

    /// The entries bound to exactly `pattern`.
    pub fn entries_for<'a>(
        &'a self,
        pattern: &'a ResourcePattern,
    ) -> impl Iterator<Item = &'a AccessControlEntry> + 'a {
        // The smallest entry: empty strings and UNKNOWN (the first variant).
        let start = AclBinding {
            pattern: pattern.clone(),
            entry: AccessControlEntry {
                principal: String::new(),
                host: String::new(),
                operation: AclOperation::Unknown,
                permission: AclPermissionType::Unknown,
            },
        };
        self.by_binding
            .range(start..)
            .take_while(move |(b, _)| b.pattern == *pattern)
            .map(|(b, _)| &b.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::acl::binding::{PatternType, ResourceType};

    fn binding(name: &str, pt: PatternType, principal: &str) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Topic,
                name: name.into(),
                pattern_type: pt,
            },
            entry: AccessControlEntry {
                principal: principal.into(),
                host: "*".into(),
                operation: AclOperation::Read,
                permission: AclPermissionType::Allow,
            },
        }
    }

    #[test]
    fn entries_for_finds_exactly_the_pattern() {
        let mut table = AclTable::default();
        table.insert(1, binding("foo", PatternType::Literal, "User:a"));
        table.insert(2, binding("foo", PatternType::Literal, "User:b"));
        table.insert(3, binding("foo", PatternType::Prefixed, "User:c"));
        table.insert(4, binding("foobar", PatternType::Literal, "User:d"));
        table.insert(5, binding("fo", PatternType::Literal, "User:e"));
        let pattern = binding("foo", PatternType::Literal, "").pattern;
        let principals: Vec<&str> = table
            .entries_for(&pattern)
            .map(|e| e.principal.as_str())
            .collect();
        assert_eq!(principals, ["User:a", "User:b"]);
        assert_eq!(table.remove(1).entry.principal, "User:a");
        assert_eq!(table.entries_for(&pattern).count(), 1);
        assert_eq!(table.len(), 4);
    }

    #[test]
    #[should_panic(expected = "created twice")]
    fn a_duplicate_binding_is_a_bug() {
        let mut table = AclTable::default();
        table.insert(1, binding("foo", PatternType::Literal, "User:a"));
        table.insert(2, binding("foo", PatternType::Literal, "User:a"));
    }
}

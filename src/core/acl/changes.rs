//! CreateAcls and DeleteAcls against the image (Kafka's
//! `AclControlManager`): the records to commit and each binding's or
//! filter's outcome.

use std::collections::BTreeSet;

use crate::core::acl::binding::{AclBinding, AclBindingFilter};
use crate::core::acl::table::AclTable;
use crate::core::acl::validate::InvalidBinding;
use crate::core::metadata::MetadataRecord;

/// Records to commit and the outcome of each binding, in request order. A
/// binding that already exists (or repeats an earlier one of the request)
/// succeeds without a record, as in Kafka. Past `max_acls` a binding is
/// refused.
pub fn create(
    acls: &AclTable,
    next_id: u64,
    bindings: Vec<Result<AclBinding, InvalidBinding>>,
    max_acls: usize,
) -> (Vec<MetadataRecord>, Vec<Result<(), InvalidBinding>>) {
    let mut records = Vec::new();
    let mut added = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(bindings.len());
    let mut id = next_id;
    for binding in bindings {
        let binding = match binding {
            Ok(b) => b,
            Err(e) => {
                outcomes.push(Err(e));
                continue;
            }
        };
        if acls.contains(&binding) || added.contains(&binding) {
            outcomes.push(Ok(()));
            continue;
        }
        if acls.len() + added.len() >= max_acls {
            outcomes.push(Err(InvalidBinding(format!(
                "The broker holds at most {max_acls} ACLs (max.acls)"
            ))));
            continue;
        }
        added.insert(binding.clone());
        records.push(MetadataRecord::CreateAcl { id, binding });
        id += 1;
        outcomes.push(Ok(()));
    }
    (records, outcomes)
}

/// Records to commit and, per filter, the bindings it deletes (or why the
/// filter is refused). A binding matched by two filters is reported by both
/// and removed once, as in Kafka.
pub fn delete(
    acls: &AclTable,
    filters: &[Result<AclBindingFilter, InvalidBinding>],
) -> (
    Vec<MetadataRecord>,
    Vec<Result<Vec<AclBinding>, InvalidBinding>>,
) {
    let mut removed = BTreeSet::new();
    let outcomes = filters
        .iter()
        .map(|filter| {
            let filter = filter.as_ref().map_err(Clone::clone)?;
            Ok(acls
                .iter()
                .filter(|(_, b)| filter.matches(b))
                .map(|(id, b)| {
                    removed.insert(id);
                    b.clone()
                })
                .collect())
        })
        .collect();
    let records = removed
        .into_iter()
        .map(|id| MetadataRecord::DeleteAcl { id })
        .collect();
    (records, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::acl::binding::{
        AccessControlEntry, AclOperation, AclPermissionType, PatternType, ResourcePattern,
        ResourceType,
    };
    use crate::core::metadata::MetadataImage;

    fn binding(name: &str) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Topic,
                name: name.into(),
                pattern_type: PatternType::Literal,
            },
            entry: AccessControlEntry {
                principal: "User:a".into(),
                host: "*".into(),
                operation: AclOperation::Read,
                permission: AclPermissionType::Allow,
            },
        }
    }

    fn filter(name: Option<&str>) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            name: name.map(Into::into),
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    #[test]
    fn create_dedupes_and_respects_the_limit() {
        let mut image = MetadataImage::default();
        let (records, outcomes) = create(
            &image.acls,
            image.next_acl_id,
            vec![
                Ok(binding("a")),
                Ok(binding("a")),
                Err(InvalidBinding("bad".into())),
                Ok(binding("b")),
                Ok(binding("c")),
            ],
            2,
        );
        assert_eq!(records.len(), 2);
        assert_eq!(outcomes[0], Ok(()));
        assert_eq!(outcomes[1], Ok(()));
        assert!(outcomes[2].is_err());
        assert_eq!(outcomes[3], Ok(()));
        assert!(outcomes[4].as_ref().unwrap_err().0.contains("max.acls"));
        apply(&mut image, &records);
        assert_eq!(image.acls.len(), 2);
        // Creating an existing binding again is a success without a record.
        let (records, outcomes) = create(&image.acls, image.next_acl_id, vec![Ok(binding("a"))], 2);
        assert!(records.is_empty());
        assert_eq!(outcomes, vec![Ok(())]);
    }

    #[test]
    fn delete_reports_per_filter_and_removes_once() {
        let mut image = MetadataImage::default();
        let (records, _) = create(
            &image.acls,
            image.next_acl_id,
            vec![Ok(binding("a")), Ok(binding("b"))],
            10,
        );
        apply(&mut image, &records);
        let (records, outcomes) = delete(
            &image.acls,
            &[
                Ok(filter(Some("a"))),
                Ok(filter(None)),
                Err(InvalidBinding("Unknown patternFilter.".into())),
            ],
        );
        assert_eq!(records.len(), 2);
        assert_eq!(outcomes[0].as_ref().unwrap(), &vec![binding("a")]);
        assert_eq!(outcomes[1].as_ref().unwrap().len(), 2);
        assert!(outcomes[2].is_err());
        apply(&mut image, &records);
        assert!(image.acls.is_empty());
        // Ids are not reused after a delete.
        let (records, _) = create(&image.acls, image.next_acl_id, vec![Ok(binding("a"))], 10);
        assert!(matches!(
            records[0],
            MetadataRecord::CreateAcl { id: 2, .. }
        ));
    }
}

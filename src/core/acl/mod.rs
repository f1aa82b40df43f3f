//! Access control lists and the standard authorizer (Kafka's
//! `StandardAuthorizer`, KIP-801), sans IO.
//!
//! - `binding`: resource types, pattern types, operations, permissions (with
//!   Kafka's wire codes), an ACL binding and a binding filter, and how a
//!   filter matches a binding (DescribeAcls, DeleteAcls).
//! - `validate`: Kafka's checks of a binding to create and of a filter.
//! - `changes`: CreateAcls and DeleteAcls as metadata records.
//! - `table`: the ACLs of the metadata image, by id and by resource pattern.
//! - `authorizer`: deny wins, allow grants (with implied operations), no ACL
//!   on the resource falls back to `allow.everyone.if.no.acl.found`, super
//!   users always pass.

pub mod authorizer;
pub mod binding;
pub mod changes;
pub mod table;
pub mod validate;

pub use authorizer::{AuthorizerConfig, Session};
pub use binding::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
pub use table::AclTable;

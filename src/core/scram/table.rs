//! The SCRAM credentials of the metadata image (KRaft's `ScramImage`): per
//! user, per mechanism, in name order so that listings are deterministic.

use std::collections::BTreeMap;

use crate::core::scram::credential::ScramCredential;
use crate::core::scram::mechanism::ScramMechanism;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScramTable {
    users: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
    /// Credentials held, over every user and mechanism.
    count: usize,
}

impl ScramTable {
    /// Credentials held (a user with both mechanisms counts twice).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<&ScramCredential> {
        self.users.get(user).and_then(|m| m.get(&mechanism))
    }

    pub fn contains(&self, user: &str, mechanism: ScramMechanism) -> bool {
        self.get(user, mechanism).is_some()
    }

    /// A user's credentials, in mechanism order; `None` if it has none.
    pub fn user(&self, user: &str) -> Option<&BTreeMap<ScramMechanism, ScramCredential>> {
        self.users.get(user)
    }

    /// Every user with at least one credential, in name order.
    pub fn users(
        &self,
    ) -> impl Iterator<Item = (&str, &BTreeMap<ScramMechanism, ScramCredential>)> {
        self.users.iter().map(|(u, m)| (u.as_str(), m))
    }

    /// Creates or replaces a committed credential (KRaft's
    /// UserScramCredentialRecord does both).
    pub fn upsert(&mut self, user: &str, mechanism: ScramMechanism, credential: ScramCredential) {
        let previous = self
            .users
            .entry(user.to_string())
            .or_default()
            .insert(mechanism, credential);
        if previous.is_none() {
            self.count += 1;
        }
        self.check();
    }

    /// Removes a committed credential. Records come from our own controller,
    /// which only deletes what exists: assert it (as KRaft's replay throws).
    pub fn remove(&mut self, user: &str, mechanism: ScramMechanism) -> ScramCredential {
        let mechanisms = self
            .users
            .get_mut(user)
            .expect("removal of a SCRAM credential of an unknown user");
        let removed = mechanisms
            .remove(&mechanism)
            .expect("removal of an unknown SCRAM credential");
        if mechanisms.is_empty() {
            self.users.remove(user);
        }
        self.count -= 1;
        self.check();
        removed
    }

    /// No user is listed without credentials, and the count agrees.
    fn check(&self) {
        debug_assert_eq!(
            self.count,
            self.users.values().map(BTreeMap::len).sum::<usize>()
        );
        assert!(
            self.users.len() <= self.count,
            "a user without SCRAM credentials is listed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(iterations: i32) -> ScramCredential {
        ScramCredential::from_salted_password(ScramMechanism::Sha256, b"s", b"p", iterations)
            .unwrap()
    }

    #[test]
    fn upsert_replaces_and_remove_drops_empty_users() {
        let mut table = ScramTable::default();
        table.upsert("alice", ScramMechanism::Sha256, credential(4096));
        table.upsert("alice", ScramMechanism::Sha512, credential(4096));
        table.upsert("alice", ScramMechanism::Sha256, credential(8192));
        table.upsert("bob", ScramMechanism::Sha256, credential(4096));
        assert_eq!(table.len(), 3);
        assert_eq!(
            table
                .get("alice", ScramMechanism::Sha256)
                .unwrap()
                .iterations,
            8192
        );
        let users: Vec<&str> = table.users().map(|(u, _)| u).collect();
        assert_eq!(users, ["alice", "bob"]);
        table.remove("bob", ScramMechanism::Sha256);
        assert!(table.user("bob").is_none());
        table.remove("alice", ScramMechanism::Sha256);
        assert_eq!(table.user("alice").unwrap().len(), 1);
        assert_eq!(table.len(), 1);
    }

    #[test]
    #[should_panic(expected = "unknown SCRAM credential")]
    fn removing_a_missing_credential_is_a_bug() {
        let mut table = ScramTable::default();
        table.upsert("alice", ScramMechanism::Sha256, credential(4096));
        table.remove("alice", ScramMechanism::Sha512);
    }
}

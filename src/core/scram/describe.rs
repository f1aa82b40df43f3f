//! DescribeUserScramCredentials against the image, as KRaft's
//! `ScramImage.describe` answers it: per user, the mechanisms and iteration
//! counts it has (never salts or keys).
//!
//! - no users (null or an empty list): every user with a credential;
//! - a user named twice: DUPLICATE_RESOURCE, answered once;
//! - a user without credentials (the empty name too): RESOURCE_NOT_FOUND.
//!
//! Kafka lists users in hash order; odradek lists them in the order first
//! named, or by name when listing all.

use std::collections::BTreeMap;

use crate::core::scram::mechanism::ScramMechanism;
use crate::core::scram::table::ScramTable;
use crate::core::scram::{ScramError, REQUEST_ENTRIES_MAX};

/// One user's answer: its (mechanism, iterations), in mechanism order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub user: String,
    pub result: Result<Vec<(ScramMechanism, i32)>, ScramError>,
}

/// The answer per user, or `RequestTooLarge` (the whole request) when it
/// names more than [`REQUEST_ENTRIES_MAX`] users.
pub fn describe(
    table: &ScramTable,
    users: Option<&[&str]>,
) -> Result<Vec<Description>, ScramError> {
    let users = match users {
        Some(users) if !users.is_empty() => users,
        _ => {
            return Ok(table
                .users()
                .map(|(user, _)| describe_one(table, user))
                .collect())
        }
    };
    if users.len() > REQUEST_ENTRIES_MAX {
        return Err(ScramError::RequestTooLarge);
    }
    let mut times_named: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order = Vec::new();
    for user in users {
        let n = times_named.entry(user).or_insert(0);
        if *n == 0 {
            order.push(*user);
        }
        *n += 1;
    }
    Ok(order
        .into_iter()
        .map(|user| {
            if times_named[user] > 1 {
                Description {
                    user: user.to_string(),
                    result: Err(ScramError::Duplicate(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single \
                         request: {user}"
                    ))),
                }
            } else {
                describe_one(table, user)
            }
        })
        .collect())
}

fn describe_one(table: &ScramTable, user: &str) -> Description {
    let result = match table.user(user) {
        Some(mechanisms) => Ok(mechanisms
            .iter()
            .map(|(mechanism, c)| (*mechanism, c.iterations))
            .collect()),
        None => Err(ScramError::NotFound(format!(
            "Attempt to describe a user credential that does not exist: {user}"
        ))),
    };
    Description {
        user: user.to_string(),
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::scram::ScramCredential;

    fn table() -> ScramTable {
        let mut table = ScramTable::default();
        for (user, mechanism, iterations) in [
            ("zed", ScramMechanism::Sha512, 8192),
            ("zed", ScramMechanism::Sha256, 4096),
            ("amy", ScramMechanism::Sha256, 5000),
        ] {
            let c =
                ScramCredential::from_salted_password(mechanism, b"s", b"p", iterations).unwrap();
            table.upsert(user, mechanism, c);
        }
        table
    }

    #[test]
    fn no_users_lists_everyone_by_name() {
        let table = table();
        for users in [None, Some(&[][..])] {
            let all = describe(&table, users).unwrap();
            assert_eq!(all.len(), 2);
            assert_eq!(all[0].user, "amy");
            assert_eq!(all[1].user, "zed");
            assert_eq!(
                all[1].result,
                Ok(vec![
                    (ScramMechanism::Sha256, 4096),
                    (ScramMechanism::Sha512, 8192)
                ])
            );
        }
        assert!(describe(&ScramTable::default(), None).unwrap().is_empty());
    }

    #[test]
    fn named_users_duplicates_and_unknown_users() {
        let table = table();
        let out = describe(&table, Some(&["zed", "nobody", "amy", "zed", "", "zed"])).unwrap();
        let users: Vec<&str> = out.iter().map(|d| d.user.as_str()).collect();
        assert_eq!(users, ["zed", "nobody", "amy", ""]);
        assert!(matches!(out[0].result, Err(ScramError::Duplicate(_))));
        assert_eq!(
            out[1].result,
            Err(ScramError::NotFound(
                "Attempt to describe a user credential that does not exist: nobody".into()
            ))
        );
        assert_eq!(out[2].result, Ok(vec![(ScramMechanism::Sha256, 5000)]));
        assert!(matches!(out[3].result, Err(ScramError::NotFound(_))));
    }

    #[test]
    fn too_many_users_is_refused_whole() {
        let names = vec!["u"; REQUEST_ENTRIES_MAX + 1];
        assert_eq!(
            describe(&ScramTable::default(), Some(&names)),
            Err(ScramError::RequestTooLarge)
        );
        let names = vec!["u"; REQUEST_ENTRIES_MAX];
        assert_eq!(
            describe(&ScramTable::default(), Some(&names))
                .unwrap()
                .len(),
            1
        );
    }
}

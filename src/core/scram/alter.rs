//! AlterUserScramCredentials against the image, as KRaft's
//! `ScramControlManager.alterCredentials` decides it: the records to commit
//! and one outcome per user.
//!
//! Kafka's rules, in its order:
//! - each user may appear once among all deletions and upsertions; a second
//!   appearance fails the user with DUPLICATE_RESOURCE (even with another
//!   mechanism), and later appearances are ignored;
//! - a deletion needs a non-empty user, a known mechanism and an existing
//!   credential;
//! - an upsertion needs a non-empty user, a known mechanism and 4096 ..=
//!   16384 iterations; the salt may be empty; an empty salted password
//!   cannot be an HMAC key (UNKNOWN_SERVER_ERROR);
//! - every user's answer is independent: the valid ones are committed.
//!
//! odradek's own bounds: at most [`REQUEST_ENTRIES_MAX`] entries per request,
//! [`CREDENTIAL_SIZE_MAX_BYTES`] of user name and salt per credential, and
//! `max.scram.credentials` credentials in the cluster.

use std::collections::BTreeMap;

use crate::core::metadata::MetadataRecord;
use crate::core::scram::credential::ScramCredential;
use crate::core::scram::mechanism::{ScramMechanism, ITERATIONS_MAX};
use crate::core::scram::table::ScramTable;
use crate::core::scram::{ScramError, CREDENTIAL_SIZE_MAX_BYTES, REQUEST_ENTRIES_MAX};

/// One deletion as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct Deletion<'a> {
    pub user: &'a str,
    pub mechanism: i8,
}

/// One upsertion as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct Upsertion<'a> {
    pub user: &'a str,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: &'a [u8],
    pub salted_password: &'a [u8],
}

/// One user's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub user: String,
    pub result: Result<(), ScramError>,
}

/// Where a user stands while the request is read.
enum State<'a> {
    Delete(ScramMechanism),
    Upsert(ScramMechanism, Upsertion<'a>),
    Failed(ScramError),
}

const DUPLICATE: &str = "A user credential cannot be altered twice in the same request";

/// The records to commit (deletions first, as Kafka writes them) and one
/// outcome per user: the committed deletions, the committed upsertions,
/// then the refused users, each group in the order users first appear.
pub fn alter(
    table: &ScramTable,
    deletions: &[Deletion<'_>],
    upsertions: &[Upsertion<'_>],
    max_credentials: usize,
) -> (Vec<MetadataRecord>, Vec<Outcome>) {
    if deletions.len() + upsertions.len() > REQUEST_ENTRIES_MAX {
        return (Vec::new(), refuse_all(deletions, upsertions));
    }
    // Users in first-appearance order, and each one's state.
    let mut order: Vec<&str> = Vec::new();
    let mut states: BTreeMap<&str, State<'_>> = BTreeMap::new();
    for deletion in deletions {
        let state = match states.get(deletion.user) {
            Some(State::Failed(_)) => continue,
            Some(_) => State::Failed(ScramError::Duplicate(DUPLICATE.into())),
            None => {
                order.push(deletion.user);
                match validate_deletion(table, deletion) {
                    Ok(mechanism) => State::Delete(mechanism),
                    Err(e) => State::Failed(e),
                }
            }
        };
        states.insert(deletion.user, state);
    }
    for upsertion in upsertions {
        let state = match states.get(upsertion.user) {
            Some(State::Failed(_)) => continue,
            Some(_) => State::Failed(ScramError::Duplicate(DUPLICATE.into())),
            None => {
                order.push(upsertion.user);
                match validate_upsertion(upsertion) {
                    Ok(mechanism) => State::Upsert(mechanism, *upsertion),
                    Err(e) => State::Failed(e),
                }
            }
        };
        states.insert(upsertion.user, state);
    }

    let mut records = Vec::new();
    let mut deleted = Vec::new();
    let mut upserted = Vec::new();
    let mut failed = Vec::new();
    for user in &order {
        if let Some(State::Delete(mechanism)) = states.get(user) {
            records.push(MetadataRecord::DeleteScramCredential {
                user: user.to_string(),
                mechanism: *mechanism,
            });
            deleted.push(ok(user));
        }
    }
    // Deletions of this request make room for its upsertions.
    let mut count = table.len() - deleted.len();
    for user in &order {
        match states.get(user) {
            Some(State::Upsert(mechanism, upsertion)) => {
                match finish_upsertion(table, *mechanism, upsertion, count, max_credentials) {
                    Ok((record, new)) => {
                        records.push(record);
                        count += usize::from(new);
                        upserted.push(ok(user));
                    }
                    Err(e) => failed.push(refused(user, e)),
                }
            }
            Some(State::Failed(e)) => failed.push(refused(user, e.clone())),
            Some(State::Delete(_)) => {}
            None => unreachable!("every user in order has a state"),
        }
    }
    assert!(count <= max_credentials.max(table.len()));
    let mut outcomes = deleted;
    outcomes.extend(upserted);
    outcomes.extend(failed);
    assert_eq!(outcomes.len(), order.len(), "one outcome per user");
    (records, outcomes)
}

fn ok(user: &str) -> Outcome {
    Outcome {
        user: user.to_string(),
        result: Ok(()),
    }
}

fn refused(user: &str, e: ScramError) -> Outcome {
    Outcome {
        user: user.to_string(),
        result: Err(e),
    }
}

/// An oversized request: every distinct user, in name order, refused.
fn refuse_all(deletions: &[Deletion<'_>], upsertions: &[Upsertion<'_>]) -> Vec<Outcome> {
    let mut users: Vec<&str> = deletions
        .iter()
        .map(|d| d.user)
        .chain(upsertions.iter().map(|u| u.user))
        .collect();
    users.sort_unstable();
    users.dedup();
    users
        .into_iter()
        .map(|u| refused(u, ScramError::RequestTooLarge))
        .collect()
}

/// Kafka's `validateScramUsernameAndMechanism`.
fn validate_user_and_mechanism(user: &str, mechanism: i8) -> Result<ScramMechanism, ScramError> {
    if user.is_empty() {
        return Err(ScramError::Unacceptable(
            "Username must not be empty".into(),
        ));
    }
    ScramMechanism::from_code(mechanism).ok_or(ScramError::UnknownMechanism)
}

fn validate_deletion(
    table: &ScramTable,
    deletion: &Deletion<'_>,
) -> Result<ScramMechanism, ScramError> {
    let mechanism = validate_user_and_mechanism(deletion.user, deletion.mechanism)?;
    if !table.contains(deletion.user, mechanism) {
        return Err(ScramError::NotFound(
            "Attempt to delete a user credential that does not exist".into(),
        ));
    }
    Ok(mechanism)
}

fn validate_upsertion(upsertion: &Upsertion<'_>) -> Result<ScramMechanism, ScramError> {
    let mechanism = validate_user_and_mechanism(upsertion.user, upsertion.mechanism)?;
    if upsertion.iterations < mechanism.iterations_min() {
        return Err(ScramError::Unacceptable("Too few iterations".into()));
    }
    if upsertion.iterations > ITERATIONS_MAX {
        return Err(ScramError::Unacceptable("Too many iterations".into()));
    }
    let size = upsertion.user.len() + upsertion.salt.len();
    if size > CREDENTIAL_SIZE_MAX_BYTES {
        return Err(ScramError::Unacceptable(format!(
            "User name and salt are {size} bytes; at most {CREDENTIAL_SIZE_MAX_BYTES} are accepted"
        )));
    }
    Ok(mechanism)
}

/// Kafka's `finishUpsertion` (the keys from the salted password), then
/// odradek's credential limit. Also says whether the credential is new.
fn finish_upsertion(
    table: &ScramTable,
    mechanism: ScramMechanism,
    upsertion: &Upsertion<'_>,
    count: usize,
    max_credentials: usize,
) -> Result<(MetadataRecord, bool), ScramError> {
    let credential = ScramCredential::from_salted_password(
        mechanism,
        upsertion.salt,
        upsertion.salted_password,
        upsertion.iterations,
    )
    .map_err(|_| ScramError::KeysNotComputable("The salted password must not be empty".into()))?;
    let new = !table.contains(upsertion.user, mechanism);
    if new && count >= max_credentials {
        return Err(ScramError::TooMany {
            max: max_credentials,
        });
    }
    Ok((
        MetadataRecord::UpsertScramCredential {
            user: upsertion.user.to_string(),
            mechanism,
            credential,
        },
        new,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::metadata::MetadataImage;

    const SHA256: i8 = 1;
    const SHA512: i8 = 2;

    fn up(user: &str, mechanism: i8, iterations: i32) -> Upsertion<'_> {
        Upsertion {
            user,
            mechanism,
            iterations,
            salt: b"salt",
            salted_password: b"salted",
        }
    }

    fn del(user: &str, mechanism: i8) -> Deletion<'_> {
        Deletion { user, mechanism }
    }

    fn run(
        image: &mut MetadataImage,
        deletions: &[Deletion<'_>],
        upsertions: &[Upsertion<'_>],
        max: usize,
    ) -> Vec<Outcome> {
        let (records, outcomes) = alter(&image.scram, deletions, upsertions, max);
        for r in &records {
            image.apply(r);
        }
        outcomes
    }

    fn result_of<'a>(outcomes: &'a [Outcome], user: &str) -> &'a Result<(), ScramError> {
        let mut matching = outcomes.iter().filter(|o| o.user == user);
        let first = matching.next().expect("user answered");
        assert!(matching.next().is_none(), "{user} answered once");
        &first.result
    }

    #[test]
    fn upsert_then_delete() {
        let mut image = MetadataImage::default();
        let outcomes = run(
            &mut image,
            &[],
            &[up("alice", SHA256, 4096), up("bob", SHA512, 16384)],
            10,
        );
        assert_eq!(outcomes, vec![ok("alice"), ok("bob")]);
        assert_eq!(image.scram.len(), 2);
        let stored = image.scram.get("alice", ScramMechanism::Sha256).unwrap();
        assert_eq!(stored.salt, b"salt");
        assert_eq!(stored.iterations, 4096);
        assert_eq!(stored.stored_key.len(), 32);
        assert_eq!(
            image
                .scram
                .get("bob", ScramMechanism::Sha512)
                .unwrap()
                .server_key
                .len(),
            64
        );
        // Replacing keeps the count; deleting removes.
        let outcomes = run(
            &mut image,
            &[del("bob", SHA512)],
            &[up("alice", SHA256, 8192)],
            2,
        );
        assert_eq!(outcomes, vec![ok("bob"), ok("alice")]);
        assert_eq!(image.scram.len(), 1);
        assert_eq!(
            image
                .scram
                .get("alice", ScramMechanism::Sha256)
                .unwrap()
                .iterations,
            8192
        );
    }

    #[test]
    fn kafka_validation_errors() {
        let mut image = MetadataImage::default();
        run(&mut image, &[], &[up("carol", SHA256, 4096)], 10);
        let outcomes = run(
            &mut image,
            &[
                del("", SHA256),
                del("dave", 0),
                del("erin", SHA256),
                del("carol", SHA512),
            ],
            &[
                up("few", SHA256, 4095),
                up("many", SHA512, 16385),
                up("mech", 3, 4096),
                up("neg", -1, 4096),
                Upsertion {
                    salted_password: b"",
                    ..up("nopw", SHA256, 4096)
                },
                Upsertion {
                    salt: b"",
                    ..up("nosalt", SHA256, 4096)
                },
            ],
            10,
        );
        let unacceptable = |m: &str| Err(ScramError::Unacceptable(m.into()));
        let not_found = Err(ScramError::NotFound(
            "Attempt to delete a user credential that does not exist".into(),
        ));
        assert_eq!(
            result_of(&outcomes, ""),
            &unacceptable("Username must not be empty")
        );
        assert_eq!(
            result_of(&outcomes, "dave"),
            &Err(ScramError::UnknownMechanism)
        );
        assert_eq!(result_of(&outcomes, "erin"), &not_found);
        assert_eq!(result_of(&outcomes, "carol"), &not_found);
        assert_eq!(
            result_of(&outcomes, "few"),
            &unacceptable("Too few iterations")
        );
        assert_eq!(
            result_of(&outcomes, "many"),
            &unacceptable("Too many iterations")
        );
        assert_eq!(
            result_of(&outcomes, "mech"),
            &Err(ScramError::UnknownMechanism)
        );
        assert_eq!(
            result_of(&outcomes, "neg"),
            &Err(ScramError::UnknownMechanism)
        );
        assert!(matches!(
            result_of(&outcomes, "nopw"),
            Err(ScramError::KeysNotComputable(_))
        ));
        // Kafka accepts an empty salt.
        assert_eq!(result_of(&outcomes, "nosalt"), &Ok(()));
        assert_eq!(outcomes.len(), 10);
        assert_eq!(image.scram.len(), 2);
        // Successes come first.
        assert_eq!(outcomes[0], ok("nosalt"));
    }

    #[test]
    fn a_user_twice_is_a_duplicate_and_nothing_of_it_is_stored() {
        let mut image = MetadataImage::default();
        run(&mut image, &[], &[up("a", SHA256, 4096)], 10);
        let outcomes = run(
            &mut image,
            &[del("a", SHA256), del("b", SHA256), del("b", SHA256)],
            &[
                up("a", SHA512, 4096),
                up("c", SHA256, 4096),
                up("c", SHA512, 4096),
                up("c", SHA256, 4096),
                up("d", 9, 4096),
                up("d", SHA256, 4096),
            ],
            10,
        );
        let duplicate = Err(ScramError::Duplicate(DUPLICATE.into()));
        // In both deletions and upsertions, even with another mechanism.
        assert_eq!(result_of(&outcomes, "a"), &duplicate);
        // b's first deletion already failed (not found): that error stays.
        assert!(matches!(
            result_of(&outcomes, "b"),
            Err(ScramError::NotFound(_))
        ));
        assert_eq!(result_of(&outcomes, "c"), &duplicate);
        // The first error of a user wins.
        assert_eq!(
            result_of(&outcomes, "d"),
            &Err(ScramError::UnknownMechanism)
        );
        assert_eq!(outcomes.len(), 4);
        // Nothing changed: a is still there, c was not created.
        assert!(image.scram.contains("a", ScramMechanism::Sha256));
        assert_eq!(image.scram.len(), 1);
    }

    #[test]
    fn the_credential_limit_refuses_new_credentials_only() {
        let mut image = MetadataImage::default();
        let outcomes = run(
            &mut image,
            &[],
            &[
                up("a", SHA256, 4096),
                up("b", SHA256, 4096),
                up("c", SHA256, 4096),
            ],
            2,
        );
        assert_eq!(outcomes[..2], [ok("a"), ok("b")]);
        assert_eq!(outcomes[2].result, Err(ScramError::TooMany { max: 2 }));
        assert!(outcomes[2]
            .result
            .as_ref()
            .unwrap_err()
            .message()
            .unwrap()
            .contains("max.scram.credentials"));
        assert_eq!(image.scram.len(), 2);
        assert!(!image.scram.contains("c", ScramMechanism::Sha256));
        // At the limit, a replacement is fine, and a deletion in the same
        // request makes room.
        let outcomes = run(
            &mut image,
            &[del("a", SHA256)],
            &[
                up("b", SHA256, 5000),
                up("c", SHA256, 4096),
                up("d", SHA256, 4096),
            ],
            2,
        );
        assert_eq!(result_of(&outcomes, "a"), &Ok(()));
        assert_eq!(result_of(&outcomes, "b"), &Ok(()));
        assert_eq!(result_of(&outcomes, "c"), &Ok(()));
        assert_eq!(
            result_of(&outcomes, "d"),
            &Err(ScramError::TooMany { max: 2 })
        );
        assert_eq!(image.scram.len(), 2);
    }

    #[test]
    fn oversized_credentials_and_requests_are_refused() {
        let mut image = MetadataImage::default();
        let long = "u".repeat(CREDENTIAL_SIZE_MAX_BYTES);
        let outcomes = run(
            &mut image,
            &[],
            &[
                up(&long, SHA256, 4096),
                Upsertion {
                    salt: &[7; CREDENTIAL_SIZE_MAX_BYTES - 1],
                    ..up("x", SHA256, 4096)
                },
            ],
            10,
        );
        assert!(matches!(
            outcomes[1].result,
            Err(ScramError::Unacceptable(_))
        ));
        assert_eq!(outcomes[0], ok("x"));
        let names: Vec<String> = (0..=REQUEST_ENTRIES_MAX).map(|i| format!("u{i}")).collect();
        let mut upsertions: Vec<Upsertion<'_>> =
            names.iter().map(|n| up(n, SHA256, 4096)).collect();
        upsertions.push(up("u0", SHA256, 4096));
        let (records, outcomes) = alter(&image.scram, &[], &upsertions, usize::MAX);
        assert!(records.is_empty());
        assert_eq!(outcomes.len(), REQUEST_ENTRIES_MAX + 1);
        assert!(outcomes
            .iter()
            .all(|o| o.result == Err(ScramError::RequestTooLarge)));
        assert!(outcomes.windows(2).all(|w| w[0].user < w[1].user));
    }
}

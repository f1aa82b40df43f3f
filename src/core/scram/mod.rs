//! SCRAM credentials (KIP-554), sans IO: what DescribeUserScramCredentials
//! and AlterUserScramCredentials read and write, as KRaft's
//! `ScramControlManager` and `ScramImage` do.
//!
//! - `mechanism`: SCRAM-SHA-256 and SCRAM-SHA-512, Kafka's wire codes and
//!   iteration bounds.
//! - `credential`: a stored credential (salt, stored key, server key,
//!   iterations) computed from the salted password a client sends; the
//!   salted password itself is never kept.
//! - `table`: the credentials of the metadata image, by user and mechanism.
//! - `alter`: AlterUserScramCredentials as metadata records and per-user
//!   outcomes (validation, duplicates, `max.scram.credentials`).
//! - `describe`: DescribeUserScramCredentials against the table.
//!
//! The credentials are stored for a future SASL/SCRAM listener: odradek has
//! no SASL authentication yet, so nothing authenticates against them.

pub mod alter;
pub mod credential;
pub mod describe;
pub mod mechanism;
pub mod table;

pub use credential::ScramCredential;
pub use mechanism::ScramMechanism;
pub use table::ScramTable;

/// Why one user's part of a SCRAM request was refused. Mapped to Kafka's
/// error codes at the edge (`kafka::error_code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// RESOURCE_NOT_FOUND: describing or deleting a credential that does
    /// not exist.
    NotFound(String),
    /// DUPLICATE_RESOURCE: a user named twice in one request.
    Duplicate(String),
    /// UNSUPPORTED_SASL_MECHANISM: a mechanism code Kafka does not know.
    UnknownMechanism,
    /// UNACCEPTABLE_CREDENTIAL: empty user name, iterations out of bounds,
    /// a credential larger than odradek stores.
    Unacceptable(String),
    /// UNKNOWN_SERVER_ERROR: Kafka cannot compute the keys (an empty salted
    /// password is an empty HMAC key, which Java's `SecretKeySpec` refuses).
    KeysNotComputable(String),
    /// POLICY_VIOLATION (odradek's): `max.scram.credentials` reached.
    TooMany { max: usize },
    /// INVALID_REQUEST (odradek's): more entries in one request than
    /// [`REQUEST_ENTRIES_MAX`].
    RequestTooLarge,
}

impl ScramError {
    /// The error message sent to the client (Kafka's text where it has one).
    pub fn message(&self) -> Option<String> {
        match self {
            ScramError::NotFound(m) | ScramError::Duplicate(m) | ScramError::Unacceptable(m) => {
                Some(m.clone())
            }
            ScramError::KeysNotComputable(m) => Some(m.clone()),
            ScramError::UnknownMechanism => Some("Unknown SCRAM mechanism".to_string()),
            ScramError::TooMany { max } => Some(format!(
                "The cluster holds at most {max} SCRAM credentials (max.scram.credentials)"
            )),
            // Answered for every user of an oversized request: no text, so
            // the response stays no larger than the request.
            ScramError::RequestTooLarge => None,
        }
    }
}

/// Users named in one DescribeUserScramCredentials, or deletions plus
/// upsertions in one AlterUserScramCredentials, at most (odradek's; Kafka
/// has none). Bounds the work and the response a single request can cause.
pub const REQUEST_ENTRIES_MAX: usize = 10_000;

/// User name and salt of one credential together, in bytes, at most
/// (odradek's; Kafka has none), so that a credential's record always fits
/// a metadata-journal commit.
pub const CREDENTIAL_SIZE_MAX_BYTES: usize = 16 * 1024;

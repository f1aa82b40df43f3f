//! The SCRAM mechanisms Kafka supports (`org.apache.kafka.clients.admin.
//! ScramMechanism` for the wire codes, `...scram.internals.ScramMechanism`
//! for the hash and the iteration bounds).

use serde::{Deserialize, Serialize};

/// A known mechanism. Kafka's UNKNOWN (code 0, and any other code) is not a
/// variant: [`ScramMechanism::from_code`] answers `None` for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

/// Kafka's `ScramControlManager.MAX_ITERATIONS`, for both mechanisms.
pub const ITERATIONS_MAX: i32 = 16_384;

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The mechanism of a wire code (`ScramMechanism.fromType`): 1 is
    /// SCRAM-SHA-256, 2 is SCRAM-SHA-512, anything else is unknown.
    pub fn from_code(code: i8) -> Option<ScramMechanism> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Fewest iterations Kafka accepts (4096 for both, as in Kafka).
    pub fn iterations_min(self) -> i32 {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_none() {
        for m in ScramMechanism::ALL {
            assert_eq!(ScramMechanism::from_code(m.code()), Some(m));
        }
        for code in [i8::MIN, -1, 0, 3, i8::MAX] {
            assert_eq!(ScramMechanism::from_code(code), None);
        }
        assert_eq!(ScramMechanism::Sha512.name(), "SCRAM-SHA-512");
    }
}

//! A stored SCRAM credential (RFC 5802, Kafka's `ScramFormatter`): from the
//! salted password a client computed, the broker keeps
//!
//! - StoredKey = H(ClientKey), where ClientKey = HMAC(SaltedPassword, "Client Key")
//! - ServerKey = HMAC(SaltedPassword, "Server Key")
//!
//! with the salt and the iteration count, and drops the salted password.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::core::scram::mechanism::ScramMechanism;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// The salted password is an empty HMAC key. Java's `SecretKeySpec`
/// refuses one, so Kafka answers UNKNOWN_SERVER_ERROR; the `hmac` crate
/// would accept it, so it is checked here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptySaltedPassword;

impl ScramCredential {
    /// The credential for `salted_password` (Kafka's
    /// `ScramFormatter.storedKey(clientKey(..))` and `serverKey(..)`).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> Result<ScramCredential, EmptySaltedPassword> {
        if salted_password.is_empty() {
            return Err(EmptySaltedPassword);
        }
        let (stored_key, server_key) = match mechanism {
            ScramMechanism::Sha256 => {
                let client_key = hmac::<Hmac<Sha256>>(salted_password, b"Client Key");
                (
                    Sha256::digest(&client_key).to_vec(),
                    hmac::<Hmac<Sha256>>(salted_password, b"Server Key"),
                )
            }
            ScramMechanism::Sha512 => {
                let client_key = hmac::<Hmac<Sha512>>(salted_password, b"Client Key");
                (
                    Sha512::digest(&client_key).to_vec(),
                    hmac::<Hmac<Sha512>>(salted_password, b"Server Key"),
                )
            }
        };
        Ok(ScramCredential {
            salt: salt.to_vec(),
            stored_key,
            server_key,
            iterations,
        })
    }
}

/// HMAC over `message` with `key`; HMAC takes a key of any length.
fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .expect("HMAC accepts keys of every length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Never prints the keys or the salt (as Kafka's `ScramCredentialValue`).
impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("salt", &"[hidden]")
            .field("stored_key", &"[hidden]")
            .field("server_key", &"[hidden]")
            .field("iterations", &self.iterations)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil",
    // salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    const SALT: &str = "5b6d99689d12358eeca04b141236fa81";
    const SALTED_PASSWORD_256: &str =
        "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d";
    const AUTH_MESSAGE: &str = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
        r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
        c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    #[test]
    fn sha256_keys_reproduce_the_rfc_7677_exchange() {
        let c = ScramCredential::from_salted_password(
            ScramMechanism::Sha256,
            &hex(SALT),
            &hex(SALTED_PASSWORD_256),
            4096,
        )
        .unwrap();
        assert_eq!(
            c.stored_key,
            hex("586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6")
        );
        assert_eq!(
            c.server_key,
            hex("c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5")
        );
        // The server's signature of the RFC's exchange (v=6rriTRBi...).
        assert_eq!(
            hmac::<Hmac<Sha256>>(&c.server_key, AUTH_MESSAGE.as_bytes()),
            hex("eabae24d1062db75a9451ff0b6ea7e98c8546549ff741e672d3251b2397de46e")
        );
        // ClientProof (p=dHzbZapW...) XOR ClientSignature is ClientKey, whose
        // hash is the stored key: what a SCRAM server checks.
        let proof = hex("747cdb65aa56224e2352137e52d7bdcad6a0f738df30782caa69a2cfb0277554");
        let signature = hmac::<Hmac<Sha256>>(&c.stored_key, AUTH_MESSAGE.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha256::digest(&client_key).to_vec(), c.stored_key);
        assert_eq!(c.salt, hex(SALT));
        assert_eq!(c.iterations, 4096);
    }

    #[test]
    fn sha512_keys() {
        // The same inputs with SHA-512 (values from Python's hashlib/hmac).
        let salted = hex(
            "f16efe1be67f1d09502ebd5ed9262fddffba5a377ab4f0b687e5ed5ba0f50686\
             b8a4ae166476da8ab3b951d2fa9238b63998f45461bc33a464814949cec9631d",
        );
        let c = ScramCredential::from_salted_password(
            ScramMechanism::Sha512,
            &hex(SALT),
            &salted,
            4096,
        )
        .unwrap();
        assert_eq!(
            c.stored_key,
            hex(
                "e8002e6f7d3ae446119b216933644dc2a2be7869eb918b8459b5e7d7d2ec1260\
                 6aceef106825cd735170a675fd3611f684affad1dce3f43a0ee43bd590e1dbbe"
            )
        );
        assert_eq!(
            c.server_key,
            hex(
                "8d91db6230b5687874fe129bc7206e1858c3ae08e02934f57ac03b6b05a229c4\
                 59d28ff46f5c9611e6c179256490215ec1ff759cb0df285db89af0f99e613aac"
            )
        );
    }

    #[test]
    fn an_empty_salted_password_is_refused_and_an_empty_salt_is_not() {
        assert_eq!(
            ScramCredential::from_salted_password(ScramMechanism::Sha256, b"salt", b"", 4096),
            Err(EmptySaltedPassword)
        );
        let c =
            ScramCredential::from_salted_password(ScramMechanism::Sha512, b"", b"x", 4096).unwrap();
        assert!(c.salt.is_empty());
        assert_eq!(c.stored_key.len(), 64);
        assert!(!format!("{c:?}").contains(&format!("{:?}", c.stored_key)));
    }
}

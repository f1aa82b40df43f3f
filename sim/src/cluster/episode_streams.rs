//! The draws every targeted episode kind (leader churn, missed epochs,
//! Figure 8) makes from streams of its own, salted per kind: a seed
//! without the kind draws nothing from the fault loop's stream for it, so
//! adding a kind moves no other seed's schedule.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The chance that a fault of the loop is this kind's episode in `seed`:
/// `fault_probability` in the share `seed_probability` of seeds that have
/// the kind (drawn from the stream salted `salt`), 0 in the others.
pub fn fault_share(seed: u64, salt: u64, seed_probability: f64, fault_probability: f64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ salt);
    if rng.gen_bool(seed_probability) {
        fault_probability
    } else {
        0.0
    }
}

/// The stream one kind's episodes draw from in `seed`.
pub fn stream(seed: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ salt)
}

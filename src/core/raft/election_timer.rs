//! The randomized election timeout, drawn from an injected seeded RNG so
//! that a run replays exactly from its seed.

use std::hash::{Hash, Hasher};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A ChaCha8 generator that can be compared and hashed by its position
/// (seed, stream, word), so a node's whole state can be a model checker's
/// state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionRng(ChaCha8Rng);

impl ElectionRng {
    pub fn new(rng: ChaCha8Rng) -> ElectionRng {
        ElectionRng(rng)
    }

    pub fn from_seed(seed: u64) -> ElectionRng {
        ElectionRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A timeout in `[min_ms, max_ms)`.
    pub fn timeout_ms(&mut self, min_ms: u64, max_ms: u64) -> u64 {
        assert!(min_ms < max_ms, "a non-empty range");
        self.0.gen_range(min_ms..max_ms)
    }
}

impl Hash for ElectionRng {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.get_seed().hash(state);
        self.0.get_stream().hash(state);
        self.0.get_word_pos().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_timeouts_within_range() {
        let mut a = ElectionRng::from_seed(7);
        let mut b = ElectionRng::from_seed(7);
        for _ in 0..100 {
            let t = a.timeout_ms(300, 600);
            assert_eq!(t, b.timeout_ms(300, 600));
            assert!((300..600).contains(&t));
        }
        assert_eq!(a, b);
    }
}

//! Field values a hostile client would send: names from a small pool that
//! hits existing topics, reserved names and length limits; numbers near the
//! real ones and at the extremes of their type.

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The topics every episode starts with; their data is what a refused
/// request must never change.
pub const BASELINE_TOPICS: &[(&str, i32)] = &[("fuzz-a", 1), ("fuzz-b", 3)];

/// The deterministic source of one episode's inputs.
pub struct Gen {
    pub rng: ChaCha8Rng,
}

impl Gen {
    pub fn new(rng: ChaCha8Rng) -> Self {
        Gen { rng }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.gen_range(0..n)
        }
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A list length: mostly small, sometimes empty, rarely long.
    pub fn count(&mut self) -> usize {
        match self.below(20) {
            0 => 0,
            1 => self.rng.gen_range(5..40),
            _ => self.rng.gen_range(1..4),
        }
    }

    /// A topic name: baseline topics most often, then scratch names,
    /// reserved names, invalid characters and length limits.
    pub fn topic(&mut self) -> String {
        match self.below(16) {
            0..=5 => self.pick(BASELINE_TOPICS).0.to_string(),
            6 | 7 => format!("fuzz-new-{}", self.below(4)),
            8 => (*self.pick(&[
                "__consumer_offsets",
                "__cluster_metadata",
                "__transaction_state",
                "__consumer.offsets",
                "__consumer_offsets-0",
            ]))
            .to_string(),
            9 => String::new(),
            10 => "a".repeat(*self.pick(&[249, 250, 255, 256, 1000])),
            11 => (*self.pick(&[
                ".",
                "..",
                "fuzz.a",
                "fuzz_a",
                "bad name!",
                "zé",
                "a/b",
                "../x",
            ]))
            .to_string(),
            12 => "fuzz-a".to_string(),
            _ => self.short_string(),
        }
    }

    /// A group or member id: a few fixed ones (so requests meet state made
    /// by earlier ones), empty, and random.
    pub fn group(&mut self) -> String {
        match self.below(8) {
            0..=3 => format!("fuzz-group-{}", self.below(2)),
            4 => String::new(),
            5 => "g".repeat(*self.pick(&[250, 1000])),
            _ => self.short_string(),
        }
    }

    pub fn short_string(&mut self) -> String {
        let len = self.below(12);
        (0..len)
            .map(|_| *self.pick(b"abcxyz-_.09AZ\x00\xff") as char)
            .collect()
    }

    pub fn str_bytes(&mut self, s: String) -> StrBytes {
        StrBytes::from_string(s)
    }

    /// A partition index: mostly a real one, sometimes just past the end
    /// or an extreme.
    pub fn partition(&mut self) -> i32 {
        match self.below(10) {
            0..=5 => self.rng.gen_range(0..3),
            6 => self.rng.gen_range(3..6),
            _ => self.i32_extreme(),
        }
    }

    pub fn i32_extreme(&mut self) -> i32 {
        *self.pick(&[
            -1,
            -2,
            0,
            1,
            i32::MAX,
            i32::MIN,
            i32::MAX - 1,
            1 << 20,
            1 << 30,
        ])
    }

    pub fn i64_extreme(&mut self) -> i64 {
        *self.pick(&[
            -1,
            -2,
            -3,
            0,
            1,
            i64::MAX,
            i64::MIN,
            i32::MAX as i64,
            1 << 40,
        ])
    }

    /// An offset: near the small real ones or an extreme (including
    /// ListOffsets' special timestamps -1, -2, -3).
    pub fn offset(&mut self) -> i64 {
        if self.chance(0.6) {
            self.rng.gen_range(0..12)
        } else {
            self.i64_extreme()
        }
    }

    /// A byte budget (max_bytes and friends).
    pub fn max_bytes(&mut self) -> i32 {
        match self.below(6) {
            0 => 0,
            1 => self.rng.gen_range(1..100),
            2 => 1 << 20,
            3 => i32::MAX,
            4 => -1,
            _ => self.rng.gen_range(100..100_000),
        }
    }

    /// A wait or timeout: small, so a request that waits ends quickly;
    /// sometimes negative or zero. Byte mutations may still make it huge:
    /// the runner bounds every request in time anyway.
    pub fn wait_ms(&mut self) -> i32 {
        match self.below(5) {
            0 => 0,
            1 => -1,
            2 => i32::MIN,
            _ => self.rng.gen_range(1..20),
        }
    }

    pub fn i16_any(&mut self) -> i16 {
        match self.below(4) {
            0 => -1,
            1 => 0,
            2 => self.rng.gen_range(1..5),
            _ => *self.pick(&[i16::MAX, i16::MIN, 1, -2]),
        }
    }

    pub fn i8_any(&mut self) -> i8 {
        *self.pick(&[-1, 0, 1, 2, 3, 4, i8::MAX, i8::MIN])
    }

    pub fn bytes(&mut self, max: usize) -> Bytes {
        let len = self.below(max + 1);
        let mut v = vec![0u8; len];
        self.rng.fill(&mut v[..]);
        Bytes::from(v)
    }

    pub fn opt<T>(&mut self, p_none: f64, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.chance(p_none) {
            None
        } else {
            Some(f(self))
        }
    }
}

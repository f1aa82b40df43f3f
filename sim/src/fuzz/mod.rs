//! A structure-aware fuzzer of the request path: seeded, deterministic
//! request frames (valid headers for every advertised API and version,
//! bodies built as `kafka-protocol` structs with hostile field values,
//! Produce record batches whose headers lie, byte mutations on top) run
//! through the real dispatcher of an in-process broker on SimDisk.
//!
//! Runs in a normal (non-madsim) build: `src/bin/fuzz-requests.rs` is the
//! command line, `tests/fuzz_requests.rs` a short run in `cargo test`.
//! docs/testing.md ("Fuzzing the request path") says how to run and replay.

pub mod batches;
pub mod episode;
pub mod frames;
pub mod oracle;
pub mod requests;
pub mod responses;
pub mod values;

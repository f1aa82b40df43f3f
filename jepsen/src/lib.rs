//! Real-process harness for odradek: starts the real `odradek` binary as a child process and
//! talks to it over real sockets, so integration tests exercise exactly what a user deploys.
//!
//! - [`binary`] finds (or builds) the broker executable;
//! - [`node`] runs one broker process with its own port and data directory;
//! - [`cluster`] runs N of them as one cluster (a Raft quorum of voters);
//! - [`history`] is the harness's history format (JSON lines of Jepsen-style operations);
//! - [`checker`] judges such a history with the simulator's checkers (`odradek-sim`), naming
//!   anomalies as Jepsen's Kafka workload does;
//! - [`wire`] frames hand-built Kafka requests for tests that must send malformed bytes;
//! - [`run`] is `odradek-jepsen test`: the cluster as hosts of a test network
//!   ([`netns`], [`net_cluster`]), the queue [`workload`] through librdkafka, the
//!   [`nemesis`], the history ([`recorder`]), the verdict and the [`plot`]s.
//!
//! The tests in `tests/` use them: `cargo test -p odradek-jepsen`. They run
//! `$ODRADEK_BIN` if set, else the newer of `target/release/odradek` and
//! `target/debug/odradek` (so rebuild the broker first), else build the release binary once.
//! A failing test prints the tail of the broker's log.

pub mod binary;
pub mod checker;
pub mod cluster;
pub mod history;
pub mod node;
pub mod wire;

#[cfg(not(madsim))]
pub mod nemesis;
#[cfg(not(madsim))]
pub mod net_cluster;
pub mod netns;
#[cfg(not(madsim))]
pub mod partition_leaders;
pub mod plot;
pub mod recorder;
#[cfg(not(madsim))]
pub mod run;
#[cfg(not(madsim))]
pub mod workload;

pub use binary::odradek_binary;
pub use cluster::Cluster;
pub use node::{BrokerOptions, BrokerProcess, FsyncPolicy};

//! The replica state machine's settings, and the test-only switches that put
//! back the classic replication bugs (DESIGN.md, "Proving the checkers have
//! teeth"), so the harness and the model checker can show they catch them.

use crate::core::topic_config::FsyncPolicy;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplicaConfig {
    pub node_id: i32,
    /// `min.insync.replicas`: acks=all needs an ISR at least this large.
    pub min_insync_replicas: usize,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long is
    /// proposed for removal from the ISR.
    pub replica_lag_time_max_ms: u64,
    /// A follower waits this long before fetching again after a failed
    /// fetch or an error answer (Kafka: `replica.fetch.backoff.ms`).
    pub replica_fetch_backoff_ms: u64,
    /// A follower waits this long before fetching again after an answer
    /// with no records. 0 when the leader long-polls (the broker, as
    /// Kafka's fetcher, which backs off only after errors: an empty answer
    /// already waited `replica.fetch.wait.max.ms` at the leader, and a
    /// back-off after it delayed the next batch, and so every acks=all
    /// answer, by up to the back-off plus a tick). The harness and the
    /// model, whose leaders answer at once, wait.
    pub replica_fetch_empty_backoff_ms: u64,
    /// A fetch unanswered this long is sent again (the request or its answer
    /// was lost).
    pub replica_fetch_timeout_ms: u64,
    /// Most records one fetch response carries (`replica.fetch.max.bytes`).
    pub replica_fetch_max_records: i64,
    /// With `Always` a replica counts only synced records: the leader toward
    /// the high watermark and acks=1, a follower in the offset it fetches
    /// from (it fetches again only once its log is synced).
    pub fsync_policy: FsyncPolicy,
    pub bugs: ReplicaBugs,
}

impl ReplicaConfig {
    pub fn new(node_id: i32) -> ReplicaConfig {
        ReplicaConfig {
            node_id,
            min_insync_replicas: 1,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_backoff_ms: 1_000,
            replica_fetch_empty_backoff_ms: 1_000,
            replica_fetch_timeout_ms: 30_000,
            replica_fetch_max_records: 500,
            fsync_policy: FsyncPolicy::Never,
            bugs: ReplicaBugs::default(),
        }
    }
}

/// Test-only bug switches. All off is Kafka's protocol (KIP-101, KIP-279,
/// KIP-320 and fetch-time truncation detection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReplicaBugs {
    /// Pre-KIP-101: a replica that becomes a follower truncates its log to
    /// its high watermark, and fetches are never checked against epochs.
    pub truncate_to_hw: bool,
    /// KIP-101 alone: the follower checks its last epoch once after becoming
    /// a follower and truncates to the leader's end of it (capped by its own
    /// log end), without walking back epoch by epoch (KIP-279).
    pub kip101_only: bool,
    /// Pre-KIP-320: fetches and their answers are not fenced by leader
    /// epoch, the follower's epoch check runs once per leadership instead
    /// of on every fetch, the high watermark counts followers whatever
    /// epoch they fetched in, and a follower joins the ISR without reaching
    /// the start of the leader's epoch.
    pub unfenced_fetch: bool,
    /// acks=all answered as soon as the leader has the batch, before the
    /// ISR does.
    pub ack_before_isr: bool,
}

impl ReplicaBugs {
    pub const NAMES: [&'static str; 4] = [
        "truncate-to-hw",
        "kip101-only",
        "unfenced-fetch",
        "ack-before-isr",
    ];

    /// The switches for one `--bug` name.
    pub fn named(name: &str) -> Option<ReplicaBugs> {
        let mut bugs = ReplicaBugs::default();
        match name {
            "truncate-to-hw" => bugs.truncate_to_hw = true,
            "kip101-only" => bugs.kip101_only = true,
            "unfenced-fetch" => bugs.unfenced_fetch = true,
            "ack-before-isr" => bugs.ack_before_isr = true,
            _ => return None,
        }
        Some(bugs)
    }

    /// Whether every fetch carries the follower's last fetched epoch for
    /// the leader to check (the fixed protocol), rather than only the
    /// first ones after becoming a follower (`None` = never).
    pub(crate) fn checks_epoch_on_every_fetch(&self) -> Option<bool> {
        if self.truncate_to_hw {
            None
        } else {
            Some(!(self.kip101_only || self.unfenced_fetch))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bug_name_switches_one_bug() {
        for name in ReplicaBugs::NAMES {
            let bugs = ReplicaBugs::named(name).unwrap();
            assert_ne!(bugs, ReplicaBugs::default(), "{name}");
        }
        assert_eq!(ReplicaBugs::named("unclean-election"), None);
    }
}

//! Broker settings. The names mirror Kafka's where Kafka has one; the CLI in
//! `main.rs` fills this from flags, `ODRADEK_*` environment variables and an
//! optional TOML file.

use std::net::SocketAddr;

use crate::core::acl::AuthorizerConfig;
use crate::core::topic_config::FsyncPolicy;
use crate::server::log_settings::LogSettings;

/// Test-only switches that put a classic bug back, so the simulator can show
/// that its checkers catch it. All off in every real deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BugSwitches {
    /// Log recovery accepts batches without verifying their CRC-32C.
    pub no_crc_check: bool,
    /// With `fsync.policy=always`, answer the producer before the sync is done.
    pub ack_before_sync: bool,
    /// Idempotent producers' retries are appended again (no dedupe).
    pub no_idempotence: bool,
    /// The group coordinator answers OffsetCommit (and everything else it
    /// persists) before the records are durable in `__consumer_offsets`.
    pub commit_before_persist: bool,
    /// Reads serve appended records up to the high watermark, synced or not
    /// (`interval`, `never`): a power loss then reuses offsets consumers read.
    pub read_unsynced: bool,
    /// A new segment (and its indexes) is used, and records in it
    /// acknowledged, before its directory entry is durable.
    pub no_dir_sync: bool,
    /// Checkpoints do not sync index files, and the recovery point vouches
    /// for segments whose indexes were never synced (trusted at recovery).
    pub unsynced_index: bool,
    /// The log start offset is not written to `log-start-offset` when
    /// retention or DeleteRecords move it: after a restart the log starts at
    /// its first segment's base (or 0), so records below a DeleteRecords
    /// offset come back and a log whose segments were all deleted reuses
    /// offsets.
    pub forget_log_start: bool,
    /// The replica machine's switches (`ReplicaBugs`), for a cluster:
    /// acks=all answered once the leader's own log has the batch.
    pub ack_before_isr: bool,
    /// Pre-KIP-101: a new follower truncates to its high watermark.
    pub truncate_to_hw: bool,
    /// Pre-KIP-320: fetches not fenced by leader epoch.
    pub unfenced_fetch: bool,
    /// Retention deletes segments above the high watermark: a leader's log
    /// start passes records its ISR has not fetched.
    pub retention_past_hw: bool,
    /// A new leader answers ListOffsets before its high watermark reached
    /// its epoch's start (below what the last leader acknowledged).
    pub list_offsets_before_hw: bool,
    /// KIP-101 alone: a new follower truncates once to the leader's end of
    /// its last epoch, without walking back epoch by epoch (KIP-279).
    pub kip101_only: bool,
    /// The controller elects a live replica outside the ISR when no ISR
    /// member is live, although the topic does not allow unclean election.
    pub unclean_election: bool,
    /// The metadata quorum's switches (`RaftBugs`): votes granted without
    /// the log up-to-date check (Raft §5.4.1).
    pub vote_without_log_check: bool,
    /// A Raft leader commits an entry of an earlier term by counting its
    /// replicas (Raft §5.4.2, Figure 8).
    pub commit_old_term: bool,
}

impl BugSwitches {
    /// Every switch's name, as the simulator's `--bug` and the binary's
    /// hidden `--unsafe-bug` spell it.
    pub const NAMES: [&'static str; 17] = [
        "no-crc-check",
        "ack-before-sync",
        "no-idempotence",
        "commit-before-persist",
        "read-unsynced",
        "no-dir-sync",
        "unsynced-index",
        "forget-log-start",
        "ack-before-isr",
        "truncate-to-hw",
        "unfenced-fetch",
        "retention-past-hw",
        "list-offsets-before-hw",
        "kip101-only",
        "unclean-election",
        "vote-without-log-check",
        "commit-old-term",
    ];

    /// Turns on the switch named `name`; `false` if there is none.
    pub fn enable(&mut self, name: &str) -> bool {
        let switch = match name {
            "no-crc-check" => &mut self.no_crc_check,
            "ack-before-sync" => &mut self.ack_before_sync,
            "no-idempotence" => &mut self.no_idempotence,
            "commit-before-persist" => &mut self.commit_before_persist,
            "read-unsynced" => &mut self.read_unsynced,
            "no-dir-sync" => &mut self.no_dir_sync,
            "unsynced-index" => &mut self.unsynced_index,
            "forget-log-start" => &mut self.forget_log_start,
            "ack-before-isr" => &mut self.ack_before_isr,
            "truncate-to-hw" => &mut self.truncate_to_hw,
            "unfenced-fetch" => &mut self.unfenced_fetch,
            "retention-past-hw" => &mut self.retention_past_hw,
            "list-offsets-before-hw" => &mut self.list_offsets_before_hw,
            "kip101-only" => &mut self.kip101_only,
            "unclean-election" => &mut self.unclean_election,
            "vote-without-log-check" => &mut self.vote_without_log_check,
            "commit-old-term" => &mut self.commit_old_term,
            _ => return false,
        };
        *switch = true;
        true
    }
}

#[cfg(test)]
mod bug_switch_tests {
    use super::BugSwitches;

    #[test]
    fn every_named_switch_turns_on_exactly_one_field() {
        let mut seen = Vec::new();
        for name in BugSwitches::NAMES {
            let mut bugs = BugSwitches::default();
            assert!(bugs.enable(name), "{name}");
            assert_ne!(bugs, BugSwitches::default(), "{name}");
            assert!(!seen.contains(&bugs), "{name} turns on another's field");
            seen.push(bugs);
        }
        assert!(!BugSwitches::default().enable("no-such-bug"));
    }
}

/// Kafka's default `fetch.max.bytes`: 55 MiB.
pub const FETCH_MAX_BYTES_DEFAULT: i32 = 55 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`: this node's id in the cluster.
    pub node_id: i32,
    /// `listeners`: the address the Kafka listener binds.
    pub listen: SocketAddr,
    /// `advertised.listeners`: host:port given to clients in Metadata.
    pub advertise_host: String,
    pub advertise_port: u16,
    /// `log.dirs`: the data directory, relative to the disk's root.
    pub data_dir: String,
    /// `num.partitions`: partitions of an auto-created topic, and the default
    /// for CreateTopics with `num_partitions = -1`.
    pub default_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// Default `fsync.policy` of topics that do not set one.
    pub default_fsync_policy: FsyncPolicy,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.retention.ms` default for new topics (-1: keep forever).
    pub default_retention_ms: i64,
    /// `log.retention.bytes` default for new topics (-1: no size limit).
    pub default_retention_bytes: i64,
    /// `log.segment.bytes` default for new topics.
    pub default_segment_bytes: i64,
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub max_request_size_bytes: usize,
    /// `fetch.max.bytes` (KIP-541): caps the response limit a consumer's
    /// Fetch asks for, so one request cannot make the broker build a reply
    /// of any size.
    pub fetch_max_bytes: i32,
    /// `cluster.id` reported in Metadata.
    pub cluster_id: String,
    /// The data directory as the host names it (`log.dirs`, reported by
    /// DescribeLogDirs); `data_dir` is relative to the disk's root.
    pub log_dir_display: String,
    /// The resource limits a client can reach (docs/limits.md).
    pub limits: Limits,
    /// `authorizer.class.name`: `Some` runs the standard authorizer (with
    /// `super.users` and `allow.everyone.if.no.acl.found`); `None`, Kafka's
    /// default, authorizes everything and answers the ACL APIs
    /// SECURITY_DISABLED.
    pub authorizer: Option<AuthorizerConfig>,
    /// Background log work's intervals and segment defaults (docs/limits.md).
    pub log: LogSettings,
    pub bugs: BugSwitches,
    /// `default.replication.factor`: replicas of auto-created topics and
    /// of CreateTopics without a replication factor.
    pub default_replication_factor: i16,
    /// `offsets.topic.replication.factor`: replicas of `__consumer_offsets`.
    /// Its creation waits until that many brokers are live (Kafka's rule).
    pub offsets_topic_replication_factor: i16,
    /// `None`: a one-node cluster with its metadata in a local journal.
    /// `Some`: a node of a Raft-replicated cluster.
    pub cluster: Option<ClusterConfig>,
}

/// How a node joins a cluster (`--rpc`, `--voters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The node-to-node listener (replica fetches, Raft, broker to
    /// controller calls); also the address other nodes are told.
    pub rpc_listen: SocketAddr,
    /// The metadata quorum's voters and their rpc addresses. A node in it
    /// is broker and controller; one outside is a broker only.
    pub voters: std::collections::BTreeMap<i32, SocketAddr>,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms`: a broker unheard of for this long is
    /// fenced and its leaderships move.
    pub session_timeout_ms: u64,
    /// Entries in one Raft AppendEntries (`RaftConfig::append_entries_max`,
    /// at least 1). The simulator sets 1 in its Figure 8 seeds, so that a
    /// new leader's own no-op travels after an older term's entry instead
    /// of with it; no command-line flag sets it.
    pub raft_append_entries_max: usize,
}

impl ClusterConfig {
    pub fn new(
        rpc_listen: SocketAddr,
        voters: std::collections::BTreeMap<i32, SocketAddr>,
    ) -> Self {
        ClusterConfig {
            rpc_listen,
            voters,
            heartbeat_interval_ms: 1_000,
            session_timeout_ms: 6_000,
            raft_append_entries_max: crate::core::raft::RaftConfig::new([]).append_entries_max,
        }
    }

    /// Parses `--voters`: `1@host:port,2@host:port,...` (Kafka's
    /// `controller.quorum.voters`).
    pub fn parse_voters(text: &str) -> Result<std::collections::BTreeMap<i32, SocketAddr>, String> {
        let mut voters = std::collections::BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (id, address) = item
                .split_once('@')
                .ok_or_else(|| format!("voter {item:?} is not id@host:port"))?;
            let id: i32 = id
                .parse()
                .map_err(|_| format!("voter {item:?}: {id:?} is not a node id"))?;
            if id < 0 {
                return Err(format!("voter {item:?}: node ids are not negative"));
            }
            let address = std::net::ToSocketAddrs::to_socket_addrs(address)
                .map_err(|e| format!("voter {item:?}: {e}"))?
                .next()
                .ok_or_else(|| format!("voter {item:?}: no address"))?;
            if voters.insert(id, address).is_some() {
                return Err(format!("voter {id} is listed twice"));
            }
        }
        if voters.is_empty() {
            return Err("--voters lists no voter".into());
        }
        Ok(voters)
    }
}

/// Every resource a client can consume, bounded. Kafka's names where Kafka
/// has the setting; docs/limits.md lists them with their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max.connections`: open client connections at most; a connection
    /// accepted over it is closed at once.
    pub max_connections: usize,
    /// `max.connections.per.ip`: open connections from one client address.
    pub max_connections_per_ip: usize,
    /// `connections.max.idle.ms`: a connection that sends no complete request
    /// for this long is closed.
    pub connections_max_idle_ms: u64,
    /// `queued.max.request.bytes`: request bytes held in memory by all
    /// connections together (read, queued or being handled). A frame's
    /// body is read only once its size fits; until then the connection waits.
    pub queued_max_request_bytes: usize,
    /// `producer.id.expiration.ms`: a partition forgets an idempotent
    /// producer this long after the timestamp of its last batch.
    pub producer_id_expiration_ms: i64,
    /// `producer.state.max.producers.per.partition` (odradek's): producer
    /// ids a partition remembers at most; past it, the least recently
    /// active one is forgotten first.
    pub max_producers_per_partition: usize,
    /// `log.cleaner.dedupe.buffer.size`: bytes of the compaction offset map
    /// (keys plus per-entry overhead) at most.
    pub cleaner_dedupe_buffer_bytes: usize,
    /// `max.acls` (odradek's): ACLs the cluster holds at most; a CreateAcls
    /// binding past it is refused with INVALID_REQUEST.
    pub max_acls: usize,
    /// `max.scram.credentials` (odradek's): SCRAM credentials (user and
    /// mechanism pairs) the cluster holds at most; an upsertion that would
    /// create one past it is refused with POLICY_VIOLATION.
    pub max_scram_credentials: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_connections_per_ip: i32::MAX as usize,
            connections_max_idle_ms: 600_000,
            queued_max_request_bytes: 100 * 1024 * 1024,
            producer_id_expiration_ms: 86_400_000,
            max_producers_per_partition: 10_000,
            cleaner_dedupe_buffer_bytes: 128 * 1024 * 1024,
            max_acls: 100_000,
            max_scram_credentials: 10_000,
        }
    }
}

impl BrokerConfig {
    /// The settings of `cargo run --release`: one node on 127.0.0.1:9092
    /// storing its data under `./data`.
    pub fn single_node_default() -> Self {
        BrokerConfig {
            node_id: 1,
            listen: "127.0.0.1:9092".parse().expect("literal address"),
            advertise_host: "127.0.0.1".to_string(),
            advertise_port: 9092,
            data_dir: "data".to_string(),
            default_partitions: 1,
            auto_create_topics: true,
            default_fsync_policy: FsyncPolicy::Interval,
            retention_check_interval_ms: 300_000,
            default_retention_ms: 7 * 24 * 3600 * 1000,
            default_retention_bytes: -1,
            default_segment_bytes: 1 << 30,
            max_request_size_bytes: 100 * 1024 * 1024,
            fetch_max_bytes: FETCH_MAX_BYTES_DEFAULT,
            cluster_id: "odradek-cluster".to_string(),
            log_dir_display: "data".to_string(),
            limits: Limits::default(),
            authorizer: None,
            log: LogSettings::default(),
            bugs: BugSwitches::default(),
            default_replication_factor: 1,
            offsets_topic_replication_factor: 1,
            cluster: None,
        }
    }
}

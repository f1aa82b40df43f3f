//! Where each node of a simulated cluster lives and how it is configured:
//! node `i` (1-based) at 10.0.1.i, Kafka on 9092 and node-to-node rpc on
//! 9093; nodes 1..=K are voters of the metadata quorum, the others
//! broker-only nodes (observers), as the seed draws or `--voters` says.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use odradek::core::topic_config::FsyncPolicy;
use odradek::server::config::ClusterConfig;
use odradek::server::{BrokerConfig, BugSwitches};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The largest cluster the simulator runs (IPs, quorum size).
pub const NODES_MAX: usize = 7;
const KAFKA_PORT: u16 = 9092;
const RPC_PORT: u16 = 9093;
/// The clients' node.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
/// Faster than Kafka's defaults (1 s heartbeats, 6 s sessions in ours) so
/// a seed sees several failovers in its fault window, still far above the
/// simulated network's latency.
const HEARTBEAT_INTERVAL_MS: u64 = 500;
const SESSION_TIMEOUT_MS: u64 = 3_000;
/// Retention runs this often (Kafka's `log.retention.check.interval.ms`,
/// 5 minutes by default), so the filler topic's tiny segments are deleted
/// while a follower is down for a second or two (`filler`).
const RETENTION_CHECK_INTERVAL_MS: u64 = 200;

/// A node's id (1..=N) as the cluster names it.
pub type NodeId = i32;

pub fn ip(node: NodeId) -> IpAddr {
    assert!((1..=NODES_MAX as i32).contains(&node), "node {node}");
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, node as u8))
}

pub fn kafka_addr(node: NodeId) -> SocketAddr {
    SocketAddr::new(ip(node), KAFKA_PORT)
}

fn rpc_addr(node: NodeId) -> SocketAddr {
    SocketAddr::new(ip(node), RPC_PORT)
}

/// The node ids of an `nodes`-node cluster.
pub fn node_ids(nodes: usize) -> Vec<NodeId> {
    assert!((1..=NODES_MAX).contains(&nodes), "{nodes} nodes");
    (1..=nodes as i32).collect()
}

/// Voters in a cluster of 4 or more nodes when the seed draws broker-only
/// nodes: the smallest quorum that survives a voter's loss.
const OBSERVED_QUORUM_VOTERS: usize = 3;
/// The share of seeds of 4 or more nodes with broker-only nodes.
const BROKER_ONLY_PROBABILITY: f64 = 0.5;

/// How many of `nodes` are voters: `requested` if not 0 (`--voters`),
/// else drawn from a stream of the seed's own (the other draws did not
/// move): 3 in half the seeds of 4 or more nodes, every node otherwise.
pub fn draw_voters(seed: u64, nodes: usize, requested: usize) -> usize {
    if requested > 0 {
        return requested.min(nodes);
    }
    if nodes <= OBSERVED_QUORUM_VOTERS {
        return nodes;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x006f_6273_6572_7665);
    if rng.gen_bool(BROKER_ONLY_PROBABILITY) {
        OBSERVED_QUORUM_VOTERS
    } else {
        nodes
    }
}

/// The replicated topic's replication factor and `min.insync.replicas`.
pub fn replication(nodes: usize) -> (i16, i16) {
    let factor = nodes.min(3) as i16;
    (factor, if factor == 3 { 2 } else { 1 })
}

/// Node `node`'s configuration in a cluster whose nodes 1..=`voters` are
/// the quorum's voters (a node above is broker-only), with the broker's
/// bug switches.
pub fn broker_config(node: NodeId, nodes: usize, voters: usize, bugs: BugSwitches) -> BrokerConfig {
    assert!((1..=nodes).contains(&voters), "{voters} voters of {nodes}");
    let mut config = BrokerConfig::single_node_default();
    config.node_id = node;
    config.listen = kafka_addr(node);
    config.advertise_host = ip(node).to_string();
    config.advertise_port = KAFKA_PORT;
    config.bugs = bugs;
    config.retention_check_interval_ms = RETENTION_CHECK_INTERVAL_MS;
    // The topic sets its own; this covers the internal ones.
    config.default_fsync_policy = FsyncPolicy::Always;
    let (factor, _) = replication(nodes);
    config.default_replication_factor = factor;
    config.offsets_topic_replication_factor = factor;
    let voters: BTreeMap<i32, SocketAddr> = node_ids(voters)
        .into_iter()
        .map(|id| (id, rpc_addr(id)))
        .collect();
    let mut cluster = ClusterConfig::new(rpc_addr(node), voters);
    cluster.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS;
    cluster.session_timeout_ms = SESSION_TIMEOUT_MS;
    config.cluster = Some(cluster);
    config
}

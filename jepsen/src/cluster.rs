//! A cluster of broker processes on loopback: N nodes, the first K of them
//! voters of the metadata quorum (`--voters`, combined broker and
//! controller) and the rest broker-only nodes (observers of the quorum),
//! each with its own Kafka port, rpc port and data directory. Nodes can be
//! killed, stopped and restarted one by one.

use std::io;
use std::net::SocketAddr;

use crate::node::{free_loopback_port, BrokerOptions, BrokerProcess};

pub struct Cluster {
    pub nodes: Vec<BrokerProcess>,
    /// Each node's rpc address, by position (node id = position + 1).
    pub rpc: Vec<SocketAddr>,
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n), all voters; `configure` adds options
    /// per node id. Returns once every node accepts Kafka connections.
    pub fn start(
        n: usize,
        configure: impl Fn(u32, BrokerOptions) -> BrokerOptions,
    ) -> io::Result<Cluster> {
        Cluster::start_with_voters(n, n, configure)
    }

    /// Starts `n` nodes (ids 1..=n) of which ids 1..=`voter_count` are
    /// voters and the others broker-only nodes.
    pub fn start_with_voters(
        n: usize,
        voter_count: usize,
        configure: impl Fn(u32, BrokerOptions) -> BrokerOptions,
    ) -> io::Result<Cluster> {
        assert!(
            (1..=n).contains(&voter_count),
            "between one voter and every node"
        );
        // Distinct from each other and from every other broker of this process.
        let ports: Vec<SocketAddr> = (0..2 * n)
            .map(|_| free_loopback_port())
            .collect::<io::Result<_>>()?;
        let (listen, rpc) = ports.split_at(n);
        let (listen, rpc) = (listen.to_vec(), rpc.to_vec());
        let voters = rpc[..voter_count]
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}@{a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let id = (i + 1) as u32;
            let options = BrokerOptions {
                node_id: id,
                ..BrokerOptions::default()
            }
            .listen(listen[i])
            .arg("--rpc")
            .arg(rpc[i].to_string())
            .arg("--voters")
            .arg(voters.clone());
            nodes.push(configure(id, options).start()?);
        }
        Ok(Cluster { nodes, rpc })
    }

    /// Every node's Kafka address, comma-separated (`bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(BrokerProcess::bootstrap)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node with this id (1-based).
    pub fn node(&mut self, id: i32) -> &mut BrokerProcess {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Every node's log tail, for a failure message.
    pub fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("---- node {} ----\n{}", i + 1, n.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

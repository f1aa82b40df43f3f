//! The cluster under test: N real odradek processes, each a host of the
//! test network ([`crate::netns`]), every one a voter of the metadata
//! quorum, with its data and log in the run's results folder. What the
//! nemesis does to a node goes through here: kill -9 and restart, pause and
//! resume, and its wall clock (libfaketime, when the clock nemesis is on).

use std::io;
use std::path::{Path, PathBuf};

use crate::netns::Network;
use crate::node::{BrokerOptions, BrokerProcess, FsyncPolicy};

/// The Kafka and node-to-node ports every node listens on (each host has
/// its own address, so they are the same on all).
const KAFKA_PORT: u16 = 9092;
const RPC_PORT: u16 = 9093;
/// Where Debian's libfaketime puts the multi-threaded library.
const LIBFAKETIME: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];

pub struct NetCluster {
    /// Dropped after the nodes (fields drop in order): processes first.
    nodes: Vec<BrokerProcess>,
    /// Per node, the file libfaketime reads the clock offset from.
    clock_files: Vec<Option<PathBuf>>,
    pub network: Network,
}

/// How to start the cluster.
pub struct ClusterSettings<'a> {
    pub nodes: usize,
    /// The results folder: node i keeps its data and log in `node-i/`.
    pub home: &'a Path,
    /// Broker bug switches (`--unsafe-bug`), for proving the checker.
    pub bugs: &'a [String],
    /// Start every node under libfaketime so its wall clock can move.
    pub fake_clock: bool,
}

impl NetCluster {
    /// Creates the network, moves the calling thread onto it (as the test's
    /// client) and starts every node.
    pub fn start(settings: &ClusterSettings) -> io::Result<NetCluster> {
        let network = Network::create(settings.nodes)?;
        network.enter_client_namespace()?;
        let voters = (1..=settings.nodes as u32)
            .map(|id| format!("{id}@{}:{RPC_PORT}", Network::node_ip(id)))
            .collect::<Vec<_>>()
            .join(",");
        let replication = settings.nodes.min(3).to_string();
        let libfaketime = if settings.fake_clock {
            Some(
                LIBFAKETIME
                    .iter()
                    .find(|path| Path::new(path).exists())
                    .ok_or_else(|| {
                        io::Error::other(
                            "the clock nemesis needs libfaketime (apt-get install faketime)",
                        )
                    })?,
            )
        } else {
            None
        };
        let mut cluster = NetCluster {
            nodes: Vec::new(),
            clock_files: Vec::new(),
            network,
        };
        for id in 1..=settings.nodes as u32 {
            let ip = Network::node_ip(id);
            let home = settings.home.join(format!("node-{id}"));
            std::fs::create_dir_all(&home)?;
            let mut options = BrokerOptions {
                node_id: id,
                ..BrokerOptions::default()
            }
            .listen(
                format!("{ip}:{KAFKA_PORT}")
                    .parse()
                    .map_err(io::Error::other)?,
            )
            .namespace(cluster.network.node_namespace(id))
            .home(&home)
            .default_fsync_policy(FsyncPolicy::Always)
            .arg("--rpc")
            .arg(format!("{ip}:{RPC_PORT}"))
            .arg("--voters")
            .arg(voters.clone())
            .arg("--default-replication-factor")
            .arg(replication.clone());
            for bug in settings.bugs {
                options = options.arg("--unsafe-bug").arg(bug.clone());
            }
            let clock_file = match libfaketime {
                Some(library) => {
                    let file = home.join("clock-offset");
                    std::fs::write(&file, "+0\n")?;
                    options = options
                        .env("LD_PRELOAD", *library)
                        .env("FAKETIME_TIMESTAMP_FILE", file.display().to_string())
                        // Timers run on the monotonic clock, which stays true;
                        // only the wall clock (timestamps) moves.
                        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                        .env("FAKETIME_CACHE_DURATION", "1");
                    Some(file)
                }
                None => None,
            };
            cluster.nodes.push(options.start()?);
            cluster.clock_files.push(clock_file);
        }
        Ok(cluster)
    }

    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// Every node's Kafka address, comma-separated.
    pub fn bootstrap(&self) -> String {
        (1..=self.nodes.len() as u32)
            .map(|id| format!("{}:{KAFKA_PORT}", Network::node_ip(id)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn node(&mut self, id: u32) -> io::Result<&mut BrokerProcess> {
        self.nodes
            .get_mut((id as usize).wrapping_sub(1))
            .ok_or_else(|| io::Error::other(format!("no node {id}")))
    }

    pub fn kill(&mut self, id: u32) -> io::Result<()> {
        self.node(id)?.kill9()
    }

    /// Starts a killed node again (a running one is left alone).
    pub fn start_node(&mut self, id: u32) -> io::Result<()> {
        let node = self.node(id)?;
        if node.is_running() {
            return Ok(());
        }
        let _ = node.kill9();
        node.restart()
    }

    pub fn pause(&mut self, id: u32, paused: bool) -> io::Result<()> {
        let node = self.node(id)?;
        if node.pid().is_none() {
            return Ok(());
        }
        node.pause(paused)
    }

    /// Moves node `id`'s wall clock `offset_s` seconds from true time.
    pub fn set_clock(&mut self, id: u32, offset_s: i64) -> io::Result<()> {
        let Some(Some(file)) = self.clock_files.get((id as usize).wrapping_sub(1)) else {
            return Err(io::Error::other(format!("node {id} has no fake clock")));
        };
        std::fs::write(file, format!("{offset_s:+}\n"))
    }

    /// Whether node `id`'s process is alive.
    pub fn is_running(&mut self, id: u32) -> bool {
        self.node(id).is_ok_and(|node| node.is_running())
    }
}

//! The test network: every node is a host of its own, a Linux network
//! namespace with one veth link to a bridge, and the harness's clients sit
//! in a namespace of their own on the same bridge. Nothing is added to the
//! machine's own network: the bridge lives in a namespace too, so traffic
//! stays between the namespaces this run created.
//!
//! ```text
//!   odj<pid>-c (10.77.0.100) ──┐
//!   odj<pid>-n1 (10.77.0.1) ───┤ br0 in odj<pid>-sw
//!   odj<pid>-n2 (10.77.0.2) ───┘
//! ```
//!
//! Partitions are iptables rules in the nodes' namespaces (each side drops
//! what comes from the other), as Jepsen does; healing flushes them.
//! The client namespace is never cut off: a partition is between nodes.
//!
//! [`Network::drop`] deletes every namespace (which deletes their links and
//! rules). A run killed before it could clean up leaves namespaces named
//! after its pid; [`sweep_stale`] removes those of dead processes.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Prefix of every namespace the harness creates.
const PREFIX: &str = "odj";
/// The test network's addresses: node i is 10.77.0.i, the clients .100.
const SUBNET: [u8; 3] = [10, 77, 0];
const CLIENT_HOST: u8 = 100;
/// Nodes a network holds at most (addresses 1..=NODES_MAX, below the client's).
pub const NODES_MAX: usize = 32;

/// One run's namespaces and links.
pub struct Network {
    tag: String,
    nodes: usize,
    /// Namespaces created so far, deleted on drop (the switch last).
    created: Vec<String>,
}

impl Network {
    /// Creates the switch, the client host and `nodes` node hosts.
    pub fn create(nodes: usize) -> io::Result<Network> {
        if nodes == 0 || nodes > NODES_MAX {
            return Err(io::Error::other(format!(
                "a test network has 1..={NODES_MAX} nodes, not {nodes}"
            )));
        }
        sweep_stale()?;
        let mut network = Network {
            tag: format!("{PREFIX}{}", std::process::id()),
            nodes,
            created: Vec::new(),
        };
        let switch = network.switch();
        network.add_namespace(&switch)?;
        ip(&["-n", &switch, "link", "set", "lo", "up"])?;
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &switch, "link", "set", "br0", "up"])?;
        network.add_host(&network.client_namespace(), "c", CLIENT_HOST)?;
        for node in 1..=nodes as u32 {
            network.add_host(
                &network.node_namespace(node),
                &format!("n{node}"),
                node as u8,
            )?;
        }
        Ok(network)
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    fn switch(&self) -> String {
        format!("{}-sw", self.tag)
    }

    pub fn client_namespace(&self) -> String {
        format!("{}-c", self.tag)
    }

    pub fn node_namespace(&self, node: u32) -> String {
        format!("{}-n{node}", self.tag)
    }

    /// Node `node`'s address (1-based ids).
    pub fn node_ip(node: u32) -> Ipv4Addr {
        Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], node as u8)
    }

    fn add_namespace(&mut self, name: &str) -> io::Result<()> {
        ip(&["netns", "add", name])?;
        self.created.push(name.to_string());
        Ok(())
    }

    /// A host namespace with `eth0` at `.host`, its peer `port` on the bridge.
    fn add_host(&mut self, namespace: &str, port: &str, host: u8) -> io::Result<()> {
        let switch = self.switch();
        self.add_namespace(namespace)?;
        let address = format!(
            "{}/24",
            Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], host)
        );
        ip(&["-n", namespace, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", namespace, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns",
            &switch,
        ])?;
        ip(&["-n", namespace, "addr", "add", &address, "dev", "eth0"])?;
        ip(&["-n", namespace, "link", "set", "eth0", "up"])?;
        ip(&["-n", &switch, "link", "set", port, "master", "br0"])?;
        ip(&["-n", &switch, "link", "set", port, "up"])
    }

    /// Moves the calling thread into the client namespace: sockets it (and
    /// the threads it starts later, such as librdkafka's) opens are on the
    /// test network.
    pub fn enter_client_namespace(&self) -> io::Result<()> {
        enter(&self.client_namespace())
    }

    /// Cuts the links between each pair of nodes given (both ways): each
    /// drops what comes from the other. Replaces any earlier partition; the
    /// clients still reach every node.
    pub fn cut(&self, pairs: &[(u32, u32)]) -> io::Result<()> {
        self.heal()?;
        for &(a, b) in pairs {
            for (node, other) in [(a, b), (b, a)] {
                let source = Network::node_ip(other).to_string();
                iptables(
                    &self.node_namespace(node),
                    &["-A", "INPUT", "-s", &source, "-j", "DROP"],
                )?;
            }
        }
        Ok(())
    }

    /// Removes every partition rule.
    pub fn heal(&self) -> io::Result<()> {
        for node in 1..=self.nodes as u32 {
            iptables(&self.node_namespace(node), &["-F", "INPUT"])?;
        }
        Ok(())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for name in self.created.iter().rev() {
            if let Err(error) = ip(&["netns", "del", name]) {
                eprintln!("odradek-jepsen: could not delete namespace {name}: {error}");
            }
        }
    }
}

/// Deletes namespaces left by harness runs whose process is gone.
pub fn sweep_stale() -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            ip(&["netns", "del", &name])?;
        }
    }
    Ok(())
}

/// setns(2) into a named namespace, for the calling thread.
pub fn enter(namespace: &str) -> io::Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{namespace}"))?;
    // SAFETY: setns with a valid namespace file descriptor we own; it only
    // changes the calling thread's network namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn ip(args: &[&str]) -> io::Result<()> {
    run("ip", args)
}

fn iptables(namespace: &str, args: &[&str]) -> io::Result<()> {
    let mut full = vec!["netns", "exec", namespace, "iptables", "-w"];
    full.extend_from_slice(args);
    run("ip", &full)
}

fn run(program: &str, args: &[&str]) -> io::Result<()> {
    let output = Command::new(program).args(args).output().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("{program} {}: {error}", args.join(" ")),
        )
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

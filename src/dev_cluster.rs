//! `odradek dev-cluster --nodes N [--voters K]`: a local cluster for
//! development. Starts N copies of this binary as child processes on
//! 127.0.0.1 ports, nodes 1..=K voters of one metadata quorum (combined
//! broker and controller; K = N by default) and the others broker-only
//! nodes, and stops them all on Ctrl-C or SIGTERM (or when one of them
//! exits on its own, which leaves the cluster unlike what the user asked
//! for).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Nodes a development cluster may have (each is a process with its own
/// ports and data directory).
pub const DEV_CLUSTER_NODES_MAX: u16 = 9;

pub async fn run(
    nodes: u16,
    voter_count: u16,
    base_port: u16,
    rpc_base_port: u16,
    data_dir: &Path,
) -> ExitCode {
    if !(1..=DEV_CLUSTER_NODES_MAX).contains(&nodes) {
        eprintln!("odradek: dev-cluster takes 1 to {DEV_CLUSTER_NODES_MAX} nodes");
        return ExitCode::from(2);
    }
    if !(1..=nodes).contains(&voter_count) {
        eprintln!("odradek: dev-cluster takes 1 to {nodes} voters");
        return ExitCode::from(2);
    }
    if base_port.checked_add(nodes).is_none() || rpc_base_port.checked_add(nodes).is_none() {
        eprintln!("odradek: dev-cluster ports would run past 65535");
        return ExitCode::from(2);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("odradek: cannot find this binary: {e}");
            return ExitCode::from(1);
        }
    };
    let voters: Vec<String> = (1..=voter_count)
        .map(|id| format!("{id}@127.0.0.1:{}", rpc_base_port + id - 1))
        .collect();
    let voters = voters.join(",");
    let mut children = Vec::new();
    for id in 1..=nodes {
        let dir = data_dir.join(format!("node-{id}"));
        let mut command = tokio::process::Command::new(&exe);
        command
            .arg("--node-id")
            .arg(id.to_string())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", base_port + id - 1))
            .arg("--rpc")
            .arg(format!("127.0.0.1:{}", rpc_base_port + id - 1))
            .arg("--voters")
            .arg(&voters)
            .arg("--data-dir")
            .arg(&dir)
            .kill_on_drop(true);
        match command.spawn() {
            Ok(child) => children.push((id, child)),
            Err(e) => {
                eprintln!("odradek: cannot start node {id}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let bootstrap: Vec<String> = (1..=nodes)
        .map(|id| format!("127.0.0.1:{}", base_port + id - 1))
        .collect();
    eprintln!(
        "odradek: dev cluster of {nodes} nodes ({voter_count} voters, {} broker-only); \
         bootstrap servers {}; Ctrl-C stops it",
        nodes - voter_count,
        bootstrap.join(",")
    );
    let stop = match crate::shutdown_signal() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("odradek: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    tokio::pin!(stop);
    let exited = loop {
        tokio::select! {
            _ = &mut stop => break None,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                let gone = children
                    .iter_mut()
                    .find_map(|(id, child)| match child.try_wait() {
                        Ok(Some(status)) => Some((*id, status.to_string())),
                        Ok(None) => None,
                        Err(e) => Some((*id, e.to_string())),
                    });
                if gone.is_some() {
                    break gone;
                }
            }
        }
    };
    for (_, child) in &mut children {
        // SIGTERM first: each node syncs its partitions and stops cleanly.
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) with a child's pid and a signal number.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
    }
    for (id, child) in &mut children {
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            eprintln!("odradek: node {id} did not stop in 10 s; killing it");
            let _ = child.kill().await;
        }
    }
    match exited {
        None => ExitCode::SUCCESS,
        Some((id, status)) => {
            eprintln!("odradek: node {id} exited ({status}); the cluster was stopped");
            ExitCode::from(1)
        }
    }
}

//! Everything a node gets from the outside world, handed to
//! `server::run`: today its disk and its clock. A cluster node will add its
//! seeded randomness and its node-to-node transport here, so the simulator
//! can run many nodes side by side, each with its own of each.

use std::sync::Arc;

use crate::io::clock::{Clock, HostClock};
use crate::io::disk::Disk;

#[derive(Clone)]
pub struct NodeContext {
    /// All durable state; in the simulator it outlives the node.
    pub disk: Arc<dyn Disk>,
    /// Monotonic time for timers, wall time for timestamps.
    pub clock: Arc<dyn Clock>,
}

impl NodeContext {
    pub fn new(disk: Arc<dyn Disk>, clock: Arc<dyn Clock>) -> NodeContext {
        NodeContext { disk, clock }
    }

    /// On `disk`, with the host's clocks (call inside the runtime).
    pub fn host(disk: Arc<dyn Disk>) -> NodeContext {
        NodeContext::new(disk, Arc::new(HostClock::new()))
    }
}

impl std::fmt::Debug for NodeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeContext")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

//! The runtime seam: everything the broker needs from the outside world.

pub mod clock;
pub mod disk;
pub mod node_context;
pub mod real_disk;
pub mod sim_clock;
pub mod sim_disk;
pub mod sim_disk_sectors;

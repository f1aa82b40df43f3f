//! Seeds on which the group workload found a broker bug, kept passing.
//! Only meaningful inside the simulator.
#![cfg(madsim)]

use odradek_sim::seed_run::{run_seed, SeedSpec};

/// Seeds 1 and 96: a read of `__consumer_offsets` failed (injected EIO)
/// while the group coordinator loaded it after a restart, and the load
/// stopped there as if the log ended: the coordinator started from a
/// prefix (seed 1: the generation record was read, nothing after it; seed
/// 96: nothing), handed out generation 1 again to a new member
/// (`group-assignment-overlap`) and served older committed offsets
/// (`committed-offset-regression`). Fixed by loading all or nothing
/// (src/server/group_driver.rs, `load`).
#[test]
fn a_failed_read_while_loading_groups_never_restarts_a_generation() {
    for seed in [1, 96] {
        let outcome = run_seed(SeedSpec {
            seed,
            ..SeedSpec::default()
        });
        for kind in ["group-assignment-overlap", "committed-offset-regression"] {
            assert!(
                !outcome.violations.contains_key(kind),
                "seed {seed}: {:?}",
                outcome.examples
            );
        }
    }
}

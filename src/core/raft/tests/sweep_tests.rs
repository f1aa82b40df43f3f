//! Thousands of seeded schedules without bug switches: every safety
//! property after every step, liveness after healing.

use crate::core::raft::tests::schedule::{run_seed, RunStats, ScheduleOptions};

fn sweep(options: &ScheduleOptions, seeds: std::ops::Range<u64>) -> Vec<RunStats> {
    seeds
        .map(|seed| match run_seed(seed, options) {
            Ok(stats) => stats,
            Err(failure) => panic!(
                "seed {} failed at step {}: {}\n{}",
                failure.seed,
                failure.step,
                failure.violation,
                failure.trace.join("\n")
            ),
        })
        .collect()
}

fn summarize(name: &str, runs: &[RunStats]) {
    let total = |f: fn(&RunStats) -> u64| runs.iter().map(f).sum::<u64>();
    eprintln!(
        "{name}: {} schedules, {} steps, {} checks, {} committed entries, {} leader terms, \
         {} proposals, {} crashes, {} partitions, {} snapshots taken, {} installed, \
         {} messages delivered, {} dropped, liveness max {} ms",
        runs.len(),
        total(|r| r.steps as u64),
        total(|r| r.checks),
        total(|r| r.committed as u64),
        total(|r| r.leader_terms as u64),
        total(|r| r.cluster.proposals_accepted),
        total(|r| r.cluster.crashes),
        total(|r| r.cluster.partitions),
        total(|r| r.cluster.snapshots_taken),
        total(|r| r.cluster.snapshots_installed),
        total(|r| r.messages_delivered),
        total(|r| r.messages_dropped),
        runs.iter().map(|r| r.liveness_ms).max().unwrap_or(0),
    );
}

#[test]
fn three_voters_stay_safe_and_recover_over_1500_schedules() {
    let runs = sweep(&ScheduleOptions::new(3), 0..1_500);
    summarize("3 voters", &runs);
    // The schedules reach what they claim to test.
    let total = |f: fn(&RunStats) -> u64| runs.iter().map(f).sum::<u64>();
    assert!(total(|r| r.committed as u64) > 10_000);
    assert!(total(|r| r.cluster.crashes) > 1_000);
    assert!(total(|r| r.cluster.snapshots_installed) > 100);
    assert!(runs.iter().filter(|r| r.leader_terms > 2).count() > 500);
}

#[test]
fn five_voters_stay_safe_and_recover_over_1000_schedules() {
    let runs = sweep(&ScheduleOptions::new(5), 10_000..11_000);
    summarize("5 voters", &runs);
    let total = |f: fn(&RunStats) -> u64| runs.iter().map(f).sum::<u64>();
    assert!(total(|r| r.committed as u64) > 5_000);
    assert!(total(|r| r.cluster.snapshots_installed) > 100);
}

/// The nemesis that finds `commit-old-term` finds nothing without it.
#[test]
fn the_partition_leader_nemesis_finds_nothing_without_bugs() {
    for (voters, seeds) in [(3, 0..400), (5, 20_000..20_200)] {
        let mut options = ScheduleOptions::new(voters);
        options.isolate_leader_per_mille = 50;
        options.steps = 1_000;
        let runs = sweep(&options, seeds);
        summarize(&format!("{voters} voters, partition-leader nemesis"), &runs);
    }
}

#[test]
fn a_single_voter_commits_on_its_own() {
    let mut options = ScheduleOptions::new(1);
    options.crash_per_mille = 20;
    let runs = sweep(&options, 0..200);
    assert!(runs.iter().map(|r| r.committed).sum::<usize>() > 1_000);
}

#[test]
fn a_seed_replays_exactly() {
    let options = ScheduleOptions::new(5);
    let a = run_seed(77, &options).expect("seed 77 passes");
    let b = run_seed(77, &options).expect("seed 77 passes");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any mix of voter count, crash rate and leader isolation stays safe
    /// and recovers (proptest shrinks a failing mix towards the simplest).
    #[test]
    fn any_fault_mix_stays_safe(
        seed in proptest::prelude::any::<u64>(),
        voters in proptest::sample::select(vec![1u64, 2, 3, 4, 5]),
        crash_per_mille in 0u32..60,
        isolate_leader_per_mille in 0u32..80,
        pre_vote in proptest::prelude::any::<bool>(),
    ) {
        let mut options = ScheduleOptions::new(voters);
        options.crash_per_mille = crash_per_mille;
        options.isolate_leader_per_mille = isolate_leader_per_mille;
        options.pre_vote = pre_vote;
        if let Err(failure) = run_seed(seed, &options) {
            proptest::prop_assert!(
                false,
                "seed {} step {}: {}\n{}",
                failure.seed,
                failure.step,
                failure.violation,
                failure.trace.join("\n")
            );
        }
    }
}

/// A longer sweep for the lead's runs: `RAFT_SWEEP_SEEDS=0..100000 cargo
/// test -p odradek --lib raft::tests::sweep_tests::long_sweep -- --ignored
/// --nocapture`. Seeds alternate 3 and 5 voters, every third with the
/// partition-leader nemesis.
#[test]
#[ignore]
fn long_sweep() {
    let range = std::env::var("RAFT_SWEEP_SEEDS").unwrap_or_else(|_| "0..5000".to_string());
    let (start, end) = range.split_once("..").expect("START..END");
    let (start, end): (u64, u64) = (
        start.parse().expect("a number"),
        end.parse().expect("a number"),
    );
    let mut runs = Vec::new();
    for seed in start..end {
        let mut options = ScheduleOptions::new(if seed % 2 == 0 { 3 } else { 5 });
        if seed % 3 == 0 {
            options.isolate_leader_per_mille = 50;
        }
        runs.extend(sweep(&options, seed..seed + 1));
    }
    summarize(&format!("long sweep {range}"), &runs);
}

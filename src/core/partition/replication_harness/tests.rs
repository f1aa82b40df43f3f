#![cfg(test)]

use crate::core::partition::replica_config::ReplicaBugs;

use super::cluster::{Cluster, Stats};

const STEPS: usize = 400;

fn run(seed: u64, bugs: ReplicaBugs) -> (Result<(), super::checks::Violation>, Stats) {
    let mut cluster = Cluster::new(seed, bugs);
    let result = cluster.run(STEPS);
    (result, cluster.stats)
}

#[test]
fn without_bug_switches_every_seed_keeps_every_invariant() {
    let mut total = Stats::default();
    for seed in 0..2_000 {
        let (result, stats) = run(seed, ReplicaBugs::default());
        if let Err(v) = result {
            panic!(
                "seed {seed}: {} at step {}: {}\n{}",
                v.name,
                v.step,
                v.detail,
                v.trace_tail.join("\n")
            );
        }
        total.acked += stats.acked;
        total.truncations += stats.truncations;
        total.leader_changes += stats.leader_changes;
        total.isr_shrinks += stats.isr_shrinks;
        total.isr_expands += stats.isr_expands;
        total.crashes += stats.crashes;
        total.not_enough_replicas += stats.not_enough_replicas;
    }
    eprintln!("{total:?}");
    // The schedules reach what the invariants are about.
    assert!(total.acked > 10_000, "{total:?}");
    assert!(total.truncations > 100, "{total:?}");
    assert!(total.leader_changes > 1_000, "{total:?}");
    assert!(
        total.isr_shrinks > 100 && total.isr_expands > 100,
        "{total:?}"
    );
    assert!(total.not_enough_replicas > 0, "{total:?}");
}

fn first_violation(name: &str) -> (u64, super::checks::Violation) {
    let bugs = ReplicaBugs::named(name).unwrap();
    let found = (0..2_000).find_map(|seed| run(seed, bugs).0.err().map(|v| (seed, v)));
    let (seed, v) = found.unwrap_or_else(|| panic!("{name}: no seed in 0..2000 catches it"));
    eprintln!(
        "{name}: seed {seed} step {}: {}: {}",
        v.step, v.name, v.detail
    );
    (seed, v)
}

#[test]
fn the_truncate_to_hw_bug_is_caught() {
    first_violation("truncate-to-hw");
}

#[test]
fn the_kip101_only_bug_is_caught() {
    first_violation("kip101-only");
}

#[test]
fn the_unfenced_fetch_bug_is_caught() {
    first_violation("unfenced-fetch");
}

#[test]
fn the_ack_before_isr_bug_is_caught() {
    let (_, v) = first_violation("ack-before-isr");
    assert_eq!(v.name, "lost-write");
}

/// Replays one failing schedule with its trace:
/// `BUG=kip101-only SEED=2 cargo test -p odradek --lib show_trace -- --ignored --nocapture`
#[test]
#[ignore]
fn show_trace() {
    let name = std::env::var("BUG").unwrap_or_default();
    let bugs = ReplicaBugs::named(&name).unwrap_or_default();
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match run(seed, bugs).0 {
        Ok(()) => eprintln!("seed {seed} passes"),
        Err(v) => eprintln!(
            "{} at step {}: {}\n{}",
            v.name,
            v.step,
            v.detail,
            v.trace_tail.join("\n")
        ),
    }
}

/// A longer sweep than CI's: `SEEDS=0..10000 [BUG=name] cargo test -p odradek
/// --lib replication_sweep -- --ignored --nocapture` prints every failing seed.
#[test]
#[ignore]
fn replication_sweep() {
    let range = std::env::var("SEEDS").unwrap_or_else(|_| "0..10000".into());
    let (from, to) = range.split_once("..").expect("SEEDS=from..to");
    let (from, to): (u64, u64) = (from.parse().unwrap(), to.parse().unwrap());
    let bugs = ReplicaBugs::named(&std::env::var("BUG").unwrap_or_default()).unwrap_or_default();
    let failing: Vec<(u64, &'static str)> = (from..to)
        .filter_map(|seed| run(seed, bugs).0.err().map(|v| (seed, v.name)))
        .collect();
    eprintln!(
        "{bugs:?}: {} of {} seeds fail: {failing:?}",
        failing.len(),
        to - from
    );
    assert!(bugs != ReplicaBugs::default() || failing.is_empty());
}

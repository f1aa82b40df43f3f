//! The command line: which seeds, which bugs, what to print.

use std::ops::Range;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use odradek_sim::bugs::{self, BugSwitch};
use odradek_sim::checker::ViolationKind;
use odradek_sim::outcome::{CoverageSummary, SeedOutcome};
use odradek_sim::seed_run::{quiet_panics, run_seed, SeedSpec};

#[derive(Debug, Parser)]
#[command(about = "Deterministic simulation of odradek: seeds, nemesis, checkers")]
struct Args {
    /// Run this one seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run a range of seeds, `A..B` (B excluded).
    #[arg(long, value_parser = parse_range)]
    seeds: Option<Range<u64>>,
    /// Put a classic bug back into the broker (repeatable; `--list-bugs`
    /// names them with the violation kinds that catch each).
    #[arg(long, value_parser = bugs::parse)]
    bug: Vec<&'static BugSwitch>,
    /// Print each bug switch and its expected kinds (`NAME KIND,KIND`), one
    /// per line, and exit (`.ci/test` loops over them). With `--cluster`,
    /// the replication switches, each with the cluster size CI runs it
    /// with (`NAME KIND,KIND NODES`).
    #[arg(long)]
    list_bugs: bool,
    /// One JSON object per seed on stdout.
    #[arg(long)]
    json: bool,
    /// Run every seed twice and report a violation if the traces differ.
    #[arg(long)]
    check_determinism: bool,
    /// Experiment beyond what one node promises: flip a bit in synced data
    /// at a third of the crashes (expect violations; not a regression test).
    #[arg(long)]
    synced_bit_flips: bool,
    /// Cluster experiment: create the checked topic with
    /// `fsync.policy=never` (Kafka's default: rely on replication). Its
    /// acknowledgements are still checked, except those made before a power
    /// loss of every replica at once (see `--correlated-crashes`), which
    /// are counted as `acked_lost_to_correlated_crashes` if lost.
    #[arg(long, requires = "cluster")]
    fsync_never: bool,
    /// Cluster experiment: the nemesis may also cut the power of every node
    /// at once (kill all, crash every disk, down 0-3 s, restart all), drawn
    /// from a stream of its own. With fsync=always nothing acknowledged may
    /// be lost; with `--fsync-never` acknowledged records may be.
    #[arg(long, requires = "cluster")]
    correlated_crashes: bool,
    /// Run each seed as a cluster of this many nodes (1..=7) with the
    /// cluster workload and nemesis (`odradek_sim::cluster`). Clusters of 4
    /// or more nodes have 3 voters and the rest broker-only nodes in half
    /// the seeds (drawn per seed), all voters in the others.
    #[arg(long, value_name = "NODES", value_parser = clap::value_parser!(u8).range(1..=7))]
    cluster: Option<u8>,
    /// Voters among the cluster's nodes (the first K; the others are
    /// broker-only nodes, observers of the metadata quorum), instead of
    /// the seed's draw.
    #[arg(long, value_name = "K", requires = "cluster", value_parser = clap::value_parser!(u8).range(1..=7))]
    voters: Option<u8>,
    /// Stop a sweep at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
    /// Invert the exit status: succeed only if some seed reports one of
    /// these violation kinds (`KIND[,KIND...]`; a seed reporting only other
    /// kinds does not count). CI uses it with `--bug` and the switch's kinds
    /// to prove the checkers have teeth. Stops at the first such seed.
    #[arg(long, value_name = "KIND[,KIND...]", value_parser = parse_expected)]
    expect_violations: Option<ExpectedKinds>,
}

/// `--expect-violations`' kinds (one argument, comma-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpectedKinds(Vec<ViolationKind>);

fn parse_expected(text: &str) -> Result<ExpectedKinds, String> {
    bugs::parse_kinds(text).map(ExpectedKinds)
}

fn parse_range(text: &str) -> Result<Range<u64>, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("expected A..B, got {text:?}"))?;
    let start: u64 = start
        .trim()
        .parse()
        .map_err(|e| format!("{start:?}: {e}"))?;
    let end: u64 = end.trim().parse().map_err(|e| format!("{end:?}: {e}"))?;
    if start >= end {
        return Err(format!("empty range {text}"));
    }
    Ok(start..end)
}

fn run_checked(spec: SeedSpec, check_determinism: bool) -> SeedOutcome {
    let mut outcome = run_seed(spec);
    if check_determinism {
        let again = run_seed(spec);
        if again.trace_hash != outcome.trace_hash {
            let name = ViolationKind::Nondeterminism.name().to_string();
            *outcome.violations.entry(name).or_insert(0) += 1;
            outcome.ok = false;
        }
    }
    outcome
}

fn print_human(outcome: &SeedOutcome) {
    let verdict = if outcome.ok { "ok" } else { "FAIL" };
    println!(
        "seed {} {verdict}: trace {} events {} simulated {} ms wall {} ms",
        outcome.seed, outcome.trace_hash, outcome.events, outcome.simulated_ms, outcome.wall_ms
    );
    let stats = &outcome.stats;
    println!(
        "  partitions {} sends {} acked {} failed {} retries {} (acked after a restart {}) producer inits {} polls {} records read {} kills {} pauses {} broker exits {}",
        stats.partitions,
        stats.sends,
        stats.acked,
        stats.send_failures,
        stats.send_retries,
        stats.acked_after_restart_resend,
        stats.producer_inits,
        stats.polls,
        stats.records_read,
        stats.kills,
        stats.pauses,
        stats.broker_exits
    );
    let disk: Vec<String> = stats
        .disk
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(name, count)| format!("{name}={count}"))
        .collect();
    println!("  disk {}", disk.join(" "));
    if !outcome.ok {
        println!("  violations {}", outcome.violation_summary());
        for example in &outcome.examples {
            println!(
                "    {} (event {:?}, partition {:?}): {}",
                example.kind.name(),
                example.at_seq,
                example.partition,
                example.detail
            );
        }
        println!("  replay: {}", outcome.replay_command());
    }
    if stats.correlated_power_losses > 0 {
        println!(
            "  correlated power losses {} acknowledged records lost to them (excused) {}",
            stats.correlated_power_losses, stats.acked_lost_to_correlated_crashes
        );
    }
}

pub fn main() -> i32 {
    let args = Args::parse();
    // Broker logs for debugging one seed: ODRADEK_SIM_LOG=odradek=debug.
    if let Ok(filter) = std::env::var("ODRADEK_SIM_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .without_time()
            .init();
    }
    if args.list_bugs {
        let lines = match args.cluster {
            Some(_) => bugs::cluster_listing(bugs::CLUSTER_BUG_SWITCHES),
            None => bugs::listing(bugs::BUG_SWITCHES),
        };
        for line in lines {
            println!("{line}");
        }
        return 0;
    }
    let bugs = bugs::switches(&args.bug);
    let expected = args.expect_violations.clone().map(|kinds| kinds.0);
    let seeds = match (args.seed, args.seeds.clone()) {
        (Some(seed), _) => seed..seed + 1,
        (None, Some(range)) => range,
        (None, None) => 0..1,
    };
    let sweep = seeds.end - seeds.start > 1;
    if sweep {
        quiet_panics();
    }
    let progress = if sweep {
        let bar = ProgressBar::new(seeds.end - seeds.start);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} seeds {msg}")
                .expect("literal template")
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let sweep_started = std::time::Instant::now();
    let (mut passed, mut failed) = (0u64, Vec::new());
    // Seeds that reported one of the expected kinds (`--expect-violations`).
    let mut caught = Vec::new();
    let mut coverage = CoverageSummary::default();
    // (seed, acknowledged records lost to correlated crashes, excused).
    let mut excused_losses = Vec::new();
    for seed in seeds.clone() {
        let spec = SeedSpec {
            seed,
            bugs,
            synced_bit_flip_probability: if args.synced_bit_flips { 0.3 } else { 0.0 },
            cluster_nodes: args.cluster.map_or(0, usize::from),
            fsync_never: args.fsync_never,
            correlated_crashes: args.correlated_crashes,
            cluster_voters: args.voters.map_or(0, usize::from),
        };
        let outcome = run_checked(spec, args.check_determinism);
        coverage.add(&outcome);
        if outcome.stats.acked_lost_to_correlated_crashes > 0 {
            excused_losses.push((outcome.seed, outcome.stats.acked_lost_to_correlated_crashes));
        }
        if expected
            .as_ref()
            .is_some_and(|kinds| outcome.reports_any(kinds))
        {
            caught.push(outcome.seed);
        }
        if args.json {
            let line = serde_json::to_string(&outcome).expect("outcome serializes");
            progress.suspend(|| println!("{line}"));
        } else if !sweep {
            print_human(&outcome);
        }
        if outcome.ok {
            passed += 1;
        } else {
            progress.suspend(|| {
                eprintln!(
                    "seed {} FAILED: {}\n  replay: {}",
                    outcome.seed,
                    outcome.violation_summary(),
                    outcome.replay_command()
                )
            });
            failed.push(outcome.seed);
        }
        progress.set_message(format!("{} failed", failed.len()));
        progress.inc(1);
        if (args.fail_fast && !failed.is_empty()) || !caught.is_empty() {
            break;
        }
    }
    progress.finish_and_clear();
    if sweep {
        for line in coverage.lines() {
            eprintln!("{line}");
        }
    }
    if sweep && !excused_losses.is_empty() {
        let seeds: Vec<String> = excused_losses
            .iter()
            .map(|(seed, lost)| format!("{seed}: {lost}"))
            .collect();
        eprintln!(
            "acknowledged records lost to power losses of every replica (fsync.policy=never, excused), by seed: {}",
            seeds.join(", ")
        );
    }
    if sweep {
        eprintln!(
            "{passed} passed, {} failed of {} seeds in {:.1} s{}",
            failed.len(),
            passed + failed.len() as u64,
            sweep_started.elapsed().as_secs_f64(),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; failing seeds: {failed:?}")
            }
        );
    }
    if let Some(kinds) = &expected {
        let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        match caught.first() {
            Some(seed) => eprintln!("caught: seed {seed} reported {}", names.join(" or ")),
            None => eprintln!(
                "expected {} in some seed, but none reported it{}: the checkers missed the bug",
                names.join(" or "),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!(" (seeds {failed:?} failed with other kinds)")
                }
            ),
        }
        return i32::from(caught.is_empty());
    }
    i32::from(!failed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("odradek-sim").chain(args.iter().copied()))
    }

    #[test]
    fn expect_violations_takes_a_list_of_kinds() {
        let args = parse(&[
            "--seeds",
            "0..5",
            "--bug",
            "ack-before-sync",
            "--expect-violations",
            "lost-write,unseen",
        ])
        .unwrap();
        assert_eq!(
            args.expect_violations,
            Some(ExpectedKinds(vec![
                ViolationKind::LostWrite,
                ViolationKind::Unseen
            ]))
        );
        assert_eq!(
            bugs::names_on(&bugs::switches(&args.bug)),
            vec!["ack-before-sync"]
        );
    }

    #[test]
    fn expect_violations_without_kinds_or_with_unknown_ones_is_refused() {
        assert!(parse(&["--expect-violations"]).is_err());
        assert!(parse(&["--expect-violations", "lost-write,bogus"]).is_err());
        assert!(parse(&["--bug", "no-such-bug"]).is_err());
    }

    #[test]
    fn the_cluster_experiments_need_a_cluster() {
        let args = parse(&["--cluster", "3", "--fsync-never", "--correlated-crashes"]).unwrap();
        assert!(args.fsync_never && args.correlated_crashes);
        assert!(parse(&["--fsync-never"]).is_err());
        assert!(parse(&["--correlated-crashes"]).is_err());
        let spec = SeedSpec {
            fsync_never: true,
            correlated_crashes: true,
            cluster_nodes: 3,
            ..SeedSpec::default()
        };
        assert_eq!(
            spec.bug_names(),
            vec!["experiment:fsync-never", "experiment:correlated-crashes"]
        );
    }

    #[test]
    fn bugs_repeat_and_ranges_parse() {
        let args = parse(&[
            "--bug",
            "no-crc-check",
            "--bug",
            "no-idempotence",
            "--seeds",
            "3..9",
        ])
        .unwrap();
        assert_eq!(
            bugs::names_on(&bugs::switches(&args.bug)),
            vec!["no-crc-check", "no-idempotence"]
        );
        assert_eq!(args.seeds, Some(3..9));
        assert!(parse(&["--seeds", "9..3"]).is_err());
        assert!(parse(&["--list-bugs"]).unwrap().list_bugs);
    }
}

//! The command line: which seeds, which bugs, what to print.

use std::ops::Range;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use odradek::server::BugSwitches;
use odradek_sim::checker::ViolationKind;
use odradek_sim::outcome::SeedOutcome;
use odradek_sim::seed_run::{quiet_panics, run_seed, SeedSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bug {
    /// Log recovery accepts batches without checking their CRC-32C.
    NoCrcCheck,
    /// fsync.policy=always answers the producer before the sync is done.
    AckBeforeSync,
    /// Idempotent producers' retried batches are appended again (no dedupe).
    NoIdempotence,
    /// The group coordinator acknowledges commits before they are durable.
    CommitBeforePersist,
    /// The log start offset is not persisted: DeleteRecords or retention
    /// followed by a restart moves it back (or reuses offsets).
    ForgetLogStart,
}

#[derive(Debug, Parser)]
#[command(about = "Deterministic simulation of odradek: seeds, nemesis, checkers")]
struct Args {
    /// Run this one seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run a range of seeds, `A..B` (B excluded).
    #[arg(long, value_parser = parse_range)]
    seeds: Option<Range<u64>>,
    /// Put a classic bug back into the broker (repeatable).
    #[arg(long, value_enum)]
    bug: Vec<Bug>,
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
    /// Stop a sweep at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
    /// Invert the exit status: succeed only if some seed reports a
    /// violation (CI uses it with `--bug` to prove the checkers have teeth).
    /// Stops at the first failing seed.
    #[arg(long)]
    expect_violations: bool,
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
    let bugs = BugSwitches {
        no_crc_check: args.bug.contains(&Bug::NoCrcCheck),
        ack_before_sync: args.bug.contains(&Bug::AckBeforeSync),
        no_idempotence: args.bug.contains(&Bug::NoIdempotence),
        commit_before_persist: args.bug.contains(&Bug::CommitBeforePersist),
        forget_log_start: args.bug.contains(&Bug::ForgetLogStart),
    };
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
    for seed in seeds.clone() {
        let spec = SeedSpec {
            seed,
            bugs,
            synced_bit_flip_probability: if args.synced_bit_flips { 0.3 } else { 0.0 },
        };
        let outcome = run_checked(spec, args.check_determinism);
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
        if (args.fail_fast || args.expect_violations) && !failed.is_empty() {
            break;
        }
    }
    progress.finish_and_clear();
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
    if args.expect_violations {
        if failed.is_empty() {
            eprintln!("expected a violation, but every seed passed: the checkers missed the bug");
        }
        return i32::from(failed.is_empty());
    }
    i32::from(!failed.is_empty())
}

//! The command line:
//!
//! ```text
//! odradek-model list
//! odradek-model check <model> [--bug NAME] [--json] [bounds] [--max-depth N] [--threads N] [--timeout-s N]
//! odradek-model explore <model> [--bug NAME] [--addr 127.0.0.1:3000] [bounds]
//! odradek-model check-all [--json]      (CI: clean models hold, every bug is caught)
//! ```
//!
//! Bounds: replication `--replicas --records --crashes --elections
//! --timeouts --losses --duplicates --min-isr`; raft `--voters --proposals
//! --crashes --timeouts --timeouts-per-voter --losses --duplicates --eager-persist 0|1 --replies-at-once 0|1
//! --append-max N --newest-per-channel 0|1`.
//! Options of every check: `--search dfs`, `--max-depth N`, `--threads N`,
//! `--timeout-s N`.

use std::collections::BTreeMap;
use std::time::Duration;

use stateright::Model;

use crate::output;
use crate::raft::{RaftBounds, RaftModel};
use crate::replication::{Bounds, ReplicationModel};
use crate::run::{run, Report, RunOptions};

pub const MODELS: [&str; 2] = ["replication", "raft"];

/// Parsed `--name value` options and bare flags.
pub struct Args {
    pub positional: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub flags: Vec<String>,
}

impl Args {
    pub fn parse(raw: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            positional: Vec::new(),
            options: BTreeMap::new(),
            flags: Vec::new(),
        };
        let mut raw = raw.into_iter();
        while let Some(arg) = raw.next() {
            match arg.strip_prefix("--") {
                Some("json") => args.flags.push("json".into()),
                Some(name) => {
                    let value = raw.next().ok_or(format!("--{name} needs a value"))?;
                    args.options.insert(name.to_string(), value);
                }
                None => args.positional.push(arg),
            }
        }
        Ok(args)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.options.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v}")),
        }
    }

    fn json(&self) -> bool {
        self.flags.iter().any(|f| f == "json")
    }
}

pub fn replication_bounds(args: &Args) -> Result<Bounds, String> {
    let d = Bounds::default();
    let bounds = Bounds {
        replicas: args.number("replicas", d.replicas)?,
        records: args.number("records", d.records)?,
        crashes: args.number("crashes", d.crashes)?,
        elections: args.number("elections", d.elections)?,
        timeouts: args.number("timeouts", d.timeouts)?,
        losses: args.number("losses", d.losses)?,
        duplicates: args.number("duplicates", d.duplicates)?,
        min_insync_replicas: args.number("min-isr", d.min_insync_replicas)?,
    };
    if !(2..=5).contains(&bounds.replicas) || bounds.min_insync_replicas == 0 {
        return Err("--replicas must be 2..=5 and --min-isr at least 1".into());
    }
    Ok(bounds)
}

pub fn raft_bounds(args: &Args) -> Result<RaftBounds, String> {
    let d = RaftBounds::default();
    let bounds = RaftBounds {
        voters: args.number("voters", d.voters)?,
        proposals: args.number("proposals", d.proposals)?,
        crashes: args.number("crashes", d.crashes)?,
        timeouts: args.number("timeouts", d.timeouts)?,
        timeouts_per_voter: args.number("timeouts-per-voter", d.timeouts_per_voter)?,
        losses: args.number("losses", d.losses)?,
        duplicates: args.number("duplicates", d.duplicates)?,
        eager_persist: args.number("eager-persist", u8::from(d.eager_persist))? != 0,
        replies_at_once: args.number("replies-at-once", u8::from(d.replies_at_once))? != 0,
        append_entries_max: args.number("append-max", d.append_entries_max)?,
        newest_per_channel: args.number("newest-per-channel", u8::from(d.newest_per_channel))? != 0,
    };
    if !(1..=5).contains(&bounds.voters) {
        return Err("--voters must be 1..=5".into());
    }
    Ok(bounds)
}

fn run_options(args: &Args, stop_at_first_failure: bool) -> Result<RunOptions, String> {
    Ok(RunOptions {
        threads: args.number("threads", 2)?,
        max_depth: args
            .options
            .get("max-depth")
            .map(|_| 0)
            .map_or(Ok(None), |_| args.number("max-depth", 0usize).map(Some))?,
        timeout: args
            .options
            .get("timeout-s")
            .map(|_| args.number("timeout-s", 0u64).map(Duration::from_secs))
            .transpose()?,
        stop_at_first_failure,
        depth_first: args.options.get("search").is_some_and(|s| s == "dfs"),
    })
}

/// Checks one model with the bounds and bug in `args`.
pub fn check(model: &str, args: &Args) -> Result<Report, String> {
    let bug = args.options.get("bug").map(String::as_str);
    // With a bug switched on the question is "is it caught", so stop at the
    // first counterexample; clean runs explore everything.
    let options = run_options(args, bug.is_some())?;
    match model {
        "replication" => {
            let m = ReplicationModel::new(replication_bounds(args)?, bug)?;
            Ok(run(m, model, bug, options))
        }
        "raft" => {
            let m = RaftModel::new(raft_bounds(args)?, bug)?;
            Ok(run(m, model, bug, options))
        }
        other => Err(format!("no model named {other} (try `list`)")),
    }
}

pub fn explore(model: &str, args: &Args) -> Result<(), String> {
    let bug = args.options.get("bug").map(String::as_str);
    let addr = args
        .options
        .get("addr")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    eprintln!("serving stateright's explorer on http://{addr}/");
    match model {
        "replication" => {
            let m = ReplicationModel::new(replication_bounds(args)?, bug)?;
            m.checker().threads(2).serve(addr.as_str());
        }
        "raft" => {
            let m = RaftModel::new(raft_bounds(args)?, bug)?;
            m.checker().threads(2).serve(addr.as_str());
        }
        other => return Err(format!("no model named {other} (try `list`)")),
    }
    Ok(())
}

/// One line of `check-all`: a model, a bug (or none), the bounds to check
/// it at, and for a clean case the `sometimes` properties it must reach
/// (each clean bound shows some; together they show all of them).
pub struct CiCase {
    pub model: &'static str,
    pub bug: Option<&'static str>,
    pub args: &'static [&'static str],
    pub must_reach: &'static [&'static str],
}

/// What CI checks (docs/model.md, "CI"): the clean models prove every
/// property at these bounds, and each bug switch is caught.
pub const CI_CASES: &[CiCase] = &[
    CiCase {
        model: "replication",
        bug: None,
        args: &[
            "--records",
            "1",
            "--elections",
            "1",
            "--crashes",
            "0",
            "--timeouts",
            "0",
            "--losses",
            "0",
            "--duplicates",
            "0",
        ],
        must_reach: &[
            "a write is acknowledged",
            "a leader change after a commit",
            "a truncation",
        ],
    },
    CiCase {
        model: "replication",
        bug: None,
        args: &[
            "--replicas",
            "2",
            "--records",
            "1",
            "--elections",
            "0",
            "--crashes",
            "0",
            "--timeouts",
            "1",
            "--losses",
            "0",
            "--duplicates",
            "0",
        ],
        must_reach: &[
            "a write is acknowledged",
            "an ISR shrink",
            "an ISR expand after a shrink",
        ],
    },
    // The bounds that catch kip101-only, clean: complete and safe.
    CiCase {
        model: "replication",
        bug: None,
        args: &[
            "--replicas",
            "2",
            "--records",
            "2",
            "--elections",
            "3",
            "--crashes",
            "0",
            "--timeouts",
            "0",
            "--losses",
            "0",
            "--duplicates",
            "0",
        ],
        must_reach: &["a truncation", "a leader change after a commit"],
    },
    CiCase {
        model: "raft",
        bug: None,
        args: &["--voters", "2", "--timeouts", "4", "--proposals", "1"],
        must_reach: &[
            "a leader is elected",
            "an entry is committed",
            "a leader change after a commit",
        ],
    },
    CiCase {
        model: "replication",
        bug: Some("truncate-to-hw"),
        args: &[
            "--records",
            "1",
            "--elections",
            "2",
            "--crashes",
            "0",
            "--timeouts",
            "0",
            "--losses",
            "0",
            "--duplicates",
            "0",
        ],
        must_reach: &[],
    },
    CiCase {
        model: "replication",
        bug: Some("ack-before-isr"),
        args: &[
            "--records",
            "1",
            "--elections",
            "2",
            "--crashes",
            "1",
            "--timeouts",
            "1",
            "--losses",
            "0",
            "--duplicates",
            "0",
        ],
        must_reach: &[],
    },
    // min.insync.replicas=1, the classic unclean case: the leader alone in
    // the ISR acknowledges, dies, and an out-of-ISR replica is elected. With
    // 2, the high watermark stands still once the ISR is the leader alone
    // (KIP-966), so nothing acknowledged is at stake and the search ran out
    // of memory instead of finding a loss.
    CiCase {
        model: "replication",
        bug: Some("unclean-election"),
        args: &[
            "--min-isr",
            "1",
            "--records",
            "1",
            "--elections",
            "2",
            "--crashes",
            "1",
            "--timeouts",
            "1",
            "--losses",
            "0",
            "--duplicates",
            "0",
        ],
        must_reach: &[],
    },
    // KIP-279's case: n1 leads epoch 1 and appends r1, n2 leads epoch 2 and
    // appends r2 at the same offset, n1 leads again; n2 truncates only to
    // n1's end of epoch 1 and keeps r2, then fetches on from there and counts
    // as caught up. 2 replicas, 2 records, 4 elections (3 + the free first).
    CiCase {
        model: "replication",
        bug: Some("kip101-only"),
        args: &[
            "--replicas",
            "2",
            "--records",
            "2",
            "--elections",
            "3",
            "--crashes",
            "0",
            "--timeouts",
            "0",
            "--losses",
            "0",
            "--duplicates",
            "0",
        ],
        must_reach: &[],
    },
    // KIP-320's case: n3 is shrunk out of the ISR, n2 becomes leader of
    // epoch 2, and n3 rejoins the ISR at offset 0, short of the start of
    // epoch 2, though r1 is below the old leader's high watermark.
    // 3 replicas, 1 record, 1 election beside the first, 1 timeout.
    CiCase {
        model: "replication",
        bug: Some("unfenced-fetch"),
        args: &[
            "--records",
            "1",
            "--elections",
            "1",
            "--crashes",
            "0",
            "--timeouts",
            "1",
            "--losses",
            "0",
            "--duplicates",
            "0",
        ],
        must_reach: &[],
    },
    // A candidate with a shorter log wins a vote (every voter's log check
    // skipped) and leads without a committed entry: 3 voters, 3 timeouts
    // (one election each), no proposal (the first leader's no-op is the
    // committed entry), writes durable as issued, depth-first to 15 states.
    CiCase {
        model: "raft",
        bug: Some("vote-without-log-check"),
        args: &[
            "--voters",
            "3",
            "--proposals",
            "0",
            "--timeouts",
            "3",
            "--eager-persist",
            "1",
            "--search",
            "dfs",
            "--max-depth",
            "15",
        ],
        must_reach: &[],
    },
    // Raft's Figure 8: a leader commits an entry of an earlier term by
    // counting replicas, and a voter holding another entry at that index
    // wins the next term. Five elections (two timeouts per voter at most),
    // the leader's probe sending one entry at a time, and the bug-hunting
    // restrictions that keep the state space small (docs/model.md): writes
    // durable as issued, answers at once, a channel keeps only its newest
    // message. Depth-first to 21 states.
    CiCase {
        model: "raft",
        bug: Some("commit-old-term"),
        args: &[
            "--voters",
            "3",
            "--proposals",
            "0",
            "--timeouts",
            "5",
            "--timeouts-per-voter",
            "2",
            "--append-max",
            "1",
            "--eager-persist",
            "1",
            "--replies-at-once",
            "1",
            "--newest-per-channel",
            "1",
            "--search",
            "dfs",
            "--max-depth",
            "21",
        ],
        must_reach: &[],
    },
];

/// Whether a case's report is the verdict CI wants: a clean model complete,
/// no `always` property failing and every `must_reach` reached; a bug
/// model with a failing `always`.
pub fn ci_verdict_ok(case: &CiCase, report: &Report) -> bool {
    match case.bug {
        None => {
            report.complete
                && report.failures().is_empty()
                && case.must_reach.iter().all(|name| {
                    report
                        .properties
                        .iter()
                        .any(|p| p.name == *name && p.kind == "sometimes" && p.holds)
                })
        }
        Some(_) => !report.failures().is_empty(),
    }
}

pub fn check_all(json: bool) -> Result<bool, String> {
    let mut ok = true;
    let mut reports = Vec::new();
    for case in CI_CASES {
        let mut raw: Vec<String> = case.args.iter().map(|s| s.to_string()).collect();
        if let Some(bug) = case.bug {
            raw.extend(["--bug".to_string(), bug.to_string()]);
        }
        let report = check(case.model, &Args::parse(raw)?)?;
        let good = ci_verdict_ok(case, &report);
        ok &= good;
        let failing: Vec<&str> = report.failures().iter().map(|v| v.name).collect();
        // Steps of the shortest counterexample found (its actions).
        let trace = report
            .failures()
            .iter()
            .filter_map(|v| v.counterexample.as_ref().map(|c| c.len() - 1))
            .min();
        let unreached: Vec<&str> = report
            .properties
            .iter()
            .filter(|p| p.kind == "sometimes" && !p.holds)
            .map(|p| p.name)
            .collect();
        eprintln!(
            "{} {:<12} bug {:<24} {:>10} states {:>6.1} s  fails {:?}{} unreached {:?}",
            if good { "ok  " } else { "FAIL" },
            case.model,
            case.bug.unwrap_or("none"),
            report.states,
            report.seconds,
            failing,
            trace.map_or(String::new(), |n| format!(" (trace {n} steps)")),
            unreached
        );
        reports.push(output::json(&report));
    }
    if json {
        println!("{}", serde_json::Value::Array(reports));
    }
    Ok(ok)
}

pub fn main_with(raw: Vec<String>) -> Result<bool, String> {
    let args = Args::parse(raw)?;
    let command = args.positional.first().map(String::as_str);
    match command {
        Some("list") => {
            for model in MODELS {
                println!("{model}");
            }
            Ok(true)
        }
        Some("bugs") => {
            for bug in crate::replication::BUG_NAMES {
                println!("replication {bug}");
            }
            for bug in crate::raft::BUG_NAMES {
                println!("raft {bug}");
            }
            Ok(true)
        }
        Some("check") => {
            let model = args.positional.get(1).ok_or("check <model>")?;
            let report = check(model, &args)?;
            if args.json() {
                print!("{}", output::text(&report));
                println!("{}", output::json(&report));
            } else {
                print!("{}", output::text(&report));
            }
            Ok(true)
        }
        Some("explore") => {
            let model = args.positional.get(1).ok_or("explore <model>")?;
            explore(model, &args)?;
            Ok(true)
        }
        Some("check-all") => check_all(args.json()),
        _ => Err("usage: odradek-model list | bugs | check <model> [--bug NAME] [--json] | explore <model> | check-all".into()),
    }
}

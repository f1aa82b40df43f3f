//! Small bounded checks that run under `cargo test` (debug build, so the
//! bounds are the smallest that still show something): the clean
//! replication model holds every property and reaches the ISR changes; the
//! ack-before-isr switch is caught; the CLI's CI table judges both right;
//! the CI cases for kip101-only, vote-without-log-check and
//! commit-old-term catch them.

use odradek_model::cli::{ci_verdict_ok, Args, CiCase};
use odradek_model::replication::{Bounds, ReplicationModel};
use odradek_model::run::{run, RunOptions};

fn options(stop_at_first_failure: bool) -> RunOptions {
    RunOptions {
        threads: 1,
        max_depth: None,
        timeout: None,
        stop_at_first_failure,
        depth_first: false,
    }
}

fn isr_bounds() -> Bounds {
    Bounds {
        replicas: 2,
        records: 1,
        crashes: 0,
        elections: 0,
        timeouts: 1,
        losses: 0,
        duplicates: 0,
        min_insync_replicas: 2,
    }
}

#[test]
fn the_clean_replication_model_holds_at_small_bounds() {
    let model = ReplicationModel::new(isr_bounds(), None).unwrap();
    let report = run(model, "replication", None, options(false));
    assert!(report.complete);
    assert!(report.unique_states > 100, "{}", report.unique_states);
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    for name in [
        "a write is acknowledged",
        "an ISR shrink",
        "an ISR expand after a shrink",
    ] {
        let p = report.properties.iter().find(|p| p.name == name).unwrap();
        assert!(p.holds, "{name} never reached");
    }
}

#[test]
fn the_ack_before_isr_bug_is_caught() {
    let bounds = Bounds {
        replicas: 2,
        records: 1,
        crashes: 1,
        elections: 1,
        timeouts: 0,
        losses: 0,
        duplicates: 0,
        min_insync_replicas: 2,
    };
    let model = ReplicationModel::new(bounds, Some("ack-before-isr")).unwrap();
    let report = run(model, "replication", Some("ack-before-isr"), options(true));
    let failures = report.failures();
    assert!(!failures.is_empty(), "not caught");
    let lost = failures
        .iter()
        .find(|p| p.name == "no lost acknowledged write")
        .expect("a lost acknowledged write");
    let steps = lost.counterexample.as_ref().unwrap();
    assert!(steps.len() > 3, "{steps:?}");
    // The CI table calls this verdict right.
    let case = CiCase {
        model: "replication",
        bug: Some("ack-before-isr"),
        args: &[],
        must_reach: &[],
    };
    assert!(ci_verdict_ok(&case, &report));
}

#[test]
fn unknown_bugs_and_models_are_refused() {
    assert!(ReplicationModel::new(isr_bounds(), Some("no-such-bug")).is_err());
    let args = Args::parse(["--bug".to_string(), "commit-old-term".to_string()]).unwrap();
    assert!(odradek_model::cli::check("nonesuch", &args).is_err());
}

/// Runs the CI table's case for `bug` (the same bounds `check-all` uses)
/// and returns its shortest counterexample's length in steps.
fn ci_case_catches(bug: &str) -> (Vec<&'static str>, usize) {
    let case = odradek_model::cli::CI_CASES
        .iter()
        .find(|c| c.bug == Some(bug))
        .unwrap_or_else(|| panic!("{bug} is in the CI table"));
    let mut raw: Vec<String> = case.args.iter().map(|s| s.to_string()).collect();
    raw.extend([
        "--bug".to_string(),
        bug.to_string(),
        "--threads".into(),
        "1".into(),
    ]);
    let report = odradek_model::cli::check(case.model, &Args::parse(raw).unwrap()).unwrap();
    assert!(
        odradek_model::cli::ci_verdict_ok(case, &report),
        "{bug} not caught"
    );
    let failures = report.failures();
    let steps = failures
        .iter()
        .filter_map(|v| v.counterexample.as_ref().map(|c| c.len() - 1))
        .min()
        .expect("a counterexample");
    (failures.iter().map(|v| v.name).collect(), steps)
}

#[test]
fn the_kip101_only_bug_is_caught() {
    let (failing, steps) = ci_case_catches("kip101-only");
    assert!(failing.contains(&"StrongIsr"), "{failing:?}");
    assert_eq!(steps, 15);
}

#[test]
fn the_vote_without_log_check_bug_is_caught() {
    let (failing, steps) = ci_case_catches("vote-without-log-check");
    assert!(failing.contains(&"leader completeness"), "{failing:?}");
    assert!(steps <= 14, "{steps}");
}

/// Release only: about 2.6 M states, 8 s in release and about 50 s in the
/// debug build `cargo test --workspace` uses; `check-all` runs the same
/// case in CI (`cargo test --release -p odradek-model` runs this too).
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "about 50 s in a debug build; check-all runs it in release"
)]
fn the_commit_old_term_bug_is_caught() {
    let (failing, steps) = ci_case_catches("commit-old-term");
    assert!(failing.contains(&"leader completeness"), "{failing:?}");
    assert!(steps <= 20, "{steps}");
}

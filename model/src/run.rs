//! Runs a model checker over one model and gathers its verdicts: states
//! explored, depth, time, and for each property whether it holds, with a
//! counterexample as readable steps when it does not.

use std::time::{Duration, Instant};

use stateright::{Checker, Expectation, HasDiscoveries, Path};

use crate::describe::Describe;

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub threads: usize,
    /// Stop exploring paths longer than this (the run is then incomplete).
    pub max_depth: Option<usize>,
    pub timeout: Option<Duration>,
    /// Stop at the first failing property (bug hunting) instead of
    /// exploring everything.
    pub stop_at_first_failure: bool,
    /// Depth-first (less memory, finds deep counterexamples sooner, not
    /// the shortest) instead of breadth-first.
    pub depth_first: bool,
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub name: &'static str,
    pub kind: &'static str,
    pub holds: bool,
    /// The steps to a state that breaks an `always` property.
    pub counterexample: Option<Vec<String>>,
    /// The steps to a state that shows a `sometimes` property.
    pub example_len: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub model: String,
    pub bug: Option<String>,
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    pub complete: bool,
    pub properties: Vec<Verdict>,
}

impl Report {
    /// No `always` property failed and every `sometimes` one was shown.
    pub fn all_hold(&self) -> bool {
        self.properties.iter().all(|p| p.holds)
    }

    /// `always` properties that failed.
    pub fn failures(&self) -> Vec<&Verdict> {
        self.properties
            .iter()
            .filter(|p| p.kind != "sometimes" && !p.holds)
            .collect()
    }
}

pub fn run<M>(model: M, name: &str, bug: Option<&str>, options: RunOptions) -> Report
where
    M: Describe + Send + Sync + Clone + 'static,
    M::State: std::hash::Hash + Send + Sync + Clone + PartialEq + std::fmt::Debug + 'static,
    M::Action: Clone + PartialEq + std::fmt::Debug,
{
    let properties = model.properties();
    let mut builder = model.clone().checker().threads(options.threads);
    if let Some(depth) = options.max_depth {
        builder = builder.target_max_depth(depth);
    }
    if let Some(timeout) = options.timeout {
        builder = builder.timeout(timeout);
    }
    if options.stop_at_first_failure {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    let started = Instant::now();
    let checker = if options.depth_first {
        Box::new(builder.spawn_dfs().join()) as Box<dyn Checker<M>>
    } else {
        Box::new(builder.spawn_bfs().join())
    };
    let seconds = started.elapsed().as_secs_f64();
    let discoveries = checker.discoveries();
    let verdicts: Vec<Verdict> = properties
        .iter()
        .map(|p| {
            let found = discoveries.get(p.name);
            let kind = match p.expectation {
                Expectation::Always => "always",
                Expectation::Sometimes => "sometimes",
                Expectation::Eventually => "eventually",
            };
            match p.expectation {
                Expectation::Sometimes => Verdict {
                    name: p.name,
                    kind,
                    holds: found.is_some(),
                    counterexample: None,
                    example_len: found.map(|path| path.clone().into_actions().len()),
                },
                _ => Verdict {
                    name: p.name,
                    kind,
                    holds: found.is_none(),
                    counterexample: found.map(|path| steps(&model, path.clone())),
                    example_len: None,
                },
            }
        })
        .collect();
    let failed = verdicts.iter().any(|v| v.kind != "sometimes" && !v.holds);
    let timed_out = options.timeout.is_some_and(|t| started.elapsed() >= t);
    let depth_cut = options.max_depth.is_some_and(|d| checker.max_depth() >= d);
    let stopped_early = options.stop_at_first_failure && failed;
    Report {
        model: name.to_string(),
        bug: bug.map(str::to_string),
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        seconds,
        complete: !(timed_out || depth_cut || stopped_early),
        properties: verdicts,
    }
}

/// A path as numbered steps: the action, then the state it led to.
fn steps<M: Describe>(model: &M, path: Path<M::State, M::Action>) -> Vec<String> {
    let pairs = path.into_vec();
    let mut lines = Vec::with_capacity(pairs.len());
    if let Some((first, _)) = pairs.first() {
        lines.push(format!("0. init => {}", model.describe_state(first)));
    }
    // Each pair holds a state and the action taken from it; the next pair
    // holds the state that action led to.
    for (i, window) in pairs.windows(2).enumerate() {
        let action = window[0].1.as_ref().expect("an action leads on");
        lines.push(format!(
            "{}. {} => {}",
            i + 1,
            model.describe_action(action),
            model.describe_state(&window[1].0)
        ));
    }
    lines
}

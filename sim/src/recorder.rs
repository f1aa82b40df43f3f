//! The recorder every simulated actor shares: it stamps each event with the
//! simulated time, appends it to the history and feeds it to the checkers at
//! once, so violations are found while the run is going.
//!
//! madsim runs every node on one thread, in an order fixed by the seed, so
//! the order in which actors record is itself deterministic.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use crate::checker::{Checkers, Violation};
use crate::group_history::GroupEvent;
use crate::history::{EventKind, History, NemesisAction};
use crate::lifecycle_history::LcEvent;
use crate::outcome::RunStats;

pub struct Recording {
    pub history: History,
    pub checkers: Checkers,
    pub stats: RunStats,
}

/// A check that looks at state outside the history (the voters' disks),
/// run from [`Recorder::record`] at most once per `every_ms` of simulated
/// time: it adds no task or timer, so it moves no seed's schedule.
struct Sampler {
    every_ms: u64,
    next_at_ms: u64,
    sample: Box<dyn FnMut() + Send>,
}

#[derive(Clone)]
pub struct Recorder {
    started: Instant,
    inner: Arc<Mutex<Recording>>,
    sampler: Arc<Mutex<Option<Sampler>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            started: Instant::now(),
            inner: Arc::new(Mutex::new(Recording {
                history: History::default(),
                checkers: Checkers::default(),
                stats: RunStats::default(),
            })),
            sampler: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `sample` from `record`, at most once per `every_ms` of
    /// simulated time (replacing any sampler set before).
    pub fn sample_every(&self, every_ms: u64, sample: impl FnMut() + Send + 'static) {
        *self.sampler.lock().unwrap_or_else(|p| p.into_inner()) = Some(Sampler {
            every_ms,
            next_at_ms: 0,
            sample: Box::new(sample),
        });
    }

    fn maybe_sample(&self, at_ms: u64) {
        let mut guard = self.sampler.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sampler) = guard.as_mut().filter(|s| at_ms >= s.next_at_ms) {
            sampler.next_at_ms = at_ms + sampler.every_ms;
            (sampler.sample)();
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Recording> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Simulated milliseconds since the run started.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Records an event and checks it; returns its `seq`.
    pub fn record(&self, kind: EventKind) -> u64 {
        let at_ms = self.elapsed_ms();
        let mut guard = self.lock();
        let recording = &mut *guard;
        count(&mut recording.stats, &kind);
        let event = recording.history.push(at_ms, kind);
        let seq = event.seq;
        // The history interleaved with the broker's logs when debugging one
        // seed: ODRADEK_SIM_LOG=odradek=debug,odradek_sim::history=debug.
        tracing::debug!(target: "odradek_sim::history", "#{seq} @{at_ms}ms {:?}", event.kind);
        recording.checkers.observe(event);
        drop(guard);
        self.maybe_sample(at_ms);
        seq
    }

    /// The `seq` the next event will get (a fetch notes it when sent).
    pub fn next_seq(&self) -> u64 {
        self.lock().history.next_seq()
    }

    /// How often the broker went down (killed or exited) so far.
    pub fn broker_restarts(&self) -> u64 {
        let recording = self.lock();
        recording.stats.kills + recording.stats.broker_exits
    }

    /// Updates a statistic that no single event carries.
    pub fn note(&self, update: impl FnOnce(&mut RunStats)) {
        update(&mut self.lock().stats);
    }

    /// A violation the harness itself found (liveness, panic).
    pub fn report(&self, violation: Violation) {
        self.lock().checkers.report(violation);
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

fn count(stats: &mut RunStats, kind: &EventKind) {
    match kind {
        EventKind::SendInvoked { .. } => stats.sends += 1,
        EventKind::SendAcked { .. } => stats.acked += 1,
        EventKind::SendFailed { .. } => stats.send_failures += 1,
        EventKind::SendRetried { .. } => stats.send_retries += 1,
        EventKind::ProducerInit { .. } => stats.producer_inits += 1,
        EventKind::Polled { records, .. } => {
            stats.polls += 1;
            stats.records_read += records.len() as u64;
        }
        EventKind::Group(GroupEvent::Synced { .. }) => stats.group_generations_synced += 1,
        EventKind::Group(GroupEvent::Committed { error: None, .. }) => stats.group_commits += 1,
        EventKind::Group(GroupEvent::Crashed { .. }) => stats.group_member_crashes += 1,
        EventKind::Lifecycle(LcEvent::SendAcked { records, .. }) => {
            stats.lc_acked += records.len() as u64
        }
        EventKind::Nemesis(NemesisAction::Kill) => stats.kills += 1,
        EventKind::Nemesis(NemesisAction::BrokerExited { .. }) => stats.broker_exits += 1,
        EventKind::Nemesis(NemesisAction::Pause { .. }) => stats.pauses += 1,
        EventKind::Nemesis(NemesisAction::NodeKilled { .. }) => stats.kills += 1,
        EventKind::Nemesis(NemesisAction::NodesPowerLost { nodes }) => {
            stats.kills += nodes.len() as u64;
            stats.correlated_power_losses += 1;
        }
        EventKind::Nemesis(NemesisAction::ChurnStarted { .. }) => stats.churn_episodes += 1,
        EventKind::Nemesis(NemesisAction::NodeExited { .. }) => stats.broker_exits += 1,
        EventKind::Nemesis(NemesisAction::NodePaused { .. }) => stats.pauses += 1,
        EventKind::Nemesis(NemesisAction::NetworkPartitioned { .. }) => stats.partitions_cut += 1,
        _ => {}
    }
}

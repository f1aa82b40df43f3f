//! Raft events for the simulator's targeted faults and its state-machine
//! check: the metadata quorum's driver reports, synchronously, the moments
//! a fault must hit at message precision (a node became leader, a leader
//! appended a proposal, a leader's commit index moved) and every entry it
//! applies. Raft's Figure 8 (`commit-old-term`) needs a leader cut off
//! between two of its own messages, which no polling nemesis can do: a
//! listener that clogs links when it is told runs before the driver sends
//! what the step produced (docs/testing.md, "Figure 8").
//!
//! Per thread and off unless started, like the leadership journal: a seed
//! runs all its simulated nodes on one thread (madsim), the simulator
//! installs its listener there before the seed and removes it after; a
//! real broker never installs one, so reporting is one thread-local check
//! and the event is never built.

use std::cell::RefCell;

/// What a node's Raft driver did, as the listener hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaftEvent {
    /// `node` became the leader of `term`; its no-op is appended, nothing
    /// of the term is sent yet.
    BecameLeader { node: i32, term: u64 },
    /// Leader `node` of `term` appended a proposal at `index`; the appends
    /// carrying it are not sent yet.
    Appended { node: i32, term: u64, index: u64 },
    /// Leader `node` of `term` moved its commit index to `commit_index`;
    /// the appends that tell followers are not sent yet.
    CommitAdvanced {
        node: i32,
        term: u64,
        commit_index: u64,
    },
    /// `node` handed the committed entry (`index`, `term`) to its apply
    /// task.
    Applied { node: i32, index: u64, term: u64 },
}

type Listener = Box<dyn FnMut(&RaftEvent)>;

thread_local! {
    static LISTENER: RefCell<Option<Listener>> = const { RefCell::new(None) };
}

/// Installs `listener` on this thread (the simulator, before a seed); it
/// replaces any earlier one.
pub fn listen_on_this_thread(listener: Listener) {
    LISTENER.with(|l| *l.borrow_mut() = Some(listener));
}

/// Removes this thread's listener (the simulator, after a seed).
pub fn stop_on_this_thread() {
    LISTENER.with(|l| *l.borrow_mut() = None);
}

/// Reports the event `make` builds, if a listener is installed on this
/// thread. A listener that reports an event itself is not called again
/// (the inner event is dropped rather than re-entering it).
pub fn report(make: impl FnOnce() -> RaftEvent) {
    LISTENER.with(|l| {
        if let Ok(mut listener) = l.try_borrow_mut() {
            if let Some(listener) = listener.as_mut() {
                listener(&make());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn nothing_is_built_without_a_listener() {
        report(|| unreachable!("no listener: the event is never built"));
    }

    #[test]
    fn an_installed_listener_hears_each_event_until_stopped() {
        let heard = Rc::new(RefCell::new(Vec::new()));
        let sink = heard.clone();
        listen_on_this_thread(Box::new(move |event| sink.borrow_mut().push(*event)));
        report(|| RaftEvent::BecameLeader { node: 2, term: 3 });
        report(|| RaftEvent::Applied {
            node: 1,
            index: 4,
            term: 3,
        });
        stop_on_this_thread();
        report(|| RaftEvent::BecameLeader { node: 3, term: 4 });
        assert_eq!(
            *heard.borrow(),
            vec![
                RaftEvent::BecameLeader { node: 2, term: 3 },
                RaftEvent::Applied {
                    node: 1,
                    index: 4,
                    term: 3
                }
            ]
        );
    }
}

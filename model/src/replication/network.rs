//! Keeping the messages in flight in a canonical form, so that states that
//! differ only in how they got there are one state:
//!
//! - the network is a set (two equal messages in flight are one; delivering
//!   a message twice is the separate, bounded `Duplicate` action), kept in
//!   the order of a fixed hash;
//! - a follower's fetch correlation ids are renumbered after every step
//!   (`ReplicaMachine::renumber_fetches`): 1 for the fetch in flight, 0 for
//!   any older one. The follower only compares an answer's id with the fetch
//!   in flight, so this changes no behaviour, and a follower that fetches
//!   forever with nothing new returns to the same state instead of counting.

use super::state::{stable_hash, Envelope, Message, ReplicationState};

pub fn canonicalize(state: &mut ReplicationState) {
    for replica in &mut state.replicas {
        let id = replica.id;
        let in_flight = replica.machine.as_mut().and_then(|m| m.renumber_fetches());
        let renumber = |c: &mut u64| *c = u64::from(Some(*c) == in_flight);
        for envelope in &mut state.network {
            match &mut envelope.message {
                Message::Fetch(request) if envelope.from == id => {
                    renumber(&mut request.correlation_id)
                }
                Message::FetchResponse(response) if envelope.to == id => {
                    renumber(&mut response.correlation_id)
                }
                _ => {}
            }
        }
    }
    let mut keyed: Vec<(u64, Envelope)> = std::mem::take(&mut state.network)
        .into_iter()
        .map(|e| (stable_hash(&e), e))
        .collect();
    keyed.sort_by_key(|(h, _)| *h);
    keyed.dedup();
    state.network = keyed.into_iter().map(|(_, e)| e).collect();
}

//! The Raft model's network: the messages in flight, as a set in a
//! fixed-hash order (two equal messages in flight are one; `Duplicate` is
//! the bounded way to deliver one twice).
//!
//! With `newest_per_channel` a channel (sender to receiver) holds only the
//! newest message sent on it: posting another loses the older one. A
//! bug-hunting restriction, not a model of TCP: it drops exactly the
//! messages a schedule of the full model would leave in flight forever (a
//! message never delivered is a loss there too), so each schedule it allows
//! is one the full model allows, and what it finds is real. It is what
//! keeps the state space small: stale requests and answers that the full
//! model could deliver at any later moment (each such moment a new state)
//! are gone as soon as their sender says something newer to the same peer.

use odradek::core::raft::Message;

/// Puts messages a voter sent, in send order, into the network.
pub fn post(network: &mut Vec<Message>, sent: Vec<Message>, newest_per_channel: bool) {
    for message in sent {
        if newest_per_channel {
            network.retain(|m| (m.from, m.to) != (message.from, message.to));
        }
        network.push(message);
    }
}

/// The network as a set in a fixed-hash order.
pub fn canonicalize(network: &mut Vec<Message>) {
    let mut keyed: Vec<(u64, Message)> = std::mem::take(network)
        .into_iter()
        .map(|m| (crate::replication::state::stable_hash(&m), m))
        .collect();
    keyed.sort_by_key(|(h, _)| *h);
    keyed.dedup();
    *network = keyed.into_iter().map(|(_, m)| m).collect();
}

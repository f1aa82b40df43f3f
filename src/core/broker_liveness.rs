//! The active controller's view of which brokers are alive (KRaft's
//! `BrokerHeartbeatManager`): when it last heard from each, and which ones
//! have been silent for the session timeout and must be fenced. Kept only
//! in memory on the active controller; a new controller starts everyone's
//! clock at its own start, so a failover never fences a live broker.

use std::collections::BTreeMap;

use crate::core::metadata::MetadataImage;

#[derive(Debug, Clone)]
pub struct BrokerLiveness {
    session_timeout_ms: u64,
    /// Monotonic time each broker was last heard from.
    last_heard_ms: BTreeMap<i32, u64>,
    /// When this controller started tracking: the grace start of every
    /// broker it has not heard from yet.
    since_ms: u64,
}

impl BrokerLiveness {
    pub fn new(session_timeout_ms: u64, now_ms: u64) -> BrokerLiveness {
        BrokerLiveness {
            session_timeout_ms,
            last_heard_ms: BTreeMap::new(),
            since_ms: now_ms,
        }
    }

    pub fn heard_from(&mut self, node_id: i32, now_ms: u64) {
        let last = self.last_heard_ms.entry(node_id).or_insert(now_ms);
        *last = (*last).max(now_ms);
    }

    /// Live (unfenced) brokers of `image` silent for the session timeout,
    /// except `this_node` (the controller does not fence itself: if it is
    /// cut off it loses the quorum and stops being controller instead).
    pub fn expired(&self, image: &MetadataImage, this_node: i32, now_ms: u64) -> Vec<i32> {
        image
            .live_brokers()
            .map(|b| b.node_id)
            .filter(|id| *id != this_node)
            .filter(|id| {
                let last = self.last_heard_ms.get(id).copied().unwrap_or(self.since_ms);
                now_ms.saturating_sub(last) >= self.session_timeout_ms
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::metadata::MetadataRecord;

    fn image(nodes: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for n in nodes {
            image.apply(&MetadataRecord::RegisterBroker {
                node_id: *n,
                host: "h".into(),
                port: 1,
                broker_epoch: 0,
            });
            image.apply(&MetadataRecord::UnfenceBroker { node_id: *n });
        }
        image
    }

    #[test]
    fn a_silent_broker_expires_after_the_session_and_a_heard_one_does_not() {
        let image = image(&[1, 2, 3]);
        let mut liveness = BrokerLiveness::new(1_000, 10_000);
        assert!(
            liveness.expired(&image, 1, 10_999).is_empty(),
            "grace from the start"
        );
        liveness.heard_from(2, 10_500);
        assert_eq!(liveness.expired(&image, 1, 11_000), vec![3]);
        assert_eq!(liveness.expired(&image, 1, 11_500), vec![2, 3]);
        liveness.heard_from(2, 11_400);
        liveness.heard_from(2, 11_000); // late and reordered: never goes back
        assert_eq!(liveness.expired(&image, 1, 12_000), vec![3]);
    }

    #[test]
    fn fenced_brokers_and_the_controller_itself_are_never_expired() {
        let mut image = image(&[1, 2]);
        image.apply(&MetadataRecord::FenceBroker { node_id: 2 });
        let liveness = BrokerLiveness::new(1_000, 0);
        assert!(liveness.expired(&image, 1, 100_000).is_empty());
    }
}

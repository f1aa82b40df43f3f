//! The data oracle: the partitions of the baseline topics, their
//! watermarks after every request and their content every few requests.
//! A request may change a partition only if its response says it wrote
//! there (Produce with error 0, or an ambiguous timeout) or deleted its
//! topic; every other change is a finding.

use std::collections::BTreeMap;

use odradek::server::broker::Broker;

use crate::fuzz::responses::Summary;

/// Produce errors after which the records may have been appended anyway
/// (Kafka's own contract: a timed-out write may have happened).
const AMBIGUOUS_PRODUCE_ERRORS: &[i16] = &[
    7,  // REQUEST_TIMED_OUT
    20, // NOT_ENOUGH_REPLICAS_AFTER_APPEND
];

/// (log start offset, high watermark, log end offset), or `None` when the
/// partition does not exist.
pub type Offsets = Option<(i64, i64, i64)>;

pub struct Watch {
    /// Watched partitions and their last known offsets.
    pub offsets: BTreeMap<(String, i32), Offsets>,
    /// Their last read content (the record bytes of an honest fetch).
    pub content: BTreeMap<(String, i32), Vec<u8>>,
}

/// What a request was allowed to do to the watched data.
pub enum Permission<'a> {
    /// Nothing (any request but a write, or a refused one).
    Nothing,
    /// What the response says it did.
    Answered(&'a Summary),
    /// Append anywhere (acks=0 produce: no answer to go by).
    AppendAnywhere,
}

impl Watch {
    pub fn new(partitions: impl IntoIterator<Item = (String, i32)>) -> Self {
        Watch {
            offsets: partitions.into_iter().map(|k| (k, None)).collect(),
            content: BTreeMap::new(),
        }
    }

    pub fn read_offsets(&self, broker: &Broker) -> BTreeMap<(String, i32), Offsets> {
        self.offsets
            .keys()
            .map(|(t, p)| {
                (
                    (t.clone(), *p),
                    broker.partition(t, *p).map(|h| h.offsets()),
                )
            })
            .collect()
    }

    /// Checks `now` against the last known offsets under `permission`,
    /// then adopts `now`. Returns what changed without permission.
    pub fn check_step(
        &mut self,
        now: BTreeMap<(String, i32), Offsets>,
        permission: Permission<'_>,
    ) -> Vec<String> {
        let mut violations = Vec::new();
        for (key, after) in &now {
            let before = self.offsets.get(key).copied().flatten();
            if before == *after {
                continue;
            }
            let (topic, partition) = (key.0.as_str(), key.1);
            let may_append = match &permission {
                Permission::Nothing => false,
                Permission::AppendAnywhere => true,
                Permission::Answered(s) => s.produced.iter().any(|(t, p, code)| {
                    t == topic
                        && *p == partition
                        && (*code == 0 || AMBIGUOUS_PRODUCE_ERRORS.contains(code))
                }),
            };
            let may_delete = matches!(&permission, Permission::Answered(s)
                if s.deleted.iter().any(|t| t == topic));
            let ok = match (before, *after) {
                (Some(_), None) => may_delete,
                (Some((start0, hw0, end0)), Some((start1, hw1, end1))) => {
                    may_append && start1 == start0 && hw1 >= hw0 && end1 >= end0
                }
                // A deleted baseline topic re-created by a later request:
                // a new partition, not the old data.
                (None, Some(_)) => true,
                (None, None) => true,
            };
            if !ok {
                violations.push(format!(
                    "{topic}-{partition}: (log start, hw, log end) {before:?} -> {after:?}"
                ));
            }
        }
        for (key, after) in now {
            if after.is_none() {
                // Deleted (with permission, or already reported): its old
                // content no longer binds.
                self.content.remove(&key);
            }
            self.offsets.insert(key, after);
        }
        violations
    }

    /// Checks freshly read content: the old content must be a prefix of
    /// the new (the log only grows while its start stays put).
    pub fn check_content(&mut self, key: (String, i32), now: Vec<u8>) -> Option<String> {
        let violation = match self.content.get(&key) {
            Some(old) if !now.starts_with(old) => Some(format!(
                "{}-{}: content changed: {} bytes before, {} now, first difference at byte {}",
                key.0,
                key.1,
                old.len(),
                now.len(),
                old.iter().zip(&now).take_while(|(a, b)| a == b).count()
            )),
            _ => None,
        };
        self.content.insert(key, now);
        violation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &str, p: i32) -> (String, i32) {
        (t.to_string(), p)
    }

    fn watch_at(offsets: (i64, i64, i64)) -> Watch {
        let mut w = Watch::new([key("t", 0), key("t", 1)]);
        let now = [(key("t", 0), Some(offsets)), (key("t", 1), Some(offsets))];
        w.check_step(now.into_iter().collect(), Permission::AppendAnywhere);
        w
    }

    fn moved(to: (i64, i64, i64)) -> BTreeMap<(String, i32), Offsets> {
        [(key("t", 0), Some(to)), (key("t", 1), Some((0, 3, 3)))]
            .into_iter()
            .collect()
    }

    #[test]
    fn a_refused_request_may_not_move_a_watermark() {
        let mut w = watch_at((0, 3, 3));
        let v = w.check_step(moved((0, 4, 4)), Permission::Nothing);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].starts_with("t-0"));
    }

    #[test]
    fn a_produce_may_append_only_where_it_says_it_did() {
        let refused = Summary {
            produced: vec![("t".into(), 0, 87), ("t".into(), 1, 0)],
            ..Summary::default()
        };
        let mut w = watch_at((0, 3, 3));
        assert_eq!(
            w.check_step(moved((0, 4, 4)), Permission::Answered(&refused))
                .len(),
            1
        );
        let accepted = Summary {
            produced: vec![("t".into(), 0, 0)],
            ..Summary::default()
        };
        let mut w = watch_at((0, 3, 3));
        assert!(w
            .check_step(moved((0, 4, 4)), Permission::Answered(&accepted))
            .is_empty());
        // Even an accepted write never moves the log start or truncates.
        let mut w = watch_at((0, 3, 3));
        assert_eq!(
            w.check_step(moved((1, 4, 4)), Permission::Answered(&accepted))
                .len(),
            1
        );
        let mut w = watch_at((0, 3, 3));
        assert_eq!(
            w.check_step(moved((0, 2, 2)), Permission::AppendAnywhere)
                .len(),
            1
        );
    }

    #[test]
    fn a_topic_disappears_only_when_its_deletion_succeeded() {
        let gone: BTreeMap<_, _> = [(key("t", 0), None), (key("t", 1), None)]
            .into_iter()
            .collect();
        let mut w = watch_at((0, 3, 3));
        assert_eq!(w.check_step(gone.clone(), Permission::Nothing).len(), 2);
        let deleted = Summary {
            deleted: vec!["t".into()],
            ..Summary::default()
        };
        let mut w = watch_at((0, 3, 3));
        assert!(w
            .check_step(gone, Permission::Answered(&deleted))
            .is_empty());
    }

    #[test]
    fn content_may_only_grow() {
        let mut w = watch_at((0, 3, 3));
        assert_eq!(w.check_content(key("t", 0), b"abc".to_vec()), None);
        assert_eq!(w.check_content(key("t", 0), b"abcd".to_vec()), None);
        assert!(w.check_content(key("t", 0), b"abXd".to_vec()).is_some());
    }
}

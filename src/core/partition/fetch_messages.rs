//! What a follower sends its leader (Fetch, with KIP-320's epochs) and what
//! the leader answers: records, a diverging epoch to truncate to, or an
//! error.

use serde::{Deserialize, Serialize};

use crate::core::partition::replica_log::StoredBatch;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Matches the answer to this request (Kafka's request header
    /// correlation id): a follower takes only the answer to its latest fetch.
    pub correlation_id: u64,
    pub replica_id: i32,
    /// The follower's log end offset.
    pub fetch_offset: i64,
    /// The epoch of the follower's last record, for the leader to check that
    /// the follower's log matches its own below `fetch_offset`. `None` when
    /// the follower's log is empty (or a bug switch skips the check).
    pub last_fetched_epoch: Option<i32>,
    /// The leader epoch the follower follows (KIP-320).
    pub current_leader_epoch: i32,
    /// The follower's broker epoch (KIP-903's replica epoch), or
    /// [`NO_BROKER_EPOCH`]: the machine leaves it unknown and the node's
    /// fetcher stamps it from its registration. A leader carries it into
    /// ISR proposals, so the controller refuses to add a replica whose
    /// process restarted since it fetched (it may have lost records).
    pub replica_epoch: i64,
}

/// A broker epoch not known (Kafka's -1).
pub const NO_BROKER_EPOCH: i64 = -1;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FetchResponse<R> {
    pub correlation_id: u64,
    /// Who answered, and in which leader epoch it was then.
    pub leader_id: i32,
    pub leader_epoch: i32,
    /// Echoed from the request, so a follower drops answers to fetches it
    /// has moved past.
    pub fetch_offset: i64,
    pub result: FetchResult<R>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FetchResult<R> {
    Records {
        batches: Vec<StoredBatch<R>>,
        high_watermark: i64,
        log_start_offset: i64,
    },
    /// The follower's log diverges from the leader's: the leader's largest
    /// epoch `<=` the follower's last fetched epoch, and where it ends
    /// (`epoch = -1` when the leader has no such epoch).
    Diverging {
        epoch: i32,
        end_offset: i64,
    },
    Error(FetchError),
}

impl<R> FetchResponse<R> {
    /// The same answer with each batch's records turned by `f` (the
    /// transport's byte type and the log's are different types).
    pub fn map_records<S>(self, mut f: impl FnMut(R) -> S) -> FetchResponse<S> {
        let result = match self.result {
            FetchResult::Records {
                batches,
                high_watermark,
                log_start_offset,
            } => FetchResult::Records {
                batches: batches
                    .into_iter()
                    .map(|b| StoredBatch {
                        base_offset: b.base_offset,
                        epoch: b.epoch,
                        record_count: b.record_count,
                        records: f(b.records),
                    })
                    .collect(),
                high_watermark,
                log_start_offset,
            },
            FetchResult::Diverging { epoch, end_offset } => {
                FetchResult::Diverging { epoch, end_offset }
            }
            FetchResult::Error(e) => FetchResult::Error(e),
        };
        FetchResponse {
            correlation_id: self.correlation_id,
            leader_id: self.leader_id,
            leader_epoch: self.leader_epoch,
            fetch_offset: self.fetch_offset,
            result,
        }
    }

    /// Whether the answer carries nothing for the follower to act on:
    /// records with no batch (a long poll may wait for more).
    pub fn is_empty(&self) -> bool {
        matches!(&self.result, FetchResult::Records { batches, .. } if batches.is_empty())
    }
}

/// Kafka's error codes for a replica fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FetchError {
    NotLeaderOrFollower,
    /// The fetcher follows an older epoch than the leader's.
    FencedLeaderEpoch,
    /// The fetcher follows a newer epoch than the leader knows.
    UnknownLeaderEpoch,
    /// The fetch offset is outside the leader's log: below its start
    /// (retention deleted it) or past its end.
    OffsetOutOfRange {
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// Not one of the partition's replicas.
    UnknownReplica,
}

/// Why a produce request failed (Kafka's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProduceError {
    NotLeaderOrFollower,
    /// acks=all and the ISR is below `min.insync.replicas`: nothing appended.
    NotEnoughReplicas,
    /// acks=all, appended and committed, but the ISR shrank below
    /// `min.insync.replicas` meanwhile.
    NotEnoughReplicasAfterAppend,
}

//! ListOffsets: earliest (-2), latest (-1), by timestamp, the largest
//! timestamp (-3, v7), the earliest local offset (-4, v8) and the latest
//! tiered offset (-5, v9; odradek has no tiered storage).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::kafka::error_code::{self, code};
use crate::log::LogError;

const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
/// KIP-734: the offset of the record with the largest timestamp.
const MAX_TIMESTAMP: i64 = -3;
/// KIP-405: the first offset still on local storage; without tiered storage,
/// the log start.
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// KIP-1005: the last offset in tiered storage; without it, Kafka answers
/// offset -1.
const LATEST_TIERED_TIMESTAMP: i64 = -5;

use crate::core::partition::leader_epoch_fencing::check_current_leader_epoch;
use crate::kafka::leader_epoch_field::requested_epoch;
use crate::server::broker::Broker;
use crate::server::partition_handle::PartitionHandle;

/// An answer: the offset, its timestamp (-1 for the special times) and the
/// leader epoch Kafka reports with it (v4+).
struct Found {
    offset: i64,
    timestamp: i64,
    leader_epoch: Option<i32>,
}

/// Kafka's `Partition.fetchOffsetForTimestamp` / `UnifiedLog.fetchOffsetByTimestamp`
/// for a consumer (read uncommitted, bounded by the high watermark), with
/// the leader epoch each case answers: latest → the partition's epoch;
/// earliest → the first cached epoch if it starts at or before the log start;
/// a record found by time → the epoch of its batch (the cache's epoch for
/// its offset: the cache starts an epoch at its first batch).
fn find(handle: &PartitionHandle, timestamp: i64) -> Result<Option<Found>, i16> {
    let (log_start, high_watermark, leader_epoch, earliest_epoch) = handle.with_epochs(|view| {
        let earliest = view
            .cache
            .earliest_entry()
            .filter(|(_, start)| *start <= view.log_start_offset)
            .map(|(epoch, _)| epoch);
        (
            view.log_start_offset,
            view.high_watermark,
            view.leader_epoch,
            earliest,
        )
    });
    let special = |offset, leader_epoch| {
        Ok(Some(Found {
            offset,
            timestamp: -1,
            leader_epoch,
        }))
    };
    let by_record = |found: Result<Option<(i64, i64)>, LogError>| {
        let found = found.map_err(|e| error_code::for_log_error(&e))?;
        Ok(found.map(|(offset, timestamp)| Found {
            offset,
            timestamp,
            leader_epoch: handle.with_epochs(|view| view.cache.epoch_for_offset(offset)),
        }))
    };
    match timestamp {
        LATEST_TIMESTAMP => special(high_watermark, Some(leader_epoch)),
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => special(log_start, earliest_epoch),
        // Kafka's broker answers the special times at any version (its
        // clients send them from v7, v8, v9).
        MAX_TIMESTAMP => by_record(handle.offset_for_max_timestamp()),
        LATEST_TIERED_TIMESTAMP => Ok(None),
        ts if ts < 0 => Err(code(ResponseError::InvalidRequest)),
        ts => by_record(handle.offset_for_timestamp(ts)),
    }
}

pub fn handle(broker: &Broker, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let handle = match broker.serving_partition(&name, p.partition_index) {
                        Ok(handle) => handle,
                        Err(e) => {
                            return response
                                .with_error_code(error_code::for_partition_unavailable(&e))
                                .with_offset(-1)
                                .with_timestamp(-1)
                        }
                    };
                    let current = requested_epoch(p.current_leader_epoch);
                    let fenced = handle
                        .with_epochs(|view| check_current_leader_epoch(view.leader_epoch, current));
                    if let Err(e) = fenced {
                        return response
                            .with_error_code(error_code::for_epoch_fencing(&e))
                            .with_offset(-1)
                            .with_timestamp(-1);
                    }
                    // Kafka's Partition.fetchOffsetForTimestamp: a new
                    // leader whose high watermark has not reached the
                    // start of its epoch may be below offsets the last
                    // leader acknowledged; answering it would send a
                    // client back (the Jepsen harness's final read found
                    // an acknowledged record missing this way). Retriable.
                    if handle.high_watermark_lags_epoch_start()
                        && !broker.config.bugs.list_offsets_before_hw
                    {
                        return response
                            .with_error_code(code(ResponseError::OffsetNotAvailable))
                            .with_offset(-1)
                            .with_timestamp(-1);
                    }
                    let found = find(&handle, p.timestamp);
                    match found {
                        Ok(Some(found)) => {
                            let response = response
                                .with_offset(found.offset)
                                .with_timestamp(found.timestamp);
                            match found.leader_epoch {
                                Some(epoch) if version >= 4 => response.with_leader_epoch(epoch),
                                _ => response,
                            }
                        }
                        Ok(None) => response.with_offset(-1).with_timestamp(-1),
                        Err(error) => response
                            .with_error_code(error)
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

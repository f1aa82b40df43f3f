//! ListOffsets: earliest (-2), latest (-1), by timestamp, the largest
//! timestamp (-3, v7), the earliest local offset (-4, v8) and the latest
//! tiered offset (-5, v9; odradek has no tiered storage).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::kafka::error_code::{self, code};

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

use crate::server::broker::Broker;

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
                    let (log_start, high_watermark, _) = handle.offsets();
                    let found = match p.timestamp {
                        LATEST_TIMESTAMP => Ok(Some((high_watermark, -1))),
                        EARLIEST_TIMESTAMP => Ok(Some((log_start, -1))),
                        // Kafka's broker answers the special times at any
                        // version (its clients send them from v7, v8, v9).
                        MAX_TIMESTAMP => handle
                            .offset_for_max_timestamp()
                            .map_err(|e| error_code::for_log_error(&e)),
                        EARLIEST_LOCAL_TIMESTAMP => Ok(Some((log_start, -1))),
                        LATEST_TIERED_TIMESTAMP => Ok(None),
                        ts if ts < 0 => Err(code(ResponseError::InvalidRequest)),
                        ts => handle
                            .offset_for_timestamp(ts)
                            .map_err(|e| error_code::for_log_error(&e)),
                    };
                    let response = match found {
                        Ok(Some((offset, timestamp))) => {
                            response.with_offset(offset).with_timestamp(timestamp)
                        }
                        Ok(None) => response.with_offset(-1).with_timestamp(-1),
                        Err(error) => response
                            .with_error_code(error)
                            .with_offset(-1)
                            .with_timestamp(-1),
                    };
                    if version >= 4 {
                        response.with_leader_epoch(handle.leader_epoch())
                    } else {
                        response
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

//! Manual replica assignments in CreateTopics and CreatePartitions, checked
//! as Kafka's controller checks them (ReplicationControlManager): every
//! partition names registered brokers, none twice, all with the same number
//! of replicas, and CreateTopics' partition ids form 0..n. A valid
//! assignment can only place replicas where the controller would anyway
//! (one node: this node once per partition), so it is turned into a
//! partition count and replication factor for the controller.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use crate::core::metadata::MetadataImage;
use crate::kafka::error_code::code;

/// Why an assignment was refused: the Kafka error code and its message.
pub type Refusal = (i16, String);

fn invalid(message: String) -> Refusal {
    (code(ResponseError::InvalidReplicaAssignment), message)
}

/// One partition's replicas, as Kafka's `validateManualPartitionAssignment`
/// checks them; `replication_factor` is what the earlier partitions (or the
/// existing topic) have.
fn check_partition(
    image: &MetadataImage,
    replicas: &[i32],
    replication_factor: Option<usize>,
) -> Result<(), Refusal> {
    if replicas.is_empty() {
        return Err(invalid(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    for (i, broker) in sorted.iter().enumerate() {
        if !image.brokers.contains_key(broker) {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            )));
        }
        if i > 0 && sorted[i - 1] == *broker {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            )));
        }
    }
    match replication_factor {
        Some(rf) if rf != sorted.len() => Err(invalid(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
            sorted.len()
        ))),
        _ => Ok(()),
    }
}

/// CreateTopics' `assignments` (partition index, replicas) with the request's
/// partition count and replication factor, which must both be -1. Answers
/// the partition count and replication factor the assignment describes.
pub fn for_new_topic(
    image: &MetadataImage,
    assignments: &[(i32, Vec<i32>)],
    num_partitions: i32,
    replication_factor: i16,
) -> Result<(i32, i16), Refusal> {
    if replication_factor != -1 {
        return Err((
            code(ResponseError::InvalidRequest),
            "A manual partition assignment was specified, but replication factor was not set to -1."
                .into(),
        ));
    }
    if num_partitions != -1 {
        return Err((
            code(ResponseError::InvalidRequest),
            "A manual partition assignment was specified, but numPartitions was not set to -1."
                .into(),
        ));
    }
    let mut seen = BTreeMap::new();
    let mut rf = None;
    for (index, replicas) in assignments {
        if seen.contains_key(index) {
            return Err(invalid(format!(
                "Found multiple manual partition assignments for partition {index}"
            )));
        }
        check_partition(image, replicas, rf)?;
        rf = Some(replicas.len());
        seen.insert(*index, ());
    }
    // Distinct ids that are exactly 0..n: the largest is n - 1.
    let n = seen.len();
    let consecutive = seen.keys().enumerate().all(|(i, id)| *id == i as i32);
    if !consecutive {
        return Err(invalid(
            "partitions should be a consecutive 0-based integer sequence".into(),
        ));
    }
    let partitions = i32::try_from(n).unwrap_or(i32::MAX);
    let rf = i16::try_from(rf.unwrap_or(0)).unwrap_or(i16::MAX);
    Ok((partitions, rf))
}

/// CreatePartitions' `assignments` for the `additional` new partitions of a
/// topic whose partitions have `replication_factor` replicas.
pub fn for_new_partitions(
    image: &MetadataImage,
    assignments: &[Vec<i32>],
    additional: usize,
    replication_factor: usize,
) -> Result<(), Refusal> {
    if assignments.len() != additional {
        return Err(invalid(format!(
            "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        )));
    }
    for replicas in assignments {
        check_partition(image, replicas, Some(replication_factor))?;
    }
    Ok(())
}

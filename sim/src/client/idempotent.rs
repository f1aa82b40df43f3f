//! The idempotent producer's client side (KIP-98), as real clients do it:
//! InitProducerId gives a producer id at an epoch; every batch to a
//! partition carries the next sequence numbers of that partition; a batch
//! whose answer was lost (timeout, dropped connection, retriable error) is
//! resent as the very same bytes, same sequence, so the broker can recognise
//! the copy and answer it with the original offsets instead of appending it.
//!
//! One batch in flight per producer (and so per partition): a batch is not
//! numbered until the previous one is acknowledged or abandoned. An
//! abandoned batch (out of attempts, or OUT_OF_ORDER_SEQUENCE_NUMBER /
//! UNKNOWN_PRODUCER_ID / INVALID_PRODUCER_EPOCH) may or may not be stored, so
//! its sequence cannot be reused or skipped: the producer starts over with a
//! new InitProducerId, like the Java client resetting its producer id.
//!
//! The retry loop itself is the workload's: it owns connections and
//! timeouts, and records every attempt.

use std::collections::BTreeMap;

use kafka_protocol::error::ParseResponseErrorCode;
use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};

use super::{ApiVersionsInUse, BatchIdentity, ClientError, Connection};

/// OUT_OF_ORDER_SEQUENCE_NUMBER: the broker expected another sequence.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// INVALID_PRODUCER_EPOCH: an older epoch than the broker knows.
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// UNKNOWN_PRODUCER_ID: the broker has no state for the producer.
pub const UNKNOWN_PRODUCER_ID: i16 = 59;
/// PRODUCER_FENCED: a newer producer took the id over.
pub const PRODUCER_FENCED: i16 = 90;

/// The producer id and epoch InitProducerId handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Asks the broker for a producer id (no transactional id).
pub async fn init_producer_id(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
) -> Result<ProducerIdentity, ClientError> {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let response = connection.call(&request, versions.init_producer_id).await?;
    if response.error_code != 0 {
        return Err(ClientError::kafka(response.error_code));
    }
    if response.producer_id.0 < 0 || response.producer_epoch < 0 {
        return Err(ClientError::Protocol(format!(
            "InitProducerId answered producer {} epoch {}",
            response.producer_id.0, response.producer_epoch
        )));
    }
    Ok(ProducerIdentity {
        producer_id: response.producer_id.0,
        producer_epoch: response.producer_epoch,
    })
}

/// What to do after an attempt to deliver a batch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// The answer was lost or the error is transient: resend the same batch.
    Resend,
    /// The broker refused the producer's state (or the error is final):
    /// abandon the batch and start over with a new InitProducerId.
    Reinit,
}

/// How an idempotent producer treats a failed attempt.
pub fn after_failure(error: &ClientError) -> AfterFailure {
    match error {
        ClientError::Io(_) | ClientError::Protocol(_) => AfterFailure::Resend,
        ClientError::Kafka { code, .. } => match *code {
            OUT_OF_ORDER_SEQUENCE_NUMBER
            | INVALID_PRODUCER_EPOCH
            | UNKNOWN_PRODUCER_ID
            | PRODUCER_FENCED => AfterFailure::Reinit,
            code if code.err().is_some_and(|e| e.is_retriable()) => AfterFailure::Resend,
            _ => AfterFailure::Reinit,
        },
    }
}

/// Sequence numbers wrap from `i32::MAX` to 0.
fn add_sequence(sequence: i32, count: usize) -> i32 {
    ((i64::from(sequence) + count as i64) % (i64::from(i32::MAX) + 1)) as i32
}

/// One idempotent producer's identity and, per partition, the sequence of
/// its next batch.
#[derive(Debug, Default)]
pub struct IdempotentProducer {
    identity: Option<ProducerIdentity>,
    next_sequence: BTreeMap<i32, i32>,
}

impl IdempotentProducer {
    /// The current identity; `None` until (re)initialised.
    pub fn identity(&self) -> Option<ProducerIdentity> {
        self.identity
    }

    /// Takes a fresh identity: every partition starts again at sequence 0.
    pub fn initialised(&mut self, identity: ProducerIdentity) {
        self.identity = Some(identity);
        self.next_sequence.clear();
    }

    /// Forgets the identity (the next batch needs a new InitProducerId).
    pub fn reset(&mut self) {
        self.identity = None;
        self.next_sequence.clear();
    }

    /// The identity of the next batch to `partition`; `None` if not
    /// initialised.
    pub fn next_batch(&self, partition: i32) -> Option<BatchIdentity> {
        let identity = self.identity?;
        Some(BatchIdentity {
            producer_id: identity.producer_id,
            producer_epoch: identity.producer_epoch,
            base_sequence: self.next_sequence.get(&partition).copied().unwrap_or(0),
        })
    }

    /// The batch of `count` records to `partition` was acknowledged.
    pub fn acknowledged(&mut self, partition: i32, count: usize) {
        let next = self.next_sequence.entry(partition).or_insert(0);
        *next = add_sequence(*next, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_advance_per_partition_and_restart_on_init() {
        let mut producer = IdempotentProducer::default();
        assert_eq!(producer.next_batch(0), None);
        let identity = ProducerIdentity {
            producer_id: 7,
            producer_epoch: 0,
        };
        producer.initialised(identity);
        assert_eq!(producer.next_batch(0).unwrap().base_sequence, 0);
        producer.acknowledged(0, 3);
        producer.acknowledged(1, 2);
        assert_eq!(producer.next_batch(0).unwrap().base_sequence, 3);
        assert_eq!(producer.next_batch(1).unwrap().base_sequence, 2);
        producer.initialised(ProducerIdentity {
            producer_id: 8,
            producer_epoch: 0,
        });
        let next = producer.next_batch(0).unwrap();
        assert_eq!((next.producer_id, next.base_sequence), (8, 0));
    }

    #[test]
    fn sequences_wrap_to_zero() {
        assert_eq!(add_sequence(i32::MAX, 1), 0);
        assert_eq!(add_sequence(i32::MAX - 1, 3), 1);
    }

    #[test]
    fn lost_answers_resend_and_state_errors_reinit() {
        assert_eq!(
            after_failure(&ClientError::Io("request timed out".into())),
            AfterFailure::Resend
        );
        assert_eq!(after_failure(&ClientError::kafka(7)), AfterFailure::Resend);
        assert_eq!(after_failure(&ClientError::kafka(56)), AfterFailure::Resend);
        assert_eq!(
            after_failure(&ClientError::kafka(OUT_OF_ORDER_SEQUENCE_NUMBER)),
            AfterFailure::Reinit
        );
        assert_eq!(
            after_failure(&ClientError::kafka(UNKNOWN_PRODUCER_ID)),
            AfterFailure::Reinit
        );
        assert_eq!(after_failure(&ClientError::kafka(87)), AfterFailure::Reinit);
    }

    #[test]
    fn idempotent_batch_carries_identity_and_sequences() {
        use kafka_protocol::records::RecordBatchDecoder;
        let values: Vec<String> = ["a", "b", "c"].iter().map(|v| v.to_string()).collect();
        let identity = BatchIdentity {
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: 10,
        };
        let mut bytes = super::super::encode_batch_as(&values, 5, Some(identity)).unwrap();
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        assert_eq!(set.records.len(), 3);
        for (index, record) in set.records.iter().enumerate() {
            assert_eq!(record.producer_id, 42);
            assert_eq!(record.producer_epoch, 3);
            assert_eq!(record.sequence, 10 + index as i32);
        }
        assert!(bytes.is_empty(), "one batch");
    }
}

//! Property tests of [`ProducerStateTable`] against a reference model that
//! keeps every appended batch (not only the last five) and decides by
//! scanning that history. Clients send in order, retry any earlier batch,
//! skip sequences, bump their epoch and send with a stale one; one producer
//! starts near `i32::MAX` so sequences wrap.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::core::producer_state::sequence::{in_sequence, increment_sequence};
use crate::core::producer_state::table::{
    ProducerBatch, ProducerError, ProducerStateTable, Verdict, BATCHES_PER_PRODUCER_MAX,
};
use crate::log::record_batch::BatchHeader;

const PRODUCERS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Send {
        producer: usize,
        records: i32,
    },
    Resend {
        producer: usize,
        back: usize,
    },
    Gap {
        producer: usize,
        records: i32,
        skip: i32,
    },
    Bump {
        producer: usize,
    },
    Stale {
        producer: usize,
    },
    NonIdempotent {
        records: i32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PRODUCERS;
    prop_oneof![
        6 => (p.clone(), 1..4i32).prop_map(|(producer, records)| Op::Send { producer, records }),
        4 => (p.clone(), 0..9usize).prop_map(|(producer, back)| Op::Resend { producer, back }),
        1 => (p.clone(), 1..3i32, 1..3i32).prop_map(|(producer, records, skip)| Op::Gap { producer, records, skip }),
        1 => p.clone().prop_map(|producer| Op::Bump { producer }),
        1 => p.prop_map(|producer| Op::Stale { producer }),
        1 => (1..3i32).prop_map(|records| Op::NonIdempotent { records }),
    ]
}

/// What the reference model answers, without offsets for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Append,
    Duplicate(i64, i64),
    OutOfOrder,
    InvalidEpoch,
}

fn answer_of(result: Result<Verdict, ProducerError>) -> Answer {
    match result {
        Ok(Verdict::Append) => Answer::Append,
        Ok(Verdict::Duplicate {
            base_offset,
            last_offset,
        }) => Answer::Duplicate(base_offset, last_offset),
        Err(ProducerError::OutOfOrderSequence { .. }) => Answer::OutOfOrder,
        Err(ProducerError::InvalidProducerEpoch { .. }) => Answer::InvalidEpoch,
        Err(e) => panic!("unexpected {e}"),
    }
}

/// (epoch, first seq, last seq, first offset, last offset) of every appended batch.
type History = Vec<(i16, i32, i32, i64, i64)>;

#[derive(Default)]
struct Model {
    producers: BTreeMap<i64, History>,
}

impl Model {
    fn answer(&self, b: &ProducerBatch) -> Answer {
        if b.producer_id < 0 {
            return Answer::Append;
        }
        let Some(history) = self.producers.get(&b.producer_id) else {
            return Answer::Append;
        };
        let &(epoch, _, last_seq, _, _) = history.last().expect("non-empty history");
        let last_sequence = increment_sequence(b.base_sequence, b.last_offset_delta);
        let recent = history
            .iter()
            .rev()
            .take_while(|h| h.0 == epoch)
            .take(BATCHES_PER_PRODUCER_MAX);
        for h in recent {
            if b.producer_epoch == epoch && h.1 == b.base_sequence && h.2 == last_sequence {
                return Answer::Duplicate(h.3, h.4);
            }
        }
        if b.producer_epoch < epoch {
            Answer::InvalidEpoch
        } else if b.producer_epoch > epoch {
            if b.base_sequence == 0 {
                Answer::Append
            } else {
                Answer::OutOfOrder
            }
        } else if in_sequence(last_seq, b.base_sequence) {
            Answer::Append
        } else {
            Answer::OutOfOrder
        }
    }

    fn append(&mut self, b: &ProducerBatch, base_offset: i64) {
        if b.producer_id < 0 {
            return;
        }
        let last_offset = base_offset + b.last_offset_delta as i64;
        self.producers.entry(b.producer_id).or_default().push((
            b.producer_epoch,
            b.base_sequence,
            increment_sequence(b.base_sequence, b.last_offset_delta),
            base_offset,
            last_offset,
        ));
    }
}

struct Client {
    producer_id: i64,
    epoch: i16,
    next_sequence: i32,
    sent: Vec<ProducerBatch>,
}

fn header(b: &ProducerBatch, base_offset: i64) -> BatchHeader {
    BatchHeader {
        base_offset,
        size_bytes: 61,
        partition_leader_epoch: 0,
        crc: 0,
        attributes: 0,
        last_offset_delta: b.last_offset_delta,
        base_timestamp_ms: b.max_timestamp_ms,
        max_timestamp_ms: b.max_timestamp_ms,
        producer_id: b.producer_id,
        producer_epoch: b.producer_epoch,
        base_sequence: b.base_sequence,
        records_count: b.last_offset_delta + 1,
    }
}

proptest! {
    #![proptest_config(crate::test_support::proptest_config(256))]

    #[test]
    fn table_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..120), snapshot_at in 0usize..120) {
        let mut clients: Vec<Client> = (0..PRODUCERS)
            .map(|p| Client {
                producer_id: 100 + p as i64,
                epoch: 1,
                next_sequence: if p == 2 { i32::MAX - 4 } else { 0 },
                sent: Vec::new(),
            })
            .collect();
        let mut table = ProducerStateTable::new(0);
        let mut model = Model::default();
        let mut log: Vec<BatchHeader> = Vec::new();
        let mut snapshot: Option<(Vec<u8>, usize)> = None;
        for (step, op) in ops.iter().enumerate() {
            if step == snapshot_at {
                snapshot = Some((table.snapshot(), log.len()));
            }
            let now_ms = 1_000 + step as i64;
            let batch = match *op {
                Op::Send { producer, records } | Op::Gap { producer, records, .. } => {
                    let c = &mut clients[producer];
                    let skip = if let Op::Gap { skip, .. } = op { *skip } else { 0 };
                    let base_sequence = increment_sequence(c.next_sequence, skip);
                    let b = ProducerBatch {
                        producer_id: c.producer_id,
                        producer_epoch: c.epoch,
                        base_sequence,
                        last_offset_delta: records - 1,
                        max_timestamp_ms: now_ms,
                        is_control: false,
                    };
                    if skip == 0 {
                        c.next_sequence = increment_sequence(base_sequence, records);
                        c.sent.push(b);
                    }
                    b
                }
                Op::Resend { producer, back } => {
                    let c = &clients[producer];
                    if c.sent.is_empty() {
                        continue;
                    }
                    c.sent[c.sent.len() - 1 - back.min(c.sent.len() - 1)]
                }
                Op::Bump { producer } => {
                    let c = &mut clients[producer];
                    c.epoch += 1;
                    c.next_sequence = 0;
                    continue;
                }
                Op::Stale { producer } => {
                    let c = &clients[producer];
                    ProducerBatch {
                        producer_id: c.producer_id,
                        producer_epoch: c.epoch - 1,
                        base_sequence: c.next_sequence,
                        last_offset_delta: 0,
                        max_timestamp_ms: now_ms,
                        is_control: false,
                    }
                }
                Op::NonIdempotent { records } => ProducerBatch {
                    producer_id: -1,
                    producer_epoch: -1,
                    base_sequence: -1,
                    last_offset_delta: records - 1,
                    max_timestamp_ms: now_ms,
                    is_control: false,
                },
            };
            let got = answer_of(table.check(&batch));
            prop_assert_eq!(got, model.answer(&batch), "batch {:?}", batch);
            prop_assert_eq!(answer_of(table.check_batches(&[batch])), got);
            match got {
                Answer::Append => {
                    let base = table.map_end_offset();
                    table.on_appended(&batch, base);
                    model.append(&batch, base);
                    log.push(header(&batch, base));
                }
                Answer::Duplicate(first, last) => {
                    let original = log.iter().find(|h| h.base_offset == first).expect("points at a batch");
                    prop_assert_eq!(original.last_offset(), last);
                    prop_assert_eq!(
                        (original.producer_id, original.producer_epoch, original.base_sequence),
                        (batch.producer_id, batch.producer_epoch, batch.base_sequence)
                    );
                }
                Answer::OutOfOrder | Answer::InvalidEpoch => {}
            }
        }

        // No duplicate and no gap: within an epoch each producer's batches
        // in the log continue each other's sequences.
        let mut last: BTreeMap<i64, (i16, i32)> = BTreeMap::new();
        for h in log.iter().filter(|h| h.producer_id >= 0) {
            if let Some(&(epoch, last_seq)) = last.get(&h.producer_id) {
                if epoch == h.producer_epoch {
                    prop_assert!(in_sequence(last_seq, h.base_sequence), "log has a gap or duplicate at {}", h.base_offset);
                } else {
                    prop_assert!(h.producer_epoch > epoch && h.base_sequence == 0);
                }
            }
            last.insert(h.producer_id, (h.producer_epoch, increment_sequence(h.base_sequence, h.last_offset_delta)));
        }

        // Recovery paths reach the same table.
        prop_assert_eq!(&ProducerStateTable::rebuild_from(0, &log), &table);
        prop_assert_eq!(&ProducerStateTable::load(&table.snapshot()).unwrap(), &table);
        if let Some((bytes, log_len)) = snapshot {
            let mut loaded = ProducerStateTable::load(&bytes).unwrap();
            loaded.replay(&log[log_len..]);
            prop_assert_eq!(&loaded, &table);
            // Replaying from the start skips what the snapshot already holds.
            let mut again = ProducerStateTable::load(&bytes).unwrap();
            again.replay(&log);
            prop_assert_eq!(&again, &table);
        }
    }
}

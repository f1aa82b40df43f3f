//! The cost of checking each batch's CRC-32C on the fetch read path (the
//! defence against latent sector errors: a rotted batch is refused, never
//! served), side by side with the same reads unchecked (what the
//! `no-crc-check` bug switch does). A 1 MiB `PartitionLog::read` at random
//! offsets of a log on the real file system (served from the page cache).
//!
//! Benchmarks measure; nothing here asserts a timing.
//!
//! Run: `cargo bench --bench fetch_crc`.

use std::hint::black_box;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use odradek::io::disk::Disk;
use odradek::io::real_disk::RealDisk;
use odradek::log::record_batch::validate_produced;
use odradek::log::{LogConfig, PartitionLog};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 100;
const MAX_BATCH_SIZE_BYTES: usize = 1_048_588;
const NOW_MS: i64 = 1_700_000_000_000;
const FILLED_LOG_BYTES: usize = 32 << 20;
const FETCH_MAX_BYTES: usize = 1 << 20;

/// One uncompressed v2 batch as a plain producer sends it.
fn producer_batch() -> Vec<u8> {
    let records: Vec<Record> = (0..RECORDS_PER_BATCH)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp: NOW_MS,
            key: None,
            value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; VALUE_BYTES])),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode batch");
    buf.to_vec()
}

fn bench_fetch_crc(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new(dir.path()));
    let (mut log, _) = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(PartitionLog::open(
            disk,
            "bench-0",
            LogConfig::default(),
            NOW_MS,
        ))
        .expect("open log");
    let mut batch = producer_batch();
    while (log.size_bytes() as usize) < FILLED_LOG_BYTES {
        let headers = validate_produced(&batch, MAX_BATCH_SIZE_BYTES).expect("valid batch");
        log.append(&mut batch, &headers, 1, NOW_MS).expect("append");
    }
    let end = log.log_end_offset();
    let records_per_read = (FETCH_MAX_BYTES / batch.len() + 2) * RECORDS_PER_BATCH;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let offsets: Vec<i64> = (0..1024)
        .map(|_| rng.gen_range(0..end - records_per_read as i64))
        .collect();
    let total: usize = offsets
        .iter()
        .map(|o| log.read(*o, FETCH_MAX_BYTES, end).expect("read").len())
        .sum();
    let mut group = c.benchmark_group("fetch_crc");
    group.throughput(Throughput::Bytes((total / offsets.len()) as u64));
    for (name, verify) in [("crc_checked", true), ("unchecked", false)] {
        let config = LogConfig {
            verify_crc_on_recovery: verify,
            ..*log.config()
        };
        log.set_config(config);
        group.bench_function(name, |b| {
            let mut next = offsets.iter().cycle();
            b.iter(|| {
                let offset = *next.next().expect("cycle never ends");
                black_box(log.read(offset, FETCH_MAX_BYTES, end).expect("read"))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_fetch_crc);
criterion_main!(benches);

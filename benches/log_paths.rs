//! Micro benchmarks of the partition log's two hot paths, through its public API:
//!
//! - `append`: `validate_produced` (header parse + CRC-32C) followed by `PartitionLog::append`
//!   of one producer batch, on the real file system and on the in-memory `SimDisk` side by side,
//!   so the cost of the log's own bookkeeping can be told apart from the cost of the write.
//! - `fetch_read`: a 1 MiB `PartitionLog::read` at random offsets of a pre-filled log on the
//!   real file system (served from the page cache, as a consumer that keeps up is).
//! - `validate_produced`: wave 1's header + CRC-32C check next to the full produce validation
//!   (`client_batch`: every record decoded, as Kafka's LogValidator does), side by side.
//!
//! Benchmarks measure; nothing here asserts a timing.
//!
//! Run: `cargo bench --bench log_paths`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use odradek::io::disk::Disk;
use odradek::io::real_disk::RealDisk;
use odradek::io::sim_disk::{SimDisk, SimDiskFaults};
use odradek::log::client_batch::{validate_client_records, ValidationRules};
use odradek::log::record_batch::validate_produced;
use odradek::log::{LogConfig, PartitionLog};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Records per producer batch and bytes per record value: a typical small-message batch
/// (librdkafka with linger fills batches of this order under load).
const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 100;
/// The broker's default `max.message.bytes`; validation must not reject our batches.
const MAX_BATCH_SIZE_BYTES: usize = 1_048_588;
/// A fixed clock: no segment rolls by age during a run.
const NOW_MS: i64 = 1_700_000_000_000;
/// Appends before the append benchmark starts over on an empty log (outside the timed part).
/// Bounds the memory `SimDisk` holds and the disk space `RealDisk` uses (~45 MB), and keeps
/// every append in one segment so the runs compare like with like.
const APPENDS_PER_LOG: u64 = 4096;
/// Bytes of the fetch-read benchmark's log, and the size of one read.
const FILLED_LOG_BYTES: usize = 64 << 20;
const FETCH_MAX_BYTES: usize = 1 << 20;

/// One uncompressed v2 batch as a producer would send it.
fn producer_batch(records: usize, value_bytes: usize) -> Vec<u8> {
    let records: Vec<Record> = (0..records)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch whenever `offset - sequence` changes; counting
            // up from -1 keeps all records in one batch whose base sequence is -1 (no
            // idempotence), as a plain producer sends it.
            sequence: i as i32 - 1,
            timestamp: NOW_MS,
            key: None,
            value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; value_bytes])),
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

/// A disk to run the append benchmark on, made afresh for each new log.
enum DiskKind {
    Real,
    Sim,
}

/// An empty log on a fresh disk; the returned guard keeps a real disk's directory alive.
fn fresh_log(kind: &DiskKind) -> (PartitionLog, Option<tempfile::TempDir>) {
    let (disk, dir): (Arc<dyn Disk>, _) = match kind {
        DiskKind::Real => {
            let dir = tempfile::TempDir::new().expect("temp dir");
            (Arc::new(RealDisk::new(dir.path())), Some(dir))
        }
        // A new SimDisk each time, so the bytes of the previous log are freed.
        DiskKind::Sim => (Arc::new(SimDisk::new(0, SimDiskFaults::default())), None),
    };
    let (log, _report) = open_log(disk);
    (log, dir)
}

/// Opens a log; a RealDisk's sync needs a tokio runtime for its blocking pool.
fn open_log(disk: Arc<dyn Disk>) -> (PartitionLog, odradek::log::RecoveryReport) {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(PartitionLog::open(
            disk,
            "bench-0",
            LogConfig::default(),
            NOW_MS,
        ))
        .expect("open log")
}

fn bench_append(c: &mut Criterion) {
    let mut batch = producer_batch(RECORDS_PER_BATCH, VALUE_BYTES);
    // The encoder decides the framing; say what the throughput figures are per.
    let batches = validate_produced(&batch, MAX_BATCH_SIZE_BYTES)
        .expect("valid batch")
        .len();
    eprintln!("record set: {} bytes in {batches} batch(es)", batch.len());
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    for (name, kind) in [("real_disk", DiskKind::Real), ("sim_disk", DiskKind::Sim)] {
        group.bench_function(name, |b| {
            // iter_custom: starting over on a new log every APPENDS_PER_LOG appends must not
            // be timed, and iter_batched would time a setup per iteration instead.
            b.iter_custom(|iters| {
                let (mut log, mut dir) = fresh_log(&kind);
                let mut elapsed = Duration::ZERO;
                let mut appended = 0u64;
                for _ in 0..iters {
                    if appended == APPENDS_PER_LOG {
                        drop(log);
                        drop(dir);
                        (log, dir) = fresh_log(&kind);
                        appended = 0;
                    }
                    // The same buffer is appended again and again: append patches only the
                    // base offset and leader epoch, which lie outside the CRC.
                    let start = Instant::now();
                    let headers =
                        validate_produced(&batch, MAX_BATCH_SIZE_BYTES).expect("valid batch");
                    let info = log.append(&mut batch, &headers, 1, NOW_MS).expect("append");
                    elapsed += start.elapsed();
                    black_box(info);
                    appended += 1;
                }
                elapsed
            });
        });
    }
    group.finish();
}

fn bench_fetch_read(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new(dir.path()));
    let (mut log, _) = open_log(disk);
    let mut batch = producer_batch(RECORDS_PER_BATCH, VALUE_BYTES);
    while (log.size_bytes() as usize) < FILLED_LOG_BYTES {
        let headers = validate_produced(&batch, MAX_BATCH_SIZE_BYTES).expect("valid batch");
        log.append(&mut batch, &headers, 1, NOW_MS).expect("append");
    }
    let end = log.log_end_offset();
    // Start offsets with at least a full read after them, so every read returns ~1 MiB; a
    // fixed seed makes runs comparable.
    let records_per_read = (FETCH_MAX_BYTES / batch.len() + 2) * RECORDS_PER_BATCH;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let offsets: Vec<i64> = (0..1024)
        .map(|_| rng.gen_range(0..end - records_per_read as i64))
        .collect();
    // Report throughput in the bytes a read really returns (whole batches only).
    let total: usize = offsets
        .iter()
        .map(|o| log.read(*o, FETCH_MAX_BYTES, end).expect("read").len())
        .sum();
    let mut group = c.benchmark_group("fetch_read");
    group.throughput(Throughput::Bytes((total / offsets.len()) as u64));
    group.bench_function("real_disk_1MiB_random", |b| {
        let mut next = offsets.iter().cycle();
        b.iter(|| {
            let offset = *next.next().expect("cycle never ends");
            black_box(log.read(offset, FETCH_MAX_BYTES, end).expect("read"))
        });
    });
    group.finish();
}

fn bench_validate(c: &mut Criterion) {
    let batch = producer_batch(RECORDS_PER_BATCH, VALUE_BYTES);
    let rules = ValidationRules {
        max_batch_size_bytes: MAX_BATCH_SIZE_BYTES,
        compacted: false,
        target_codec: None,
        log_append_time: false,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: i64::MAX,
        now_ms: NOW_MS,
        produce_version: 9,
    };
    let mut group = c.benchmark_group("validate_produced");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    // Wave 1's check (header + CRC) next to Kafka's full validation (every record decoded,
    // the record set's count, structure and max timestamp checked), in one run.
    group.bench_function("header_and_crc/100x100B", |b| {
        b.iter(|| validate_produced(black_box(&batch), MAX_BATCH_SIZE_BYTES).expect("valid"))
    });
    group.bench_function("records_decoded/100x100B", |b| {
        b.iter(|| validate_client_records(black_box(&batch), &rules).expect("valid"))
    });
    group.finish();
}

/// Short runs: the whole file should finish in about a minute on a shared 2-core machine.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_append, bench_fetch_read, bench_validate
}
criterion_main!(benches);

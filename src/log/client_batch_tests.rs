//! The produce validator against honest and lying batches.

use kafka_protocol::records::Compression;

use super::*;
use crate::log::compaction_batch::open_batch;
use crate::log::compaction_batch::test_support::{keyed_batch, Kv};
use crate::log::record_batch::test_support::batch;

fn rules() -> ValidationRules {
    ValidationRules {
        max_batch_size_bytes: 1 << 20,
        compacted: false,
        target_codec: None,
        log_append_time: false,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: i64::MAX,
        now_ms: 5_000,
        produce_version: 9,
    }
}

fn kv(key: Option<&str>, value: &str, ts: i64) -> Kv {
    (
        key.map(|k| k.as_bytes().to_vec()),
        Some(value.as_bytes().to_vec()),
        ts,
    )
}

/// Sets a header field (big-endian) and fixes the CRC, as a lying but
/// careful client would.
fn lie(mut b: Vec<u8>, at: usize, value: &[u8]) -> Vec<u8> {
    b[at..at + value.len()].copy_from_slice(value);
    record_batch::patch_crc(&mut b);
    b
}

fn assert_invalid_record(result: Result<ValidatedBatch, ValidationError>) {
    assert!(
        matches!(result, Err(ValidationError::InvalidRecord { .. })),
        "{result:?}"
    );
}

#[test]
fn an_honest_batch_is_stored_as_sent() {
    let b = batch(&[b"a", b"bc", b"def"], 1000);
    let v = validate_client_records(&b, &rules()).unwrap();
    assert_eq!(v.bytes, b);
    assert_eq!(v.header.records_count, 3);
    assert_eq!(v.log_append_time_ms, -1);
}

#[test]
fn every_codec_validates_in_place() {
    let records = [kv(Some("k1"), "v1", 10), kv(None, "v2", 30)];
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let b = keyed_batch(0, &records, compression, (-1, -1, -1));
        let v = validate_client_records(&b, &rules()).unwrap();
        assert_eq!(v.bytes, b, "{compression:?}");
        assert_eq!(v.header.max_timestamp_ms, 30);
    }
}

#[test]
fn a_record_count_lie_is_refused_even_with_a_good_crc() {
    // The shape of the 300-byte request that poisoned a partition: headers
    // claiming 2^31-1 records over a few bytes, CRCs recomputed.
    let honest = batch(&[b"x"], 1);
    let claims_max = lie(honest.clone(), 57, &i32::MAX.to_be_bytes());
    assert_invalid_record(validate_client_records(&claims_max, &rules()));
    let both = lie(claims_max, 23, &(i32::MAX - 1).to_be_bytes());
    assert_invalid_record(validate_client_records(&both, &rules()));
    // Fewer records claimed than present.
    let two = batch(&[b"x", b"y"], 1);
    let claims_one = lie(lie(two, 57, &1i32.to_be_bytes()), 23, &0i32.to_be_bytes());
    assert_invalid_record(validate_client_records(&claims_one, &rules()));
}

#[test]
fn more_than_one_batch_per_partition_is_refused() {
    let mut two = batch(&[b"a"], 1);
    two.extend(batch(&[b"b"], 2));
    assert_invalid_record(validate_client_records(&two, &rules()));
}

#[test]
fn control_and_transactional_batches_are_refused() {
    let b = batch(&[b"a"], 1);
    let control = lie(b.clone(), 21, &0x20i16.to_be_bytes());
    assert_invalid_record(validate_client_records(&control, &rules()));
    let transactional = lie(b, 21, &0x10i16.to_be_bytes());
    assert!(matches!(
        validate_client_records(&transactional, &rules()),
        Err(ValidationError::NotInTransaction(_))
    ));
}

#[test]
fn an_unknown_codec_or_early_zstd_is_unsupported() {
    let b = batch(&[b"a"], 1);
    let codec6 = lie(b, 21, &6i16.to_be_bytes());
    assert!(matches!(
        validate_client_records(&codec6, &rules()),
        Err(ValidationError::UnsupportedCompression(_))
    ));
    let zstd = keyed_batch(0, &[kv(None, "v", 1)], Compression::Zstd, (-1, -1, -1));
    let old = ValidationRules {
        produce_version: 6,
        ..rules()
    };
    assert!(matches!(
        validate_client_records(&zstd, &old),
        Err(ValidationError::UnsupportedCompression(_))
    ));
}

#[test]
fn an_idempotent_batch_needs_a_sequence() {
    let b = keyed_batch(0, &[kv(None, "v", 1)], Compression::None, (7, 0, 0));
    assert!(validate_client_records(&b, &rules()).is_ok());
    let no_sequence = lie(b, 53, &(-1i32).to_be_bytes());
    assert_invalid_record(validate_client_records(&no_sequence, &rules()));
}

#[test]
fn keyless_records_in_a_compacted_topic_are_named() {
    let b = keyed_batch(
        0,
        &[kv(Some("k"), "a", 1), kv(None, "b", 1), kv(None, "c", 1)],
        Compression::Lz4,
        (-1, -1, -1),
    );
    let compacted = ValidationRules {
        compacted: true,
        ..rules()
    };
    match validate_client_records(&b, &compacted) {
        Err(ValidationError::InvalidRecord { record_errors, .. }) => {
            let indexes: Vec<i32> = record_errors.iter().map(|e| e.batch_index).collect();
            assert_eq!(indexes, vec![1, 2]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_max_timestamp_lie_is_corrected_from_the_records() {
    let b = batch(&[b"a", b"b"], 1_000);
    let lying = lie(b, 35, &9_999_999i64.to_be_bytes());
    let v = validate_client_records(&lying, &rules()).unwrap();
    assert_eq!(v.header.max_timestamp_ms, 1_000);
    assert!(record_batch::parse_verified(&v.bytes).is_ok());
}

#[test]
fn log_append_time_stamps_the_batch() {
    let b = keyed_batch(0, &[kv(None, "v", 1)], Compression::Gzip, (-1, -1, -1));
    let stamped = ValidationRules {
        log_append_time: true,
        ..rules()
    };
    let v = validate_client_records(&b, &stamped).unwrap();
    assert_eq!(v.log_append_time_ms, 5_000);
    assert_eq!(v.header.max_timestamp_ms, 5_000);
    assert_ne!(v.header.attributes & ATTR_LOG_APPEND_TIME, 0);
    // A producer may not claim LogAppendTime itself.
    let claims = lie(batch(&[b"a"], 1), 21, &ATTR_LOG_APPEND_TIME.to_be_bytes());
    assert!(matches!(
        validate_client_records(&claims, &rules()),
        Err(ValidationError::InvalidTimestamp { .. })
    ));
}

#[test]
fn the_topic_codec_recompresses_and_keeps_every_record() {
    let records = [kv(Some("k1"), "v1", 10), kv(Some("k2"), "v2", 20)];
    let b = keyed_batch(0, &records, Compression::None, (3, 1, 40));
    for codec in [1, 2, 3, 4] {
        let to = ValidationRules {
            target_codec: Some(codec),
            ..rules()
        };
        let v = validate_client_records(&b, &to).unwrap();
        assert_eq!(v.header.compression_codec(), codec);
        assert_eq!(
            (
                v.header.producer_id,
                v.header.producer_epoch,
                v.header.base_sequence
            ),
            (3, 1, 40)
        );
        let opened = open_batch(&v.bytes).unwrap();
        let values: Vec<_> = opened
            .records
            .iter()
            .map(|r| (r.key.clone().unwrap(), r.timestamp_ms, r.offset_delta))
            .collect();
        assert_eq!(
            values,
            vec![
                (Bytes::from_static(b"k1"), 10, 0),
                (Bytes::from_static(b"k2"), 20, 1)
            ]
        );
    }
    // And back to uncompressed.
    let gz = keyed_batch(0, &records, Compression::Gzip, (-1, -1, -1));
    let plain = ValidationRules {
        target_codec: Some(0),
        ..rules()
    };
    let v = validate_client_records(&gz, &plain).unwrap();
    assert_eq!(v.header.compression_codec(), 0);
}

#[test]
fn a_gzip_bomb_is_refused_without_expanding_it() {
    use std::io::Write;
    // One "record" section of 256 MiB of zeroes, gzipped to about 256 KiB.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..256 {
        e.write_all(&chunk).unwrap();
    }
    let section = e.finish().unwrap();
    let mut b = batch(&[b"a"], 1);
    b.truncate(BATCH_HEADER_SIZE_BYTES);
    b.extend_from_slice(&section);
    let length = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&length.to_be_bytes());
    let b = lie(b, 21, &1i16.to_be_bytes());
    assert!(matches!(
        validate_client_records(&b, &rules()),
        Err(ValidationError::Corrupt(_))
    ));
}

#[test]
fn truncated_and_random_bytes_are_errors_not_panics() {
    let b = keyed_batch(
        0,
        &[kv(Some("k"), "value", 1), kv(None, "w", 2)],
        Compression::None,
        (-1, -1, -1),
    );
    for cut in 0..b.len() {
        assert!(validate_client_records(&b[..cut], &rules()).is_err());
    }
    // Every single-byte change of the records section, CRC fixed: either
    // refused or still a batch whose records all decode.
    for at in BATCH_HEADER_SIZE_BYTES..b.len() {
        for delta in [1u8, 0x40, 0x80] {
            let mut m = b.clone();
            m[at] = m[at].wrapping_add(delta);
            record_batch::patch_crc(&mut m);
            if let Ok(v) = validate_client_records(&m, &rules()) {
                let opened = open_batch(&v.bytes).expect("a validated batch opens");
                assert_eq!(opened.records.len(), 2);
            }
        }
    }
}

#[test]
fn create_time_records_outside_the_topic_bounds_are_refused_one_by_one() {
    // now = 5000; records may lie at most 1000 ms behind and 100 ms ahead.
    let bounded = ValidationRules {
        timestamp_before_max_ms: 1_000,
        timestamp_after_max_ms: 100,
        ..rules()
    };
    let b = keyed_batch(
        0,
        &[
            kv(None, "in", 4_500),
            kv(None, "old", 3_999),
            kv(None, "edge", 5_100),
            kv(None, "future", 5_101),
        ],
        Compression::None,
        (-1, -1, -1),
    );
    match validate_client_records(&b, &bounded) {
        Err(ValidationError::InvalidTimestamp { record_errors, .. }) => {
            let indexes: Vec<i32> = record_errors.iter().map(|e| e.batch_index).collect();
            assert_eq!(indexes, vec![1, 3]);
            assert!(
                record_errors[0].message.contains("[4000, 5100]"),
                "{}",
                record_errors[0].message
            );
        }
        other => panic!("expected INVALID_TIMESTAMP, got {other:?}"),
    }
    // Without bounds (the default) the same batch is stored.
    assert!(validate_client_records(&b, &rules()).is_ok());
    // Under LogAppendTime the broker stamps the batch: no bound applies.
    let stamped = ValidationRules {
        log_append_time: true,
        ..bounded
    };
    assert!(validate_client_records(&b, &stamped).is_ok());
}

#[test]
fn extreme_client_timestamps_do_not_overflow_the_bound_check() {
    let bounded = ValidationRules {
        timestamp_before_max_ms: 0,
        timestamp_after_max_ms: 0,
        ..rules()
    };
    for ts in [i64::MIN + 1, i64::MAX - 1] {
        let b = keyed_batch(0, &[kv(None, "v", ts)], Compression::None, (-1, -1, -1));
        assert!(matches!(
            validate_client_records(&b, &bounded),
            Err(ValidationError::InvalidTimestamp { .. }) | Err(ValidationError::Corrupt(_))
        ));
    }
}

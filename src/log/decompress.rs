//! Decompression with a bound on the output, checked while decompressing.
//!
//! A record batch's compressed section is client bytes: 1 KiB of gzip or
//! zstd can expand to gigabytes. Every codec here is read as a stream
//! through `take(max + 1)`, so no more than `max_output_bytes + 1` bytes are
//! ever produced (or allocated) before the batch is refused. The codecs are
//! the crates kafka-protocol uses (flate2, snap, lz4, zstd), with Kafka's
//! framings: gzip, snappy (raw or snappy-java's "xerial" blocks), LZ4 frame,
//! zstd frame.

use std::borrow::Cow;
use std::io::Read;

/// Kafka's codec ids (the low 3 bits of a batch's attributes).
pub const CODEC_NONE: i16 = 0;
pub const CODEC_GZIP: i16 = 1;
pub const CODEC_SNAPPY: i16 = 2;
pub const CODEC_LZ4: i16 = 3;
pub const CODEC_ZSTD: i16 = 4;

/// snappy-java's stream header: magic, then version 1 and compatible version 1.
const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
    #[error("decompressed records exceed {max} bytes")]
    TooLarge { max: usize },
    #[error("records do not decompress: {0}")]
    Corrupt(String),
}

/// Decompresses `input` written with Kafka codec `codec`, refusing as soon as
/// the output would exceed `max_output_bytes`. Uncompressed input is
/// borrowed, not copied (the produce path walks it in place), and bounded
/// the same way.
pub fn decompress_bounded(
    codec: i16,
    input: &[u8],
    max_output_bytes: usize,
) -> Result<Cow<'_, [u8]>, DecompressError> {
    let owned = match codec {
        CODEC_NONE => {
            if input.len() > max_output_bytes {
                return Err(DecompressError::TooLarge {
                    max: max_output_bytes,
                });
            }
            return Ok(Cow::Borrowed(input));
        }
        CODEC_GZIP => read_bounded(flate2::read::GzDecoder::new(input), max_output_bytes),
        CODEC_SNAPPY => snappy_bounded(input, max_output_bytes),
        CODEC_LZ4 => {
            let decoder = lz4::Decoder::new(input).map_err(corrupt)?;
            read_bounded(decoder, max_output_bytes)
        }
        CODEC_ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(input).map_err(corrupt)?;
            read_bounded(decoder, max_output_bytes)
        }
        other => Err(DecompressError::UnknownCodec(other)),
    }?;
    Ok(Cow::Owned(owned))
}

fn corrupt(e: impl std::fmt::Display) -> DecompressError {
    DecompressError::Corrupt(e.to_string())
}

/// Reads a decoder to its end, at most `max + 1` bytes: one byte past the
/// bound proves the output too large without producing the rest.
fn read_bounded(decoder: impl Read, max: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let limit = (max as u64).saturating_add(1);
    decoder.take(limit).read_to_end(&mut out).map_err(corrupt)?;
    if out.len() > max {
        return Err(DecompressError::TooLarge { max });
    }
    Ok(out)
}

/// Snappy blocks announce their decompressed length; it is checked against
/// what is left of the bound before anything is allocated for the block.
fn snappy_bounded(input: &[u8], max: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    if !input.starts_with(XERIAL_MAGIC) {
        snappy_block(input, &mut out, max)?;
        return Ok(out);
    }
    let mut rest = &input[XERIAL_MAGIC.len()..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt("truncated snappy block length"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(corrupt("truncated snappy block"));
        }
        let (block, tail) = tail.split_at(len);
        snappy_block(block, &mut out, max)?;
        rest = tail;
    }
    Ok(out)
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(), DecompressError> {
    let len = snap::raw::decompress_len(block).map_err(corrupt)?;
    if len > max.saturating_sub(out.len()) {
        return Err(DecompressError::TooLarge { max });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(corrupt)?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
pub mod test_support {
    //! Compression bombs, built in pieces so a test never holds the plain text.
    use std::io::Write;

    /// A gzip stream of `total` zero bytes, written in pieces so the test
    /// itself never holds the plain text.
    pub fn gzip_zeros(total: usize) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..total / chunk.len() {
            e.write_all(&chunk).unwrap();
        }
        e.finish().unwrap()
    }

    pub fn zstd_zeros(total: usize) -> Vec<u8> {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..total / chunk.len() {
            e.write_all(&chunk).unwrap();
        }
        e.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{gzip_zeros, zstd_zeros};
    use super::*;
    use std::io::Write;
    use std::time::Instant;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn lz4(data: &[u8]) -> Vec<u8> {
        let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        e.write_all(data).unwrap();
        let (out, result) = e.finish();
        result.unwrap();
        out
    }

    fn xerial_snappy(data: &[u8]) -> Vec<u8> {
        let mut out = XERIAL_MAGIC.to_vec();
        for block in data.chunks(32 * 1024) {
            let c = snap::raw::Encoder::new().compress_vec(block).unwrap();
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(&c);
        }
        out
    }

    #[test]
    fn every_codec_round_trips_within_the_bound() {
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let zstd = zstd::stream::encode_all(&plain[..], 3).unwrap();
        let raw_snappy = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        for (codec, packed) in [
            (CODEC_NONE, plain.clone()),
            (CODEC_GZIP, gzip(&plain)),
            (CODEC_SNAPPY, raw_snappy),
            (CODEC_SNAPPY, xerial_snappy(&plain)),
            (CODEC_LZ4, lz4(&plain)),
            (CODEC_ZSTD, zstd),
        ] {
            assert_eq!(
                decompress_bounded(codec, &packed, plain.len()).unwrap(),
                plain
            );
            assert_eq!(
                decompress_bounded(codec, &packed, plain.len() - 1),
                Err(DecompressError::TooLarge {
                    max: plain.len() - 1
                }),
                "codec {codec}"
            );
        }
    }

    #[test]
    fn bombs_are_refused_quickly_without_expanding() {
        // 1 GiB of zeros as ~1 MiB of gzip, 4 GiB as a few KiB of zstd. The
        // bound is 1 MiB: refusing must cost about 1 MiB of work and memory
        // (decompressing it all would take seconds and gigabytes).
        for (codec, bomb) in [
            (CODEC_GZIP, gzip_zeros(1 << 30)),
            (CODEC_ZSTD, zstd_zeros(4 << 30)),
        ] {
            let started = Instant::now();
            let result = decompress_bounded(codec, &bomb, 1 << 20);
            assert_eq!(result, Err(DecompressError::TooLarge { max: 1 << 20 }));
            assert!(
                started.elapsed().as_millis() < 500,
                "codec {codec} took {:?}",
                started.elapsed()
            );
        }
        // A snappy block announcing 4 GiB is refused before allocating it.
        let mut announced = Vec::new();
        let mut n = u32::MAX as u64;
        while n >= 0x80 {
            announced.push((n as u8) | 0x80);
            n >>= 7;
        }
        announced.push(n as u8);
        assert!(matches!(
            decompress_bounded(CODEC_SNAPPY, &announced, 1 << 20),
            Err(DecompressError::TooLarge { .. }) | Err(DecompressError::Corrupt(_))
        ));
    }

    #[test]
    fn unknown_codecs_and_garbage_are_errors() {
        assert_eq!(
            decompress_bounded(5, b"x", 10),
            Err(DecompressError::UnknownCodec(5))
        );
        for codec in [CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD] {
            assert!(decompress_bounded(codec, b"\x01\x02garbage", 1 << 20).is_err());
        }
    }
}

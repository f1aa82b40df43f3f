//! Decompressing a batch's records section with a bound on the output.
//!
//! A 1 KiB gzip or zstd stream can expand to gigabytes (a decompression
//! bomb), and raw snappy announces its own output length. Every codec here is
//! driven as a streaming reader that stops one byte past the limit, and no
//! buffer is sized from a length the input claims: memory is bounded by the
//! limit whatever the client sent.

use std::io::Read;

/// Codec ids of a v2 batch's attributes (low 3 bits).
pub const CODEC_NONE: i16 = 0;
pub const CODEC_GZIP: i16 = 1;
pub const CODEC_SNAPPY: i16 = 2;
pub const CODEC_LZ4: i16 = 3;
pub const CODEC_ZSTD: i16 = 4;

/// xerial snappy-java framing, used by Java producers (and librdkafka).
const SNAPPY_XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const SNAPPY_XERIAL_HEADER_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    #[error("unknown compression codec {codec}")]
    UnknownCodec { codec: i16 },
    #[error("records expand past {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    #[error("records do not decompress: {detail}")]
    Corrupt { detail: String },
}

/// Decompresses `input` (a batch's records section compressed with `codec`),
/// failing as soon as the output would exceed `max_output_bytes`.
pub fn decompress_bounded(
    codec: i16,
    input: &[u8],
    max_output_bytes: usize,
) -> Result<Vec<u8>, DecompressError> {
    match codec {
        CODEC_NONE => {
            if input.len() > max_output_bytes {
                return Err(DecompressError::TooLarge {
                    limit_bytes: max_output_bytes,
                });
            }
            Ok(input.to_vec())
        }
        CODEC_GZIP => read_bounded(flate2::read::GzDecoder::new(input), max_output_bytes),
        CODEC_SNAPPY => snappy(input, max_output_bytes),
        CODEC_LZ4 => {
            let decoder = lz4::Decoder::new(input).map_err(corrupt)?;
            read_bounded(decoder, max_output_bytes)
        }
        CODEC_ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(input).map_err(corrupt)?;
            read_bounded(decoder, max_output_bytes)
        }
        other => Err(DecompressError::UnknownCodec { codec: other }),
    }
}

fn corrupt(e: impl std::fmt::Display) -> DecompressError {
    DecompressError::Corrupt {
        detail: e.to_string(),
    }
}

/// Reads at most `max + 1` bytes: one more than allowed proves the excess.
fn read_bounded(reader: impl Read, max: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let limit = (max as u64).saturating_add(1);
    reader.take(limit).read_to_end(&mut out).map_err(corrupt)?;
    if out.len() > max {
        return Err(DecompressError::TooLarge { limit_bytes: max });
    }
    Ok(out)
}

/// Raw snappy, or xerial framing: a 16-byte header, then blocks of
/// `u32 compressed length | raw snappy block`.
fn snappy(input: &[u8], max: usize) -> Result<Vec<u8>, DecompressError> {
    if !input.starts_with(SNAPPY_XERIAL_MAGIC) {
        let mut out = Vec::new();
        snappy_block(input, max, &mut out)?;
        return Ok(out);
    }
    if input.len() < SNAPPY_XERIAL_HEADER_BYTES {
        return Err(corrupt("truncated snappy framing header"));
    }
    let mut rest = &input[SNAPPY_XERIAL_HEADER_BYTES..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(corrupt("truncated snappy block length"));
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if len > rest.len() {
            return Err(corrupt("snappy block longer than its input"));
        }
        snappy_block(&rest[..len], max, &mut out)?;
        rest = &rest[len..];
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its announced length
/// against what `max` still allows before allocating for it.
fn snappy_block(block: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), DecompressError> {
    let len = snap::raw::decompress_len(block).map_err(corrupt)?;
    if out.len().saturating_add(len) > max {
        return Err(DecompressError::TooLarge { limit_bytes: max });
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
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_codec_round_trips_within_the_limit() {
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let snappy_raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let zstd = zstd::encode_all(&data[..], 3).unwrap();
        let mut lz4_enc = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz4_enc.write_all(&data).unwrap();
        let (lz4, _) = lz4_enc.finish();
        for (codec, input) in [
            (CODEC_NONE, data.clone()),
            (CODEC_GZIP, gzip(&data)),
            (CODEC_SNAPPY, snappy_raw),
            (CODEC_LZ4, lz4),
            (CODEC_ZSTD, zstd),
        ] {
            assert_eq!(
                decompress_bounded(codec, &input, data.len()).unwrap(),
                data,
                "codec {codec}"
            );
            assert_eq!(
                decompress_bounded(codec, &input, data.len() - 1),
                Err(DecompressError::TooLarge {
                    limit_bytes: data.len() - 1
                }),
                "codec {codec}"
            );
        }
    }

    #[test]
    fn a_bomb_is_refused_at_the_limit() {
        // 1 GiB of zeroes compresses to about 1 MiB of gzip; 64 MiB to 64 KiB.
        let zeroes = vec![0u8; 64 << 20];
        let bomb = gzip(&zeroes);
        assert!(bomb.len() < 100 << 10);
        assert_eq!(
            decompress_bounded(CODEC_GZIP, &bomb, 1 << 20),
            Err(DecompressError::TooLarge {
                limit_bytes: 1 << 20
            })
        );
        let zbomb = zstd::encode_all(&zeroes[..], 3).unwrap();
        assert!(decompress_bounded(CODEC_ZSTD, &zbomb, 1 << 20).is_err());
    }

    #[test]
    fn a_snappy_length_lie_allocates_nothing() {
        // A raw snappy block whose varint header claims 4 GiB.
        let lie = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(
            decompress_bounded(CODEC_SNAPPY, &lie, 1 << 20),
            Err(DecompressError::TooLarge { .. }) | Err(DecompressError::Corrupt { .. })
        ));
        assert_eq!(
            decompress_bounded(7, b"x", 10),
            Err(DecompressError::UnknownCodec { codec: 7 })
        );
    }
}

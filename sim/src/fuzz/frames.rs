//! Whole request frames (header + body, without the size prefix that the
//! connection strips): an honest header for an advertised API and version
//! most of the time, then the body's bytes mutated half of the time (bit
//! flips, interesting integers over length fields, truncation, garbage).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};
use odradek::kafka::supported_apis::SUPPORTED_APIS;
use rand::Rng;

use crate::fuzz::requests;
use crate::fuzz::values::Gen;

/// One generated request and how it was made (printed for a finding).
pub struct Input {
    pub api: ApiKey,
    /// The version in the header (may be outside the advertised range).
    pub version: i16,
    pub frame: Bytes,
    pub mutation: &'static str,
}

pub const CORRELATION_ID: i32 = 7;

pub fn input(g: &mut Gen) -> Input {
    let (api, min, max) = *g.pick(SUPPORTED_APIS);
    // Produce and Fetch carry the data: give them more of the budget.
    let api = if g.chance(0.3) {
        *g.pick(&[ApiKey::Produce, ApiKey::Produce, ApiKey::Fetch])
    } else {
        api
    };
    let (min, max) = odradek::kafka::supported_apis::supported_range(api).unwrap_or((min, max));
    let version = g.rng.gen_range(min..=max);
    let body = match requests::body(g, api, version) {
        Ok(body) => body,
        // A combination the encoder refuses: an empty body, which the
        // decoder must refuse in turn.
        Err(_) => BytesMut::new(),
    };
    let mut header_version = version;
    let mut mutation = "none";
    if g.chance(0.03) {
        // A version we do not advertise (ApiVersions answers those).
        header_version = *g.pick(&[min - 1, max + 1, -1, i16::MAX]);
        mutation = "version";
    }
    let mut frame = BytesMut::new();
    let mut header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(header_version)
        .with_correlation_id(CORRELATION_ID);
    header.client_id = match g.below(10) {
        0 => None,
        1 => Some(StrBytes::from_string("c".repeat(300))),
        _ => Some(StrBytes::from_static_str("fuzz")),
    };
    header
        .encode(&mut frame, api.request_header_version(version))
        .expect("a request header always encodes");
    let header_len = frame.len();
    frame.extend_from_slice(&body);
    let mut frame = frame.to_vec();
    if mutation == "none" && g.chance(0.5) {
        mutation = mutate(g, &mut frame, header_len);
    }
    Input {
        api,
        version: header_version,
        frame: Bytes::from(frame),
        mutation,
    }
}

/// One mutation of the bytes after `keep` (the header stays readable so
/// the mutated body reaches the decoder of its API).
fn mutate(g: &mut Gen, frame: &mut Vec<u8>, keep: usize) -> &'static str {
    let body_len = frame.len() - keep;
    if body_len == 0 {
        frame.extend_from_slice(&g.bytes(16));
        return "append";
    }
    let at = keep + g.below(body_len);
    match g.below(7) {
        0 => {
            for _ in 0..g.rng.gen_range(1..8) {
                let i = keep + g.below(body_len);
                frame[i] ^= 1 << g.below(8);
            }
            "bitflip"
        }
        1 => {
            frame[at] = *g.pick(&[0x00, 0xff, 0x7f, 0x80, 0x01]);
            "byte"
        }
        2 => {
            // A length or count field that lies.
            let v: i32 = *g.pick(&[-1, -2, 0, 1, i32::MAX, i32::MIN, 0x7fff, 0xffff, 1 << 24]);
            let end = (at + 4).min(frame.len());
            frame[at..end].copy_from_slice(&v.to_be_bytes()[..end - at]);
            "length"
        }
        3 => {
            frame.truncate(at);
            "truncate"
        }
        4 => {
            frame.extend_from_slice(&g.bytes(32));
            "append"
        }
        5 => {
            // An unsigned varint (compact lengths, tagged field counts)
            // claiming far more than is there.
            frame[at] = 0xff;
            if at + 1 < frame.len() {
                frame[at + 1] = 0xff;
            }
            "varint"
        }
        _ => {
            let len = g.below(body_len.min(64)) + 1;
            let end = (at + len).min(frame.len());
            let chunk = frame[at..end].to_vec();
            frame.splice(at..at, chunk);
            "duplicate"
        }
    }
}

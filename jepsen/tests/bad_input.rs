//! Malformed and hostile bytes on the Kafka port: truncated frames, unsupported versions,
//! unknown API keys, absurd or negative lengths, random garbage. The broker may answer with an
//! error or close that connection, but it must keep serving other clients and must not change
//! stored data.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use common::*;
use odradek_jepsen::wire::{
    self, frame, parse_api_versions_v0, request_header_v1, request_header_v2, RawConnection, Reply,
    API_VERSIONS_KEY, UNSUPPORTED_VERSION,
};
use odradek_jepsen::BrokerProcess;

/// How long the broker has to answer or close a connection after bad input.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A broker holding known data, to check after each bad input that nothing changed.
struct Fixture {
    broker: BrokerProcess,
    bootstrap: String,
    baseline_topic: String,
    baseline: Vec<TestRecord>,
    health_topic: String,
}

impl Fixture {
    fn new() -> Fixture {
        let broker = BrokerProcess::start_default().expect("start broker");
        let bootstrap = broker.bootstrap();
        let baseline_topic = unique_topic("baseline");
        let health_topic = unique_topic("health");
        create_topic(&bootstrap, &baseline_topic, 1, &[]);
        create_topic(&bootstrap, &health_topic, 1, &[]);
        let baseline: Vec<TestRecord> = (0..50).map(TestRecord::numbered).collect();
        let producer = producer(&bootstrap, &[("acks", "all")]);
        produce_acked(&producer, &baseline_topic, Some(0), &baseline);
        Fixture {
            broker,
            bootstrap,
            baseline_topic,
            baseline,
            health_topic,
        }
    }

    fn connect(&self) -> RawConnection {
        RawConnection::connect(self.broker.addr()).expect("raw connect")
    }

    /// (a) a new rdkafka client can still produce and consume; (b) the data written before the
    /// bad input reads back unchanged.
    fn assert_healthy(&mut self, after: &str) {
        assert!(
            self.broker.is_running(),
            "broker process died after {after}"
        );

        let producer = producer(&self.bootstrap, &[("acks", "all")]);
        let record = TestRecord::value(format!("healthy after {after}"));
        let reports = produce(
            &producer,
            &self.health_topic,
            Some(0),
            std::slice::from_ref(&record),
        );
        let delivery = match &reports[0] {
            Ok(delivery) => delivery,
            Err((err, _)) => panic!("produce after {after} failed: {err}"),
        };
        let consumer = consumer(&self.bootstrap, &[]);
        let read = read_partition(
            &consumer,
            &self.health_topic,
            0,
            rdkafka::Offset::Offset(delivery.offset),
            1,
            READ_TIMEOUT,
        );
        assert_records_at(&read, std::slice::from_ref(&record), delivery.offset);

        assert_eq!(
            watermarks(&self.bootstrap, &self.baseline_topic, 0),
            (0, self.baseline.len() as i64),
            "baseline watermarks after {after}"
        );
        let read = read_from_start(
            &self.bootstrap,
            &self.baseline_topic,
            0,
            self.baseline.len(),
        );
        assert_records_at(&read, &self.baseline, 0);
    }
}

/// Sends `bytes`; a broker that closes the connection while we write is an allowed reaction.
fn send_ignoring_close(conn: &mut RawConnection, bytes: &[u8]) {
    if let Err(err) = conn.send(bytes) {
        assert!(wire::is_closed(&err), "unexpected write error: {err}");
    }
}

fn api_versions_v0_request(correlation_id: i32) -> Vec<u8> {
    frame(&request_header_v1(
        API_VERSIONS_KEY,
        0,
        correlation_id,
        "jepsen",
    ))
}

#[test]
fn truncated_frame_then_eof() {
    let mut fixture = Fixture::new();
    // The start of a real request, but the length prefix promises 100 bytes and only 10 come.
    let header = request_header_v1(API_VERSIONS_KEY, 0, 1, "jepsen");
    let mut bytes = 100i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&header[..10]);

    let mut conn = fixture.connect();
    send_ignoring_close(&mut conn, &bytes);
    conn.shutdown_write().expect("half-close");
    assert_eq!(
        conn.read_reply(REPLY_TIMEOUT).expect("read"),
        Reply::Closed,
        "a frame cut short by EOF must be dropped and the connection closed"
    );
    drop(conn);

    // The same, closing both directions at once.
    let mut conn = fixture.connect();
    send_ignoring_close(&mut conn, &bytes);
    drop(conn);
    fixture.assert_healthy("a truncated frame");
}

/// Kafka answers an ApiVersions request of a version it does not know with UNSUPPORTED_VERSION
/// in the v0 response format, listing its versions, so clients can retry with one it supports
/// on the same connection.
#[test]
fn unsupported_api_versions_version_gets_v0_error_response() {
    let mut fixture = Fixture::new();
    let mut conn = fixture.connect();

    let mut request = request_header_v2(API_VERSIONS_KEY, 127, 42, "jepsen");
    // A v3-style body (client software name and version as compact strings, no tags); a broker
    // must not need to understand it to answer.
    request.extend_from_slice(&[7, b'j', b'e', b'p', b's', b'e', b'n', 2, b'1', 0]);
    send_ignoring_close(&mut conn, &frame(&request));
    let reply = conn.read_reply(REPLY_TIMEOUT).expect("read");
    let Reply::Frame(body) = reply else {
        panic!("expected an UNSUPPORTED_VERSION response, got {reply:?}");
    };
    let response = parse_api_versions_v0(&body)
        .unwrap_or_else(|| panic!("not an ApiVersions v0 response: {body:?}"));
    assert_eq!(response.correlation_id, 42, "correlation id echoed");
    assert_eq!(response.error_code, UNSUPPORTED_VERSION);
    let own = response
        .api_keys
        .iter()
        .find(|range| range.api_key == API_VERSIONS_KEY)
        .unwrap_or_else(|| panic!("ApiVersions missing from {:?}", response.api_keys));
    assert_eq!(own.min_version, 0, "ApiVersions v0 is always supported");

    // The client falls back to v0 on the same connection.
    send_ignoring_close(&mut conn, &api_versions_v0_request(43));
    let reply = conn.read_reply(REPLY_TIMEOUT).expect("read");
    let Reply::Frame(body) = reply else {
        panic!("expected an ApiVersions v0 response, got {reply:?}");
    };
    let response = parse_api_versions_v0(&body).expect("ApiVersions v0 response");
    assert_eq!(response.correlation_id, 43);
    assert_eq!(response.error_code, 0);
    assert!(
        response.api_keys.iter().any(|r| r.api_key == 0),
        "Produce advertised"
    );
    drop(conn);
    fixture.assert_healthy("an unsupported ApiVersions version");
}

#[test]
fn unknown_api_key_gets_error_or_close() {
    let mut fixture = Fixture::new();
    for api_key in [12345i16, i16::MAX, -1] {
        let mut conn = fixture.connect();
        send_ignoring_close(
            &mut conn,
            &frame(&request_header_v1(api_key, 0, 7, "jepsen")),
        );
        match conn.read_reply(REPLY_TIMEOUT).expect("read") {
            Reply::Closed => {}
            Reply::Frame(body) => assert_eq!(
                wire::Decoder::new(&body).i32(),
                Some(7),
                "a response to api key {api_key} must carry its correlation id"
            ),
            Reply::Silent => panic!("api key {api_key}: neither answered nor closed"),
        }
        drop(conn);
        fixture.assert_healthy(&format!("unknown api key {api_key}"));
    }
}

#[test]
fn oversized_length_prefix_closes_the_connection() {
    let mut fixture = Fixture::new();
    let mut conn = fixture.connect();
    let mut bytes = i32::MAX.to_be_bytes().to_vec();
    // Something after the prefix, so a broker that tries to read the frame has data to chew on.
    bytes.extend_from_slice(&api_versions_v0_request(1));
    send_ignoring_close(&mut conn, &bytes);
    assert_eq!(
        conn.read_reply(REPLY_TIMEOUT).expect("read"),
        Reply::Closed,
        "a 2 GiB frame must be refused by closing the connection"
    );
    drop(conn);
    fixture.assert_healthy("an oversized length prefix");
}

#[test]
fn negative_length_prefix_closes_the_connection() {
    let mut fixture = Fixture::new();
    for length in [-1i32, i32::MIN] {
        let mut conn = fixture.connect();
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&api_versions_v0_request(1));
        send_ignoring_close(&mut conn, &bytes);
        assert_eq!(
            conn.read_reply(REPLY_TIMEOUT).expect("read"),
            Reply::Closed,
            "a negative frame length {length} must close the connection"
        );
        drop(conn);
        fixture.assert_healthy(&format!("length prefix {length}"));
    }
}

/// xorshift64*: a tiny seeded generator, so a failing input can be replayed from its seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Half the inputs are raw noise (mostly caught by the framing); the other half are well-framed
/// requests for real API keys and versions with a random body, which reach the decoders.
fn random_input(rng: &mut XorShift) -> Vec<u8> {
    let body_len = rng.below(300) as usize;
    if rng.below(2) == 0 {
        return rng.bytes(1 + body_len);
    }
    let api_key = rng.below(70) as i16;
    let api_version = rng.below(16) as i16;
    let correlation_id = rng.next() as i32;
    let mut request = if rng.below(2) == 0 {
        request_header_v1(api_key, api_version, correlation_id, "fuzz")
    } else {
        request_header_v2(api_key, api_version, correlation_id, "fuzz")
    };
    request.extend_from_slice(&rng.bytes(body_len));
    frame(&request)
}

#[test]
fn random_bytes_do_not_hurt_the_broker() {
    const SEEDS: u64 = 4;
    const INPUTS_PER_SEED: usize = 16;
    let mut fixture = Fixture::new();
    for seed in 1..=SEEDS {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ seed);
        for input in 0..INPUTS_PER_SEED {
            let bytes = random_input(&mut rng);
            let mut conn = fixture.connect();
            send_ignoring_close(&mut conn, &bytes);
            let _ = conn.shutdown_write();
            // Any answer or a close is fine here; only what follows is checked. Bounded short
            // wait so a silent broker does not stall the loop.
            let _ = conn.read_reply(Duration::from_millis(200));
            drop(conn);
            assert!(
                fixture.broker.is_running(),
                "broker died on seed {seed} input {input}: {bytes:02x?}"
            );
        }
        fixture.assert_healthy(&format!("random inputs of seed {seed}"));
    }
}

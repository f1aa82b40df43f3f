//! The SCRAM credential APIs on the release binary, through raw frames (the rdkafka crate
//! has no SCRAM admin API): AlterUserScramCredentials and DescribeUserScramCredentials round
//! trip with Kafka's per-user errors, credentials survive a clean restart and a SIGKILL,
//! a deletion survives too, and `--max-scram-credentials` refuses a new credential past it.
#![cfg(not(madsim))]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use odradek_jepsen::wire::{frame, RawConnection, Reply};
use odradek_jepsen::{BrokerOptions, BrokerProcess};

const SHA256: i8 = 1;
const SHA512: i8 = 2;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const POLICY_VIOLATION: i16 = 44;
const RESOURCE_NOT_FOUND: i16 = 91;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Sends one v0 request on a new connection and returns the response body.
fn call<R: Encodable>(broker: &BrokerProcess, api: ApiKey, request: &R) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(0)
        .with_correlation_id(17)
        .with_client_id(Some(StrBytes::from_static_str("scram-test")))
        .encode(&mut buf, api.request_header_version(0))
        .expect("header");
    request.encode(&mut buf, 0).expect("request");
    let mut conn = RawConnection::connect(broker.addr()).expect("connect");
    conn.send(&frame(&buf)).expect("send");
    let Reply::Frame(body) = conn.read_reply(Duration::from_secs(10)).expect("read") else {
        panic!("no answer to {api:?}\n{}", broker.log_tail());
    };
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, api.response_header_version(0)).expect("header");
    assert_eq!(header.correlation_id, 17);
    body
}

fn upsert(user: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
    ScramCredentialUpsertion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::from_static(b"salt"))
        .with_salted_password(Bytes::from_static(&[7; 32]))
}

fn delete(user: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
}

/// (user, error code) per result, sorted by user.
fn alter(
    broker: &BrokerProcess,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16)> {
    let request = AlterUserScramCredentialsRequest::default()
        .with_deletions(deletions)
        .with_upsertions(upsertions);
    let mut body = call(broker, ApiKey::AlterUserScramCredentials, &request);
    let response = AlterUserScramCredentialsResponse::decode(&mut body, 0).expect("response");
    let mut codes: Vec<(String, i16)> = response
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect();
    codes.sort();
    codes
}

/// One described user: (user, error code, [(mechanism, iterations)]).
type Described = (String, i16, Vec<(i8, i32)>);

/// Every result, as [`Described`].
fn describe(broker: &BrokerProcess, users: Option<&[&str]>) -> Vec<Described> {
    let request = DescribeUserScramCredentialsRequest::default().with_users(users.map(|users| {
        users
            .iter()
            .map(|u| UserName::default().with_name(s(u)))
            .collect()
    }));
    let mut body = call(broker, ApiKey::DescribeUserScramCredentials, &request);
    let response = DescribeUserScramCredentialsResponse::decode(&mut body, 0).expect("response");
    assert_eq!(response.error_code, 0, "{:?}", response.error_message);
    response
        .results
        .iter()
        .map(|r| {
            let infos = r
                .credential_infos
                .iter()
                .map(|c| (c.mechanism, c.iterations))
                .collect();
            (r.user.to_string(), r.error_code, infos)
        })
        .collect()
}

fn owned(user: &str, code: i16) -> (String, i16) {
    (user.to_string(), code)
}

#[test]
fn credentials_round_trip_and_survive_restarts_and_a_crash() {
    let mut broker = BrokerOptions::default()
        .arg("--authorizer")
        .arg("standard")
        .arg("--allow-everyone-if-no-acl-found")
        .arg("true")
        .arg("--max-scram-credentials")
        .arg("3")
        .start()
        .expect("broker starts");
    assert_eq!(
        describe(&broker, Some(&["alice"])),
        [("alice".to_string(), RESOURCE_NOT_FOUND, vec![])]
    );
    let created = alter(
        &broker,
        vec![],
        vec![
            upsert("alice", SHA256, 10000),
            upsert("bob", SHA512, 4096),
            upsert("carol", 3, 4096),
            upsert("dave", SHA256, 100),
        ],
    );
    assert_eq!(
        created,
        [
            owned("alice", 0),
            owned("bob", 0),
            owned("carol", UNSUPPORTED_SASL_MECHANISM),
            owned("dave", UNACCEPTABLE_CREDENTIAL),
        ]
    );
    let expected = vec![
        ("alice".to_string(), 0, vec![(SHA256, 10000)]),
        ("bob".to_string(), 0, vec![(SHA512, 4096)]),
    ];
    assert_eq!(describe(&broker, None), expected);

    broker.restart().expect("broker restarts");
    assert_eq!(describe(&broker, None), expected, "survive a clean restart");
    broker.kill9().expect("SIGKILL");
    broker.restart().expect("broker restarts after a crash");
    assert_eq!(describe(&broker, None), expected, "survive a crash");

    // The third credential fits, the fourth is past --max-scram-credentials 3.
    let limited = alter(
        &broker,
        vec![],
        vec![upsert("erin", SHA256, 4096), upsert("frank", SHA256, 4096)],
    );
    assert_eq!(
        limited,
        [owned("erin", 0), owned("frank", POLICY_VIOLATION)]
    );

    let deleted = alter(&broker, vec![delete("alice", SHA256)], vec![]);
    assert_eq!(deleted, [owned("alice", 0)]);
    broker.kill9().expect("SIGKILL");
    broker.restart().expect("broker restarts after a crash");
    assert_eq!(
        describe(&broker, None),
        [
            ("bob".to_string(), 0, vec![(SHA512, 4096)]),
            ("erin".to_string(), 0, vec![(SHA256, 4096)]),
        ],
        "a deletion survives a crash"
    );
    assert_eq!(describe(&broker, Some(&["alice"]))[0].1, RESOURCE_NOT_FOUND);
    assert!(broker.is_running(), "{}", broker.log_tail());
}

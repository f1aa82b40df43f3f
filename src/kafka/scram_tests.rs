//! DescribeUserScramCredentials and AlterUserScramCredentials through the
//! real dispatcher: Kafka's per-user errors, what is stored (never the
//! salted password), the journal round trip across a restart (and a crash
//! of unsynced data), `max.scram.credentials`, and the authorization table.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, RequestHeader,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::core::acl::authorizer::ANONYMOUS;
use crate::core::acl::binding::{AccessControlEntry, ResourcePattern, CLUSTER_NAME};
use crate::core::acl::{
    AclBinding, AclOperation, AclPermissionType, AuthorizerConfig, PatternType, ResourceType,
};
use crate::core::metadata::MetadataRecord;
use crate::core::scram::{ScramCredential, ScramMechanism};
use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::kafka::dispatch::{handle_frame, DispatchError};
use crate::kafka::test_harness::call_as;
use crate::server::broker::Broker;
use crate::server::config::BrokerConfig;

const SHA256: i8 = 1;
const SHA512: i8 = 2;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const INVALID_REQUEST: i16 = 42;
const POLICY_VIOLATION: i16 = 44;
const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn config(authorizer: Option<AuthorizerConfig>, max_credentials: usize) -> BrokerConfig {
    let mut config = BrokerConfig {
        data_dir: "data".to_string(),
        authorizer,
        ..BrokerConfig::single_node_default()
    };
    config.limits.max_scram_credentials = max_credentials;
    config
}

async fn open(disk: &Arc<SimDisk>, config: BrokerConfig) -> Arc<Broker> {
    let disk: Arc<dyn Disk> = Arc::clone(disk) as Arc<dyn Disk>;
    Broker::open(config, disk).await.expect("broker opens")
}

async fn broker(authorizer: Option<AuthorizerConfig>, max_credentials: usize) -> Arc<Broker> {
    let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
    open(&disk, config(authorizer, max_credentials)).await
}

fn peer() -> Option<SocketAddr> {
    Some("10.9.8.7:4444".parse().unwrap())
}

async fn describe(broker: &Broker, users: Option<&[&str]>) -> DescribeUserScramCredentialsResponse {
    let request = DescribeUserScramCredentialsRequest::default().with_users(users.map(|users| {
        users
            .iter()
            .map(|u| UserName::default().with_name(s(u)))
            .collect()
    }));
    call_as(
        broker,
        ApiKey::DescribeUserScramCredentials,
        0,
        &request,
        "scram-test",
        peer(),
    )
    .await
}

async fn alter(
    broker: &Broker,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> AlterUserScramCredentialsResponse {
    let request = AlterUserScramCredentialsRequest::default()
        .with_deletions(deletions)
        .with_upsertions(upsertions);
    call_as(
        broker,
        ApiKey::AlterUserScramCredentials,
        0,
        &request,
        "scram-test",
        peer(),
    )
    .await
}

fn upsert(user: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
    ScramCredentialUpsertion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::from_static(b"s\0lt"))
        .with_salted_password(Bytes::from_static(b"\0salted-password"))
}

fn delete(user: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
}

/// (user, error code) of every result, sorted by user.
fn codes(response: &AlterUserScramCredentialsResponse) -> Vec<(String, i16)> {
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
fn described(response: &DescribeUserScramCredentialsResponse) -> Vec<Described> {
    assert_eq!(response.error_code, 0);
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

#[tokio::test]
async fn the_librdkafka_round_trip() {
    let broker = broker(None, 10).await;
    let unknown = describe(&broker, Some(&["testuser"])).await;
    assert_eq!(
        described(&unknown),
        [("testuser".to_string(), RESOURCE_NOT_FOUND, vec![])]
    );
    let created = alter(&broker, vec![], vec![upsert("testuser", SHA256, 10000)]).await;
    assert_eq!(codes(&created), [("testuser".to_string(), 0)]);
    assert_eq!(created.results[0].error_message, None);
    let found = describe(&broker, Some(&["testuser"])).await;
    assert_eq!(
        described(&found),
        [("testuser".to_string(), 0, vec![(SHA256, 10000)])]
    );
    // What is stored: the keys of the salted password, not the password.
    let stored = broker
        .image()
        .scram
        .get("testuser", ScramMechanism::Sha256)
        .cloned()
        .unwrap();
    assert_eq!(
        stored,
        ScramCredential::from_salted_password(
            ScramMechanism::Sha256,
            b"s\0lt",
            b"\0salted-password",
            10000
        )
        .unwrap()
    );
    let deleted = alter(&broker, vec![delete("testuser", SHA256)], vec![]).await;
    assert_eq!(codes(&deleted), [("testuser".to_string(), 0)]);
    let gone = describe(&broker, Some(&["testuser"])).await;
    assert_eq!(gone.results[0].error_code, RESOURCE_NOT_FOUND);
    assert!(broker.image().scram.is_empty());
}

#[tokio::test]
async fn per_user_errors_as_kafka_answers_them() {
    let broker = broker(None, 10).await;
    alter(
        &broker,
        vec![],
        vec![upsert("kept", SHA512, 4096), upsert("twice", SHA256, 4096)],
    )
    .await;
    let response = alter(
        &broker,
        vec![
            delete("", SHA256),
            delete("ghost", SHA256),
            delete("kept", SHA256),
            delete("twice", SHA256),
        ],
        vec![
            upsert("twice", SHA512, 4096),
            upsert("mech0", 0, 4096),
            upsert("mech-128", i8::MIN, 4096),
            upsert("few", SHA256, 4095),
            upsert("many", SHA256, 16385),
            upsert("fine", SHA512, 16384),
            upsert("fine", SHA256, 16384),
        ],
    )
    .await;
    insta::assert_debug_snapshot!("alter_user_scram_credentials_v0_errors", response);
    assert_eq!(
        codes(&response),
        [
            (String::new(), UNACCEPTABLE_CREDENTIAL),
            ("few".to_string(), UNACCEPTABLE_CREDENTIAL),
            ("fine".to_string(), DUPLICATE_RESOURCE),
            ("ghost".to_string(), RESOURCE_NOT_FOUND),
            ("kept".to_string(), RESOURCE_NOT_FOUND),
            ("many".to_string(), UNACCEPTABLE_CREDENTIAL),
            ("mech-128".to_string(), UNSUPPORTED_SASL_MECHANISM),
            ("mech0".to_string(), UNSUPPORTED_SASL_MECHANISM),
            ("twice".to_string(), DUPLICATE_RESOURCE),
        ]
    );
    // Nothing of the refused users changed.
    assert_eq!(broker.image().scram.len(), 2);
    assert!(broker
        .image()
        .scram
        .contains("twice", ScramMechanism::Sha256));
    let all = describe(&broker, None).await;
    insta::assert_debug_snapshot!("describe_user_scram_credentials_v0_all", all);
    let named = describe(&broker, Some(&["kept", "ghost", "kept", ""])).await;
    assert_eq!(
        described(&named)
            .into_iter()
            .map(|(u, code, _)| (u, code))
            .collect::<Vec<_>>(),
        [
            ("kept".to_string(), DUPLICATE_RESOURCE),
            ("ghost".to_string(), RESOURCE_NOT_FOUND),
            (String::new(), RESOURCE_NOT_FOUND),
        ]
    );
    // An empty list describes everyone, like null.
    let empty = describe(&broker, Some(&[])).await;
    assert_eq!(described(&empty), described(&all));
}

#[tokio::test]
async fn credentials_survive_a_restart_and_a_crash() {
    let disk = Arc::new(SimDisk::new(7, SimDiskFaults::default()));
    let broker = open(&disk, config(None, 10)).await;
    let created = alter(
        &broker,
        vec![],
        vec![
            upsert("alice", SHA256, 4096),
            upsert("bob", SHA512, 8192),
            upsert("carol", SHA256, 5000),
        ],
    )
    .await;
    assert!(created.results.iter().all(|r| r.error_code == 0));
    let changed = alter(
        &broker,
        vec![delete("bob", SHA512)],
        vec![upsert("alice", SHA256, 9999)],
    )
    .await;
    assert!(changed.results.iter().all(|r| r.error_code == 0));
    let before = broker.image().scram.clone();
    drop(broker);
    // Only what was synced survives: the commits were acknowledged, so they
    // must have been.
    disk.crash();
    let reopened = open(&disk, config(None, 10)).await;
    assert_eq!(reopened.image().scram, before);
    assert_eq!(
        described(&describe(&reopened, None).await),
        [
            ("alice".to_string(), 0, vec![(SHA256, 9999)]),
            ("carol".to_string(), 0, vec![(SHA256, 5000)]),
        ]
    );
    // The journal never holds a salted password.
    let journal = disk
        .durable_content("data/@cluster_metadata/journal.log")
        .expect("journal");
    assert!(!journal
        .windows(b"salted-password".len())
        .any(|w| w == b"salted-password"));
}

#[tokio::test]
async fn the_credential_limit_refuses_new_credentials_with_policy_violation() {
    let broker = broker(None, 2).await;
    let response = alter(
        &broker,
        vec![],
        vec![
            upsert("a", SHA256, 4096),
            upsert("b", SHA256, 4096),
            upsert("c", SHA256, 4096),
        ],
    )
    .await;
    assert_eq!(
        codes(&response),
        [
            ("a".to_string(), 0),
            ("b".to_string(), 0),
            ("c".to_string(), POLICY_VIOLATION)
        ]
    );
    let message = response.results[2].error_message.as_ref().unwrap();
    assert!(message.contains("max.scram.credentials"), "{message}");
    assert_eq!(broker.image().scram.len(), 2);
    // Replacing an existing credential is always allowed.
    let replaced = alter(&broker, vec![], vec![upsert("a", SHA256, 8000)]).await;
    assert_eq!(codes(&replaced), [("a".to_string(), 0)]);
}

#[tokio::test]
async fn oversized_requests_are_refused_whole() {
    let broker = broker(None, usize::MAX).await;
    let names: Vec<String> = (0..=crate::core::scram::REQUEST_ENTRIES_MAX)
        .map(|i| format!("u{i}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let response = describe(&broker, Some(&refs)).await;
    assert_eq!(response.error_code, INVALID_REQUEST);
    assert!(response.results.is_empty());
    let upsertions = names.iter().map(|n| upsert(n, SHA256, 4096)).collect();
    let response = alter(&broker, vec![], upsertions).await;
    assert_eq!(response.results.len(), names.len());
    assert!(response
        .results
        .iter()
        .all(|r| r.error_code == INVALID_REQUEST && r.error_message.is_none()));
    assert!(broker.image().scram.is_empty());
}

#[tokio::test]
async fn malformed_requests_close_the_connection_without_a_change() {
    let broker = broker(None, 10).await;
    let mut body = BytesMut::new();
    AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![upsert("x", SHA256, 4096)])
        .encode(&mut body, 0)
        .unwrap();
    let mut header = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::AlterUserScramCredentials as i16)
        .with_request_api_version(0)
        .with_correlation_id(1)
        .encode(
            &mut header,
            ApiKey::AlterUserScramCredentials.request_header_version(0),
        )
        .unwrap();
    // Every truncation of the body, and a length prefix past the end.
    for cut in 0..body.len() {
        let mut frame = header.clone();
        frame.extend_from_slice(&body[..cut]);
        let result = handle_frame(&broker, frame.freeze()).await;
        assert!(
            matches!(result, Err(DispatchError::Malformed { .. })),
            "cut at {cut}"
        );
    }
    let mut frame = header.clone();
    frame.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(handle_frame(&broker, frame.freeze()).await.is_err());
    assert!(broker.image().scram.is_empty());
}

async fn allow_on_cluster(broker: &Broker, operation: AclOperation) {
    let id = broker.image().next_acl_id;
    let binding = AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::Cluster,
            name: CLUSTER_NAME.into(),
            pattern_type: PatternType::Literal,
        },
        entry: AccessControlEntry {
            principal: ANONYMOUS.into(),
            host: "*".into(),
            operation,
            permission: AclPermissionType::Allow,
        },
    };
    broker
        .commit(vec![MetadataRecord::CreateAcl { id, binding }])
        .await
        .unwrap();
}

#[tokio::test]
async fn describe_needs_describe_and_alter_needs_alter_on_the_cluster() {
    let broker = broker(Some(AuthorizerConfig::default()), 10).await;
    let refused = alter(
        &broker,
        vec![delete("b", SHA256)],
        vec![upsert("a", SHA256, 4096), upsert("a", SHA512, 4096)],
    )
    .await;
    assert_eq!(
        codes(&refused),
        [
            ("a".to_string(), CLUSTER_AUTHORIZATION_FAILED),
            ("b".to_string(), CLUSTER_AUTHORIZATION_FAILED)
        ]
    );
    assert!(refused.results.iter().all(|r| r.error_message.is_none()));
    assert!(broker.image().scram.is_empty());
    let refused = describe(&broker, Some(&["a", "b"])).await;
    assert_eq!(refused.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(refused.results.len(), 2);
    assert!(refused
        .results
        .iter()
        .all(|r| r.error_code == CLUSTER_AUTHORIZATION_FAILED));
    let refused_all = describe(&broker, None).await;
    assert_eq!(refused_all.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(refused_all.results.is_empty());

    // DESCRIBE alone: describing works, altering does not.
    allow_on_cluster(&broker, AclOperation::Describe).await;
    assert_eq!(describe(&broker, None).await.error_code, 0);
    let refused = alter(&broker, vec![], vec![upsert("a", SHA256, 4096)]).await;
    assert_eq!(refused.results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);

    // ALTER (which implies DESCRIBE in Kafka) allows both.
    allow_on_cluster(&broker, AclOperation::Alter).await;
    let created = alter(&broker, vec![], vec![upsert("a", SHA256, 4096)]).await;
    assert_eq!(codes(&created), [("a".to_string(), 0)]);
    assert_eq!(broker.image().scram.len(), 1);
}

#[tokio::test]
async fn without_an_authorizer_everything_is_allowed() {
    let broker = broker(None, 10).await;
    let created = alter(&broker, vec![], vec![upsert("a", SHA256, 4096)]).await;
    assert_eq!(codes(&created), [("a".to_string(), 0)]);
}

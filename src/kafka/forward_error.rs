//! The answer to a forwarded admin request the controller could not carry
//! out within the forwarding bounds: every resource of the request gets the
//! same error, as Kafka's `ForwardingManager` answers with the request's
//! `getErrorResponse` — REQUEST_TIMED_OUT when no controller answered in
//! time (the change may or may not have happened, so the client must not
//! read it as "not done"), UNKNOWN_SERVER_ERROR for an answer it cannot use.
//! NOT_CONTROLLER, which the local handler would give, tells a client the
//! request was not carried out and to retry, and a retried DeleteTopics then
//! finds its topic gone.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse, ApiKey, CreateAclsRequest, CreateAclsResponse,
    CreatePartitionsRequest, CreatePartitionsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::kafka::dispatch::{encode, DispatchError};
use crate::server::broker::ForwardFailure;

/// The response to the forwarded request of `api` (its body after the
/// header is `body`) that failed as `why`: the same error for every
/// resource it names. `None` for an API that is not forwarded or a body
/// that does not decode (the dispatcher checked both before forwarding).
pub fn error_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: Bytes,
    why: &ForwardFailure,
) -> Option<Result<Bytes, DispatchError>> {
    let (code, message) = match why {
        ForwardFailure::TimedOut => (
            ResponseError::RequestTimedOut.code(),
            "the active controller did not answer the forwarded request in time".to_string(),
        ),
        ForwardFailure::Unusable(why) => (ResponseError::UnknownServerError.code(), why.clone()),
    };
    resource_errors(api, version, correlation_id, body, code, &message)
}

/// [`error_response`] with `code` and `message`.
fn resource_errors(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    mut body: Bytes,
    code: i16,
    message: &str,
) -> Option<Result<Bytes, DispatchError>> {
    let message = Some(StrBytes::from_string(message.to_string()));
    macro_rules! answer {
        ($request:ty, |$r:ident| $response:expr) => {{
            let $r = <$request>::decode(&mut body, version).ok()?;
            Some(encode(api, version, correlation_id, &$response))
        }};
    }
    match api {
        ApiKey::DeleteTopics => answer!(DeleteTopicsRequest, |r| {
            let results = if version >= 6 {
                r.topics
                    .into_iter()
                    .map(|t| (t.name, t.topic_id))
                    .collect::<Vec<_>>()
            } else {
                r.topic_names
                    .into_iter()
                    .map(|name| (Some(name), Default::default()))
                    .collect()
            };
            DeleteTopicsResponse::default().with_responses(
                results
                    .into_iter()
                    .map(|(name, topic_id)| {
                        DeletableTopicResult::default()
                            .with_name(name)
                            .with_topic_id(topic_id)
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    })
                    .collect(),
            )
        }),
        ApiKey::CreatePartitions => answer!(CreatePartitionsRequest, |r| {
            CreatePartitionsResponse::default().with_results(
                r.topics
                    .into_iter()
                    .map(|t| {
                        CreatePartitionsTopicResult::default()
                            .with_name(t.name)
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    })
                    .collect(),
            )
        }),
        ApiKey::AlterConfigs => answer!(AlterConfigsRequest, |r| {
            AlterConfigsResponse::default().with_responses(
                r.resources
                    .into_iter()
                    .map(|c| {
                        AlterConfigsResourceResponse::default()
                            .with_resource_type(c.resource_type)
                            .with_resource_name(c.resource_name)
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    })
                    .collect(),
            )
        }),
        ApiKey::IncrementalAlterConfigs => answer!(IncrementalAlterConfigsRequest, |r| {
            IncrementalAlterConfigsResponse::default().with_responses(
                r.resources
                    .into_iter()
                    .map(|c| {
                        IncrementalResourceResponse::default()
                            .with_resource_type(c.resource_type)
                            .with_resource_name(c.resource_name)
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    })
                    .collect(),
            )
        }),
        ApiKey::CreateAcls => answer!(CreateAclsRequest, |r| {
            CreateAclsResponse::default().with_results(
                r.creations
                    .iter()
                    .map(|_| {
                        AclCreationResult::default()
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    })
                    .collect(),
            )
        }),
        ApiKey::DeleteAcls => answer!(DeleteAclsRequest, |r| {
            DeleteAclsResponse::default().with_filter_results(
                r.filters
                    .iter()
                    .map(|_| {
                        DeleteAclsFilterResult::default()
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    })
                    .collect(),
            )
        }),
        ApiKey::AlterUserScramCredentials => answer!(AlterUserScramCredentialsRequest, |r| {
            // One result per user named, as Kafka's getErrorResponse.
            let mut users: Vec<StrBytes> = r
                .deletions
                .into_iter()
                .map(|d| d.name)
                .chain(r.upsertions.into_iter().map(|u| u.name))
                .collect();
            users.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
            users.dedup();
            AlterUserScramCredentialsResponse::default().with_results(
                users
                    .into_iter()
                    .map(|user| {
                        AlterUserScramCredentialsResult::default()
                            .with_user(user)
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    })
                    .collect(),
            )
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::{ResponseHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;
    use crate::kafka::forwarding::FORWARDED_APIS;

    const TIMED_OUT: i16 = 7;
    const WHY: ForwardFailure = ForwardFailure::TimedOut;

    fn body<M: Encodable>(request: &M, version: i16) -> Bytes {
        let mut buf = bytes::BytesMut::new();
        request.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    fn decoded<M: Decodable>(api: ApiKey, version: i16, mut frame: Bytes) -> M {
        ResponseHeader::decode(&mut frame, api.response_header_version(version)).unwrap();
        M::decode(&mut frame, version).unwrap()
    }

    #[test]
    fn every_topic_of_a_delete_gets_the_error_by_name_or_id() {
        let names = DeleteTopicsRequest::default().with_topic_names(vec![
            TopicName(StrBytes::from_static_str("a")),
            TopicName(StrBytes::from_static_str("b")),
        ]);
        let frame = error_response(ApiKey::DeleteTopics, 4, 9, body(&names, 4), &WHY)
            .unwrap()
            .unwrap();
        let response: DeleteTopicsResponse = decoded(ApiKey::DeleteTopics, 4, frame);
        let named: Vec<_> = response
            .responses
            .iter()
            .map(|r| (r.name.as_ref().unwrap().0.as_str(), r.error_code))
            .collect();
        assert_eq!(named, [("a", TIMED_OUT), ("b", TIMED_OUT)]);

        let id = uuid::Uuid::from_u128(5);
        let by_id = DeleteTopicsRequest::default()
            .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
        let frame = error_response(ApiKey::DeleteTopics, 6, 9, body(&by_id, 6), &WHY)
            .unwrap()
            .unwrap();
        let response: DeleteTopicsResponse = decoded(ApiKey::DeleteTopics, 6, frame);
        assert_eq!(response.responses.len(), 1);
        assert_eq!(response.responses[0].topic_id, id);
        assert_eq!(response.responses[0].error_code, TIMED_OUT);
        assert_eq!(
            response.responses[0].error_message.as_deref(),
            Some("the active controller did not answer the forwarded request in time"),
            "v5+ carries the message"
        );
    }

    #[test]
    fn scram_alterations_answer_once_per_user() {
        use kafka_protocol::messages::alter_user_scram_credentials_request::{
            ScramCredentialDeletion, ScramCredentialUpsertion,
        };
        let request = AlterUserScramCredentialsRequest::default()
            .with_deletions(vec![
                ScramCredentialDeletion::default().with_name(StrBytes::from_static_str("u"))
            ])
            .with_upsertions(vec![
                ScramCredentialUpsertion::default().with_name(StrBytes::from_static_str("u")),
                ScramCredentialUpsertion::default().with_name(StrBytes::from_static_str("v")),
            ]);
        let api = ApiKey::AlterUserScramCredentials;
        let frame = error_response(api, 0, 1, body(&request, 0), &WHY)
            .unwrap()
            .unwrap();
        let response: AlterUserScramCredentialsResponse = decoded(api, 0, frame);
        let users: Vec<_> = response.results.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(users, ["u", "v"]);
    }

    #[test]
    fn every_forwarded_api_has_an_error_answer() {
        for api in FORWARDED_APIS {
            let version = crate::kafka::supported_apis::supported_range(api)
                .expect("a forwarded API is supported")
                .1;
            // An empty request of each API decodes from its default encoding.
            let empty = match api {
                ApiKey::DeleteTopics => body(&DeleteTopicsRequest::default(), version),
                ApiKey::CreatePartitions => body(&CreatePartitionsRequest::default(), version),
                ApiKey::AlterConfigs => body(&AlterConfigsRequest::default(), version),
                ApiKey::IncrementalAlterConfigs => {
                    body(&IncrementalAlterConfigsRequest::default(), version)
                }
                ApiKey::CreateAcls => body(&CreateAclsRequest::default(), version),
                ApiKey::DeleteAcls => body(&DeleteAclsRequest::default(), version),
                ApiKey::AlterUserScramCredentials => {
                    body(&AlterUserScramCredentialsRequest::default(), version)
                }
                other => panic!("{other:?} is forwarded but not covered here"),
            };
            assert!(
                error_response(api, version, 1, empty, &WHY)
                    .expect("answered")
                    .is_ok(),
                "{api:?} v{version}"
            );
        }
    }
}

//! DescribeUserScramCredentials v0 (KIP-554): per user, the SCRAM mechanisms
//! and iteration counts it has (`core::scram::describe`). Salts and keys
//! never leave the broker. As in Kafka, a success carries the error
//! message "" (the field's default), not null.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use crate::core::scram::describe;
use crate::kafka::error_code::{code, for_scram_error};
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

/// The whole request refused with `error` (Kafka's `getErrorResponse`: the
/// top-level error, and one result per named user carrying it, without
/// the user's name, and null messages).
pub fn refuse_all(
    request: &DescribeUserScramCredentialsRequest,
    error: ResponseError,
) -> DescribeUserScramCredentialsResponse {
    let named = request.users.as_ref().map_or(0, Vec::len);
    let result = DescribeUserScramCredentialsResult::default()
        .with_error_code(code(error))
        .with_error_message(None);
    DescribeUserScramCredentialsResponse::default()
        .with_error_code(code(error))
        .with_error_message(None)
        .with_results(vec![result; named])
}

pub fn handle(
    broker: &Broker,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let named: Option<Vec<&str>> = request
        .users
        .as_ref()
        .map(|users| users.iter().map(|u| u.name.as_str()).collect());
    let image = broker.image();
    let descriptions = match describe::describe(&image.scram, named.as_deref()) {
        Ok(descriptions) => descriptions,
        Err(e) => {
            return DescribeUserScramCredentialsResponse::default()
                .with_error_code(for_scram_error(&e))
                .with_error_message(Some(str_bytes(&format!(
                    "At most {} users can be described in one request",
                    crate::core::scram::REQUEST_ENTRIES_MAX
                ))))
        }
    };
    let results = descriptions
        .into_iter()
        .map(|d| {
            let result =
                DescribeUserScramCredentialsResult::default().with_user(str_bytes(&d.user));
            match d.result {
                Ok(credentials) => result.with_credential_infos(
                    credentials
                        .into_iter()
                        .map(|(mechanism, iterations)| {
                            CredentialInfo::default()
                                .with_mechanism(mechanism.code())
                                .with_iterations(iterations)
                        })
                        .collect(),
                ),
                Err(e) => result
                    .with_error_code(for_scram_error(&e))
                    .with_error_message(e.message().as_deref().map(str_bytes)),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

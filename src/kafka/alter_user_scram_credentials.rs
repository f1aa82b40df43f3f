//! AlterUserScramCredentials v0 (KIP-554): deletions and upsertions of
//! SCRAM credentials, validated and turned into metadata records by
//! `core::scram::alter`, committed to the metadata journal, one result per
//! user. The client sends the salted password; the broker stores the salt,
//! the stored key, the server key and the iterations.
//!
//! The credentials are kept for a future SASL/SCRAM listener: odradek has no
//! SASL authentication yet.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};

use crate::core::scram::alter::{self, Deletion, Upsertion};
use crate::kafka::error_code::{code, for_scram_error};
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

/// Every distinct user of the request, in name order, answered with
/// `error` and no message (Kafka's `getErrorResponse`).
pub fn refuse_all(
    request: &AlterUserScramCredentialsRequest,
    error: ResponseError,
) -> AlterUserScramCredentialsResponse {
    let mut users: Vec<&str> = request
        .deletions
        .iter()
        .map(|d| d.name.as_str())
        .chain(request.upsertions.iter().map(|u| u.name.as_str()))
        .collect();
    users.sort_unstable();
    users.dedup();
    let results = users
        .into_iter()
        .map(|user| {
            AlterUserScramCredentialsResult::default()
                .with_user(str_bytes(user))
                .with_error_code(code(error))
                .with_error_message(None)
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

pub async fn handle(
    broker: &Broker,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<Deletion<'_>> = request
        .deletions
        .iter()
        .map(|d| Deletion {
            user: d.name.as_str(),
            mechanism: d.mechanism,
        })
        .collect();
    let upsertions: Vec<Upsertion<'_>> = request
        .upsertions
        .iter()
        .map(|u| Upsertion {
            user: u.name.as_str(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: &u.salt,
            salted_password: &u.salted_password,
        })
        .collect();
    let max_credentials = broker.config.limits.max_scram_credentials;
    let committed = broker
        .commit_built(|image| alter::alter(&image.scram, &deletions, &upsertions, max_credentials))
        .await;
    let outcomes = match committed {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::warn!(%e, "AlterUserScramCredentials could not be committed");
            return refuse_all(&request, ResponseError::UnknownServerError);
        }
    };
    if outcomes
        .iter()
        .any(|o| o.result == Err(crate::core::scram::ScramError::RequestTooLarge))
    {
        tracing::warn!(
            entries = deletions.len() + upsertions.len(),
            max = crate::core::scram::REQUEST_ENTRIES_MAX,
            "AlterUserScramCredentials refused: too many entries"
        );
    }
    let results = outcomes
        .into_iter()
        .map(|o| {
            // Kafka sends a null message with success (and "" nowhere).
            let result = AlterUserScramCredentialsResult::default()
                .with_user(str_bytes(&o.user))
                .with_error_message(None);
            match o.result {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(for_scram_error(&e))
                    .with_error_message(e.message().as_deref().map(str_bytes)),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

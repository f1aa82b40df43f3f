//! ApiVersions: advertises exactly [`SUPPORTED_APIS`].

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiVersionsResponse;

use crate::kafka::supported_apis::SUPPORTED_APIS;

/// The response; `error_code` is UNSUPPORTED_VERSION when the client asked
/// for a version we do not speak (it then retries with one we list).
pub fn handle(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED_APIS
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

//! Which version of each API to speak: ours, capped by what the broker
//! advertises in ApiVersions.

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::StrBytes;

use super::{ClientError, Connection};

/// The versions this client speaks: (api, lowest we can use, highest).
/// Produce and Fetch stay below the versions that name topics by id.
const SUPPORTED: [(ApiKey, i16, i16); 9] = [
    (ApiKey::Produce, 3, 8),
    (ApiKey::Fetch, 5, 11),
    (ApiKey::CreateTopics, 2, 5),
    (ApiKey::InitProducerId, 0, 4),
    // The lifecycle workload's admin calls and lookups.
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::ListOffsets, 1, 6),
    // The cluster workload routes by leader; below the versions that
    // name topics by id.
    (ApiKey::Metadata, 1, 9),
];

/// The API versions negotiated with one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionsInUse {
    pub produce: i16,
    pub fetch: i16,
    pub create_topics: i16,
    pub init_producer_id: i16,
    pub delete_topics: i16,
    pub incremental_alter_configs: i16,
    pub delete_records: i16,
    pub list_offsets: i16,
    pub metadata: i16,
}

/// ApiVersions v3, falling back to v0 if the broker does not speak v3 (it
/// then answers UNSUPPORTED_VERSION with its ranges, per KIP-511).
async fn advertised(connection: &mut Connection) -> Result<Vec<(i16, i16, i16)>, ClientError> {
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("odradek-sim"))
        .with_client_software_version(StrBytes::from_static_str("0.1.0"));
    let mut response = connection.call(&request, 3).await?;
    if response.error_code == 35 {
        response = connection.call(&ApiVersionsRequest::default(), 0).await?;
    }
    if response.error_code != 0 {
        return Err(ClientError::kafka(response.error_code));
    }
    Ok(response
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect())
}

impl ApiVersionsInUse {
    pub async fn negotiate(connection: &mut Connection) -> Result<Self, ClientError> {
        let advertised = advertised(connection).await?;
        let mut chosen = [0i16; SUPPORTED.len()];
        for (slot, (api, ours_min, ours_max)) in chosen.iter_mut().zip(SUPPORTED) {
            let Some((_, min, max)) = advertised.iter().find(|(key, _, _)| *key == api as i16)
            else {
                return Err(ClientError::Protocol(format!(
                    "broker does not advertise {api:?}"
                )));
            };
            let version = ours_max.min(*max);
            if version < ours_min.max(*min) {
                return Err(ClientError::Protocol(format!(
                    "no common version of {api:?}: ours {ours_min}..={ours_max}, broker {min}..={max}"
                )));
            }
            *slot = version;
        }
        Ok(ApiVersionsInUse {
            produce: chosen[0],
            fetch: chosen[1],
            create_topics: chosen[2],
            init_producer_id: chosen[3],
            delete_topics: chosen[4],
            incremental_alter_configs: chosen[5],
            delete_records: chosen[6],
            list_offsets: chosen[7],
            metadata: chosen[8],
        })
    }
}

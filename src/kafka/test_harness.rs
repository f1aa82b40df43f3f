//! An in-process broker and a client-side codec for protocol tests: requests
//! are encoded as a client would, run through the real dispatcher, and the
//! responses decoded at the same version.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::kafka::dispatch::{handle_frame_from, Reply};
use crate::server::broker::Broker;
use crate::server::config::BrokerConfig;

pub const CORRELATION_ID: i32 = 4242;

/// A single-node broker over a perfect in-memory disk.
pub async fn broker() -> Arc<Broker> {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
    let config = BrokerConfig {
        data_dir: "data".to_string(),
        ..BrokerConfig::single_node_default()
    };
    Broker::open(config, disk).await.expect("broker opens")
}

/// One request from `client_id` at `peer`, answered through the dispatcher.
pub async fn call_as<Req: Encodable, Resp: Decodable>(
    broker: &Broker,
    api: ApiKey,
    version: i16,
    request: &Req,
    client_id: &str,
    peer: Option<SocketAddr>,
) -> Resp {
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(CORRELATION_ID)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())))
        .encode(&mut frame, api.request_header_version(version))
        .expect("header encodes");
    request
        .encode(&mut frame, version)
        .unwrap_or_else(|e| panic!("{api:?} v{version} request encodes: {e}"));
    let reply = handle_frame_from(broker, frame.freeze(), peer)
        .await
        .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
    let Reply::Frame(mut response) = reply else {
        panic!("{api:?} v{version}: no response")
    };
    decode_response(api, version, &mut response)
}

pub fn decode_response<Resp: Decodable>(api: ApiKey, version: i16, response: &mut Bytes) -> Resp {
    let header = ResponseHeader::decode(response, api.response_header_version(version))
        .expect("header decodes");
    assert_eq!(header.correlation_id, CORRELATION_ID);
    let body = Resp::decode(response, version)
        .unwrap_or_else(|e| panic!("{api:?} v{version} response decodes: {e}"));
    assert!(
        !response.has_remaining(),
        "{api:?} v{version}: {} trailing bytes",
        response.remaining()
    );
    body
}

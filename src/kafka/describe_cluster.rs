//! DescribeCluster v0–1: the cluster id, the controller (this node) and the
//! registered brokers, as Metadata reports them. v1 asks for an endpoint
//! type: brokers (1) are answered; controllers (2) get
//! UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers. Asked-for
//! authorized operations are every cluster operation (no authorizer).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use crate::kafka::authorized_operations::{self as ops, if_requested};
use crate::kafka::error_code::code;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

const ENDPOINT_BROKERS: i8 = 1;

pub fn handle(
    broker: &Broker,
    request: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let endpoint_type = if version >= 1 {
        request.endpoint_type
    } else {
        ENDPOINT_BROKERS
    };
    let response = DescribeClusterResponse::default()
        .with_cluster_authorized_operations(if_requested(
            request.include_cluster_authorized_operations,
            ops::CLUSTER,
        ))
        .with_endpoint_type(if version >= 1 { endpoint_type } else { 1 });
    if endpoint_type != ENDPOINT_BROKERS {
        return response
            .with_error_code(code(ResponseError::UnsupportedEndpointType))
            .with_error_message(Some(str_bytes(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
            )));
    }
    let image = broker.image();
    let brokers = image
        .brokers
        .values()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(str_bytes(&b.host))
                .with_port(b.port as i32)
                .with_rack(None)
        })
        .collect();
    response
        .with_cluster_id(str_bytes(&broker.config.cluster_id))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_brokers(brokers)
}

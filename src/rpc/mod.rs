//! Node-to-node messages: what one odradek node says to another, and how it
//! travels. `server::peers` opens and accepts the connections; the broker
//! does not start it yet (issue 12).
//!
//! - `envelope`: [`RpcEnvelope`], the addressed message (cluster, from, to, body).
//! - `frame`: one envelope as bytes: length, CRC-32C, bounded bincode;
//!   the incremental decoder that never panics.
//! - `request`: calls between nodes (replica fetch, broker to controller)
//!   and their answers.
//! - `record_bytes`: record batches as one length and raw bytes.
//! - `transport`: [`RpcConnection`], frames over one TCP stream (real tokio
//!   or madsim), rejecting foreign-cluster and misrouted envelopes; split
//!   into [`RpcReceiver`] and [`RpcSender`] halves.
//!
//! docs/protocol.md ("Node-to-node frames") describes the format and limits.

pub mod envelope;
pub mod frame;
pub mod record_bytes;
pub mod request;
pub mod transport;

pub use envelope::{RpcBody, RpcEnvelope};
pub use frame::{decode_frame, encode_frame, RpcFrameError, RPC_FRAME_BYTES_MAX};
pub use record_bytes::RecordBytes;
pub use request::{
    ControllerRequest, ControllerResponse, PartitionFetchAnswer, ReplicaFetch, ReplicaFetchAnswer,
    ReplicaFetchPartition, RpcRequest, RpcResponse,
};
pub use transport::{RpcConnection, RpcError, RpcReceiver, RpcSender};

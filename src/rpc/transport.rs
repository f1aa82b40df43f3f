//! Envelopes over one TCP stream, on real tokio or on madsim (the
//! `madsim-tokio` shim): [`RpcConnection::send`] writes one frame and
//! flushes (madsim buffers writes until a flush), [`RpcConnection::recv`]
//! reads until one whole frame is buffered, within a timeout, and delivers
//! the envelope only if it is for this cluster and this node.
//!
//! One connection, no pool and no reconnect: `server::peers` owns those.
//! [`RpcConnection::into_split`] gives a receiving and a sending half.
//! After any error the caller drops the connection (a frame error leaves
//! the stream without a trustworthy boundary; a foreign or misrouted
//! envelope means the peer is misconfigured).

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::rpc::envelope::RpcEnvelope;
use crate::rpc::frame::{decode_frame, encode_frame, RpcFrameError};

/// Bytes asked of the socket per read. The read buffer holds at most one
/// frame (`RPC_FRAME_BYTES_MAX` plus header) plus one chunk.
pub const RPC_READ_CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error(transparent)]
    Frame(#[from] RpcFrameError),
    #[error("rpc i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("no whole rpc frame within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("rpc peer closed the connection")]
    Closed,
    #[error("envelope from cluster {got:?}, this node is in cluster {expected:?}")]
    ForeignCluster { expected: String, got: String },
    #[error("envelope from node {from} to node {to} arrived at node {local}")]
    Misrouted { from: i32, to: i32, local: i32 },
    #[error("envelope from node {from} to node {to} disagrees with its body")]
    Inconsistent { from: i32, to: i32 },
}

/// One TCP stream to a peer, as node `local_node_id` of cluster `cluster_id`.
pub struct RpcConnection {
    stream: TcpStream,
    read_buf: BytesMut,
    cluster_id: String,
    local_node_id: i32,
}

impl RpcConnection {
    pub fn new(stream: TcpStream, cluster_id: impl Into<String>, local_node_id: i32) -> Self {
        let cluster_id = cluster_id.into();
        assert!(
            !cluster_id.is_empty(),
            "an rpc connection needs a cluster id"
        );
        // Frames are written whole and flushed; Nagle's algorithm would hold
        // the tail of a multi-segment fetch answer until the peer's delayed
        // ACK (40 ms on Linux), a request/answer ping-pong's worst case. Kafka
        // sets TCP_NODELAY on every socket, as the Kafka listener here does.
        let _ = stream.set_nodelay(true);
        RpcConnection {
            stream,
            read_buf: BytesMut::new(),
            cluster_id,
            local_node_id,
        }
    }

    /// Writes `envelope` as one frame and flushes. The envelope must be
    /// from this node of this cluster (a programmer error otherwise).
    pub async fn send(&mut self, envelope: &RpcEnvelope) -> Result<(), RpcError> {
        write_envelope(
            &mut self.stream,
            &self.cluster_id,
            self.local_node_id,
            envelope,
        )
        .await
    }

    /// The next envelope for this node, waiting at most `timeout` for it.
    /// An envelope of another cluster, for another node, or whose body
    /// disagrees with its addresses is an error, never returned.
    pub async fn recv(&mut self, timeout: Duration) -> Result<RpcEnvelope, RpcError> {
        let envelope = match tokio::time::timeout(timeout, self.read_envelope()).await {
            Ok(result) => result?,
            Err(_elapsed) => {
                return Err(RpcError::Timeout {
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                })
            }
        };
        self.check_addressed_here(&envelope)?;
        Ok(envelope)
    }

    /// Reads until a whole frame is buffered. Cancel safe: bytes read stay
    /// in `read_buf` when the timeout drops this future.
    async fn read_envelope(&mut self) -> Result<RpcEnvelope, RpcError> {
        loop {
            if let Some(envelope) = decode_frame(&mut self.read_buf)? {
                return Ok(envelope);
            }
            self.read_buf.reserve(RPC_READ_CHUNK_BYTES);
            let read_bytes = self.stream.read_buf(&mut self.read_buf).await?;
            if read_bytes == 0 {
                return Err(RpcError::Closed);
            }
        }
    }

    fn check_addressed_here(&self, envelope: &RpcEnvelope) -> Result<(), RpcError> {
        check_addressed_here(&self.cluster_id, self.local_node_id, envelope)
    }
}

impl RpcConnection {
    /// Splits the connection into a receiving and a sending half, so that
    /// one task can wait for envelopes while another writes (neither
    /// blocks the other: `tokio::io::split` locks only inside one poll).
    /// Bytes already buffered for reading go with the receiver.
    pub fn into_split(self) -> (RpcReceiver, RpcSender) {
        let (read, write) = tokio::io::split(self.stream);
        (
            RpcReceiver {
                read,
                read_buf: self.read_buf,
                cluster_id: self.cluster_id.clone(),
                local_node_id: self.local_node_id,
            },
            RpcSender {
                write,
                cluster_id: self.cluster_id,
                local_node_id: self.local_node_id,
            },
        )
    }
}

/// The receiving half of a split [`RpcConnection`]; same checks as
/// [`RpcConnection::recv`].
pub struct RpcReceiver {
    read: tokio::io::ReadHalf<TcpStream>,
    read_buf: BytesMut,
    cluster_id: String,
    local_node_id: i32,
}

impl RpcReceiver {
    /// The next envelope for this node, waiting at most `timeout`. Cancel
    /// safe: a partial frame stays buffered.
    pub async fn recv(&mut self, timeout: Duration) -> Result<RpcEnvelope, RpcError> {
        let read = async {
            loop {
                if let Some(envelope) = decode_frame(&mut self.read_buf)? {
                    return Ok::<_, RpcError>(envelope);
                }
                self.read_buf.reserve(RPC_READ_CHUNK_BYTES);
                let read_bytes = self.read.read_buf(&mut self.read_buf).await?;
                if read_bytes == 0 {
                    return Err(RpcError::Closed);
                }
            }
        };
        let envelope = match tokio::time::timeout(timeout, read).await {
            Ok(result) => result?,
            Err(_elapsed) => {
                return Err(RpcError::Timeout {
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                })
            }
        };
        check_addressed_here(&self.cluster_id, self.local_node_id, &envelope)?;
        Ok(envelope)
    }
}

/// The sending half of a split [`RpcConnection`].
pub struct RpcSender {
    write: tokio::io::WriteHalf<TcpStream>,
    cluster_id: String,
    local_node_id: i32,
}

impl RpcSender {
    /// Writes `envelope` as one frame and flushes; same preconditions as
    /// [`RpcConnection::send`].
    pub async fn send(&mut self, envelope: &RpcEnvelope) -> Result<(), RpcError> {
        write_envelope(
            &mut self.write,
            &self.cluster_id,
            self.local_node_id,
            envelope,
        )
        .await
    }
}

fn check_addressed_here(
    cluster_id: &str,
    local_node_id: i32,
    envelope: &RpcEnvelope,
) -> Result<(), RpcError> {
    if envelope.cluster_id != cluster_id {
        return Err(RpcError::ForeignCluster {
            expected: cluster_id.to_string(),
            got: envelope.cluster_id.clone(),
        });
    }
    if envelope.to != local_node_id {
        return Err(RpcError::Misrouted {
            from: envelope.from,
            to: envelope.to,
            local: local_node_id,
        });
    }
    if !envelope.is_self_consistent() {
        return Err(RpcError::Inconsistent {
            from: envelope.from,
            to: envelope.to,
        });
    }
    Ok(())
}

/// Writes `envelope` as one frame and flushes (madsim buffers writes until
/// a flush). Sending for another cluster or node, or an envelope that
/// disagrees with its body, is a programmer error.
async fn write_envelope<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    cluster_id: &str,
    local_node_id: i32,
    envelope: &RpcEnvelope,
) -> Result<(), RpcError> {
    assert_eq!(
        envelope.cluster_id, cluster_id,
        "sending for another cluster"
    );
    assert_eq!(envelope.from, local_node_id, "sending as another node");
    assert!(
        envelope.is_self_consistent(),
        "envelope disagrees with its body"
    );
    let frame = encode_frame(envelope)?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;
    use crate::core::raft::{Message, MessageBody};
    use crate::rpc::envelope::RpcBody;
    use crate::rpc::frame::RPC_FRAME_BYTES_MAX;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A connected pair of raw streams on 127.0.0.1: (dialer, acceptor).
    async fn stream_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (dialed.unwrap(), accepted.unwrap().0)
    }

    fn hello(cluster_id: &str, from: i32, to: i32) -> RpcEnvelope {
        RpcEnvelope {
            cluster_id: cluster_id.into(),
            from,
            to,
            body: RpcBody::Hello {
                node_id: from,
                incarnation: 4,
            },
        }
    }

    fn vote(from: i32, to: i32) -> RpcEnvelope {
        RpcEnvelope {
            cluster_id: "c1".into(),
            from,
            to,
            body: RpcBody::Raft(Message {
                from: from as u64,
                to: to as u64,
                term: 7,
                body: MessageBody::Vote {
                    last_log_index: 12,
                    last_log_term: 6,
                },
            }),
        }
    }

    #[tokio::test]
    async fn hello_and_raft_message_cross_a_real_socket() {
        let (dialer, acceptor) = stream_pair().await;
        let mut node1 = RpcConnection::new(dialer, "c1", 1);
        let mut node2 = RpcConnection::new(acceptor, "c1", 2);

        node1.send(&hello("c1", 1, 2)).await.unwrap();
        node1.send(&vote(1, 2)).await.unwrap();
        assert_eq!(node2.recv(TIMEOUT).await.unwrap(), hello("c1", 1, 2));
        assert_eq!(node2.recv(TIMEOUT).await.unwrap(), vote(1, 2));

        node2.send(&vote(2, 1)).await.unwrap();
        assert_eq!(node1.recv(TIMEOUT).await.unwrap(), vote(2, 1));
    }

    #[tokio::test]
    async fn split_halves_read_while_the_other_writes() {
        let (dialer, acceptor) = stream_pair().await;
        let (mut rx1, mut tx1) = RpcConnection::new(dialer, "c1", 1).into_split();
        let (mut rx2, mut tx2) = RpcConnection::new(acceptor, "c1", 2).into_split();
        // Node 1 waits to receive while it sends: neither half blocks the other.
        let waiting = tokio::spawn(async move { rx1.recv(TIMEOUT).await });
        tx1.send(&vote(1, 2)).await.unwrap();
        assert_eq!(rx2.recv(TIMEOUT).await.unwrap(), vote(1, 2));
        tx2.send(&vote(2, 1)).await.unwrap();
        assert_eq!(waiting.await.unwrap().unwrap(), vote(2, 1));
    }

    #[tokio::test]
    async fn foreign_cluster_is_rejected() {
        let (dialer, acceptor) = stream_pair().await;
        let mut stranger = RpcConnection::new(dialer, "other-cluster", 1);
        let mut node2 = RpcConnection::new(acceptor, "c1", 2);

        stranger.send(&hello("other-cluster", 1, 2)).await.unwrap();
        match node2.recv(TIMEOUT).await {
            Err(RpcError::ForeignCluster { expected, got }) => {
                assert_eq!(expected, "c1");
                assert_eq!(got, "other-cluster");
            }
            other => panic!("expected ForeignCluster, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn envelope_for_another_node_is_rejected() {
        let (dialer, acceptor) = stream_pair().await;
        let mut node1 = RpcConnection::new(dialer, "c1", 1);
        let mut node2 = RpcConnection::new(acceptor, "c1", 2);

        node1.send(&vote(1, 3)).await.unwrap();
        assert!(matches!(
            node2.recv(TIMEOUT).await,
            Err(RpcError::Misrouted {
                from: 1,
                to: 3,
                local: 2
            })
        ));
    }

    #[tokio::test]
    async fn envelope_disagreeing_with_its_body_is_rejected() {
        let (mut dialer, acceptor) = stream_pair().await;
        let mut node2 = RpcConnection::new(acceptor, "c1", 2);

        // The Raft message inside is addressed to node 3: written raw, as
        // `send` refuses to build it.
        let mut envelope = vote(1, 2);
        envelope.body = vote(1, 3).body;
        dialer
            .write_all(&encode_frame(&envelope).unwrap())
            .await
            .unwrap();
        dialer.flush().await.unwrap();
        assert!(matches!(
            node2.recv(TIMEOUT).await,
            Err(RpcError::Inconsistent { from: 1, to: 2 })
        ));
    }

    #[tokio::test]
    async fn oversized_header_is_a_frame_error() {
        let (mut dialer, acceptor) = stream_pair().await;
        let mut node2 = RpcConnection::new(acceptor, "c1", 2);

        let length = (RPC_FRAME_BYTES_MAX as u32 + 1).to_be_bytes();
        dialer.write_all(&length).await.unwrap();
        dialer.flush().await.unwrap();
        assert!(matches!(
            node2.recv(TIMEOUT).await,
            Err(RpcError::Frame(RpcFrameError::TooLarge { .. }))
        ));
    }

    #[tokio::test]
    async fn silence_times_out_and_a_closed_peer_is_closed() {
        let (dialer, acceptor) = stream_pair().await;
        let mut node2 = RpcConnection::new(acceptor, "c1", 2);

        assert!(matches!(
            node2.recv(Duration::from_millis(50)).await,
            Err(RpcError::Timeout { timeout_ms: 50 })
        ));
        drop(dialer);
        assert!(matches!(node2.recv(TIMEOUT).await, Err(RpcError::Closed)));
    }
}

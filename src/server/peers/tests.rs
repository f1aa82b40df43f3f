//! Peers on loopback: calls, timeouts, dropped connections, Raft delivery,
//! and a stranger's garbage.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::*;
use crate::core::raft::{Message, MessageBody};
use crate::rpc::{ControllerRequest, ControllerResponse};

const WAIT: Duration = Duration::from_secs(5);

/// Answers `AllocateProducerIds` with the caller's id; sleeps first if
/// asked to (`node_id` 99), and on every replica fetch (a long poll).
struct Echo;

impl RpcHandler for Echo {
    fn handle(&self, from: i32, request: RpcRequest) -> RpcHandlerFuture<'_> {
        Box::pin(async move {
            let slow = matches!(
                request,
                RpcRequest::Controller(ControllerRequest::AllocateProducerIds { node_id: 99 })
                    | RpcRequest::ReplicaFetch(_)
            );
            if slow {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            RpcResponse::Controller(ControllerResponse::ProducerIds {
                start: from as i64,
                len: 1,
            })
        })
    }
}

fn allocate(node_id: i32) -> RpcRequest {
    RpcRequest::Controller(ControllerRequest::AllocateProducerIds { node_id })
}

async fn listeners(count: usize) -> (Vec<TcpListener>, BTreeMap<i32, SocketAddr>) {
    let mut listeners = Vec::new();
    let mut addresses = BTreeMap::new();
    for id in 1..=count as i32 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addresses.insert(id, listener.local_addr().unwrap());
        listeners.push(listener);
    }
    (listeners, addresses)
}

async fn pair() -> (Arc<Peers>, Arc<Peers>) {
    let (mut listeners, addresses) = listeners(2).await;
    let two = Peers::start(2, "c1", listeners.pop().unwrap(), addresses.clone(), 1);
    let one = Peers::start(1, "c1", listeners.pop().unwrap(), addresses, 1);
    (one, two)
}

fn vote(from: u64, to: u64) -> Message {
    Message {
        from,
        to,
        term: 4,
        body: MessageBody::Vote {
            last_log_index: 1,
            last_log_term: 1,
        },
    }
}

#[tokio::test]
async fn a_call_is_answered_by_the_handler() {
    let (one, two) = pair().await;
    let refused = one.call(2, allocate(1), WAIT).await.unwrap();
    assert!(
        matches!(refused, RpcResponse::Refused(_)),
        "no handler yet: {refused:?}"
    );
    two.set_handler(Arc::new(Echo));
    for _ in 0..3 {
        let answer = one.call(2, allocate(1), WAIT).await.unwrap();
        assert_eq!(
            answer,
            RpcResponse::Controller(ControllerResponse::ProducerIds { start: 1, len: 1 })
        );
    }
    assert_eq!(
        one.call(7, allocate(1), WAIT).await,
        Err(CallError::UnknownPeer { to: 7 })
    );
    one.shutdown();
    two.shutdown();
}

#[tokio::test]
async fn a_slow_answer_times_out_and_others_still_pass() {
    let (one, two) = pair().await;
    two.set_handler(Arc::new(Echo));
    let slow = one.call(2, allocate(99), Duration::from_millis(200)).await;
    assert!(
        matches!(slow, Err(CallError::Timeout { to: 2, .. })),
        "{slow:?}"
    );
    assert!(one.call(2, allocate(1), WAIT).await.is_ok());
    one.shutdown();
    two.shutdown();
}

/// A call that times out drops its connection, as Kafka's NetworkClient
/// does: what waits on it fails at once (its caller asks again on a fresh
/// connection) rather than behind frames a partition may have held up.
#[tokio::test]
async fn a_timed_out_call_drops_its_connection_and_the_next_call_dials_again() {
    let (one, two) = pair().await;
    two.set_handler(Arc::new(Echo));
    let caller = Arc::clone(&one);
    let waiting = tokio::spawn(async move { caller.call(2, allocate(99), WAIT).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let timed_out = one.call(2, allocate(99), Duration::from_millis(200)).await;
    assert!(
        matches!(timed_out, Err(CallError::Timeout { to: 2, .. })),
        "{timed_out:?}"
    );
    let waited = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("the call on the dropped connection ends at once")
        .unwrap();
    assert_eq!(waited, Err(CallError::Disconnected { to: 2 }));
    assert!(one.call(2, allocate(1), WAIT).await.is_ok());
    one.shutdown();
    two.shutdown();
}

/// A call that times out on a connection that still answers others (a
/// controller slow to commit one change) leaves the connection up: the
/// calls waiting on it keep waiting.
#[tokio::test]
async fn a_slow_call_on_a_connection_that_answers_others_leaves_it_up() {
    let (one, two) = pair().await;
    two.set_handler(Arc::new(Echo));
    let caller = Arc::clone(&one);
    let waiting = tokio::spawn(async move { caller.call(2, allocate(99), WAIT).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let caller = Arc::clone(&one);
    let slow = tokio::spawn(async move {
        caller
            .call(2, allocate(99), Duration::from_millis(400))
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(one.call(2, allocate(1), WAIT).await.is_ok());
    let slow = slow.await.unwrap();
    assert!(
        matches!(slow, Err(CallError::Timeout { to: 2, .. })),
        "{slow:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "the call still waiting was failed: {:?}",
        waiting.await
    );
    waiting.abort();
    one.shutdown();
    two.shutdown();
}

#[tokio::test]
async fn a_dropped_connection_fails_the_call() {
    let (one, two) = pair().await;
    two.set_handler(Arc::new(Echo));
    let caller = Arc::clone(&one);
    let slow = tokio::spawn(async move { caller.call(2, allocate(99), WAIT).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    two.shutdown();
    let result = tokio::time::timeout(WAIT, slow).await.unwrap().unwrap();
    assert_eq!(result, Err(CallError::Disconnected { to: 2 }));
    one.shutdown();
}

/// A replica fetch that long-polls.
fn fetch() -> RpcRequest {
    RpcRequest::ReplicaFetch(crate::rpc::ReplicaFetch {
        partitions: Vec::new(),
        max_wait_ms: 30_000,
        response_max_bytes: 1,
    })
}

#[tokio::test]
async fn controller_calls_and_raft_never_wait_behind_replica_fetches() {
    let (one, two) = pair().await;
    two.set_handler(Arc::new(Echo));
    let (inbox, mut inbox_rx) = mpsc::channel(16);
    two.set_raft_inbox(inbox);
    // Every data-lane slot held by a long poll, and more fetches queued.
    let mut fetches = Vec::new();
    for _ in 0..PEER_CALLS_IN_FLIGHT_MAX + 8 {
        let caller = Arc::clone(&one);
        fetches.push(tokio::spawn(async move {
            caller.call(2, fetch(), Duration::from_secs(60)).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        fetches.iter().all(|f| !f.is_finished()),
        "fetches long-poll"
    );
    let answer = one.call(2, allocate(1), WAIT).await;
    assert_eq!(
        answer,
        Ok(RpcResponse::Controller(ControllerResponse::ProducerIds {
            start: 1,
            len: 1
        }))
    );
    one.send_raft(vote(1, 2));
    let received = tokio::time::timeout(WAIT, inbox_rx.recv()).await.unwrap();
    assert_eq!(received.map(|inbound| inbound.message), Some(vote(1, 2)));
    for f in fetches {
        f.abort();
    }
    one.shutdown();
    two.shutdown();
}

#[tokio::test]
async fn raft_messages_reach_the_inbox_despite_a_strangers_garbage() {
    let (one, two) = pair().await;
    let (inbox, mut inbox_rx) = mpsc::channel(16);
    two.set_raft_inbox(inbox);
    two.set_handler(Arc::new(Echo));
    let address = two.inner.lock().addresses[&2];
    // Garbage, a foreign cluster's hello, and a silent connection.
    let mut garbage = TcpStream::connect(address).await.unwrap();
    garbage.write_all(&[0xff; 4096]).await.unwrap();
    garbage.flush().await.unwrap();
    let (mut other_listeners, mut other_addresses) = listeners(1).await;
    other_addresses.insert(2, address);
    let stranger = Peers::start(
        1,
        "other",
        other_listeners.pop().unwrap(),
        other_addresses,
        1,
    );
    stranger.send_raft(vote(1, 2));
    let _silent = TcpStream::connect(address).await.unwrap();

    one.send_raft(vote(1, 2));
    let received = tokio::time::timeout(WAIT, inbox_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received.message, vote(1, 2));
    assert!(one.call(2, allocate(1), WAIT).await.is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        inbox_rx.try_recv().is_err(),
        "the stranger's vote is dropped"
    );
    stranger.shutdown();
    one.shutdown();
    two.shutdown();
}

#[tokio::test]
async fn raft_messages_past_the_inbox_byte_budget_are_dropped() {
    let (one, two) = pair().await;
    let (inbox, mut inbox_rx) = mpsc::channel(4_096);
    two.set_raft_inbox(inbox);
    // Snapshot chunks of 1 MiB (a frame may carry 16), more than the
    // budget holds, while nobody steps them.
    let chunk = |offset| Message {
        from: 1,
        to: 2,
        term: 4,
        body: MessageBody::InstallSnapshot {
            meta: crate::core::raft::SnapshotMeta {
                last_index: 1,
                last_term: 1,
            },
            total_bytes: 1 << 30,
            offset,
            data: vec![0; 1 << 20],
        },
    };
    let fits = PEER_RAFT_INBOX_BYTES_MAX / raft_inbox_bytes(&chunk(0));
    for k in 0..fits as u64 + 8 {
        two.inner.deliver_raft(chunk(k));
    }
    let mut queued = Vec::new();
    while let Ok(inbound) = inbox_rx.try_recv() {
        queued.push(inbound);
    }
    assert_eq!(queued.len(), fits, "the rest is dropped");
    // Stepped (dropped), a message frees its bytes for the next one.
    two.inner.deliver_raft(chunk(0));
    assert!(inbox_rx.try_recv().is_err(), "still full");
    queued.pop();
    two.inner.deliver_raft(chunk(0));
    assert_eq!(inbox_rx.try_recv().unwrap().message, chunk(0));
    one.shutdown();
    two.shutdown();
}

/// Answers every call at once with 1 MiB, counting the calls.
struct Big(std::sync::atomic::AtomicUsize);

impl RpcHandler for Big {
    fn handle(&self, _from: i32, _request: RpcRequest) -> RpcHandlerFuture<'_> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { RpcResponse::Refused("x".repeat(1 << 20)) })
    }
}

#[tokio::test]
async fn a_peer_that_never_reads_holds_at_most_the_in_flight_answers() {
    let (one, two) = pair().await;
    let big = Arc::new(Big(std::sync::atomic::AtomicUsize::new(0)));
    two.set_handler(Arc::clone(&big) as Arc<dyn RpcHandler>);
    let address = two.inner.lock().addresses[&2];
    // A raw peer: hello, then many calls, never reading an answer. Its
    // receive buffer is kept small, so the sockets hold only a few answers.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let mut peer = crate::rpc::RpcConnection::new(stream, "c1", 1);
    let envelope = |body| crate::rpc::RpcEnvelope {
        cluster_id: "c1".into(),
        from: 1,
        to: 2,
        body,
    };
    peer.send(&envelope(crate::rpc::RpcBody::Hello {
        node_id: 1,
        incarnation: 1,
    }))
    .await
    .unwrap();
    for id in 0..400 {
        let request = allocate(1);
        peer.send(&envelope(crate::rpc::RpcBody::Request { id, request }))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    // Every answer served holds a slot until it is written: the answers
    // built are the slots plus what the sockets' buffers took (the
    // sender's, at most 4 MiB by default on Linux). Released once queued,
    // up to a queue's worth more (128 MiB) were built (149 seen).
    let built = big.0.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        built <= PEER_INBOUND_REQUESTS_IN_FLIGHT_MAX + 16,
        "{built} answers of 1 MiB built for a peer that reads none"
    );
    one.shutdown();
    two.shutdown();
}

#[tokio::test]
async fn a_peer_that_restarts_is_redialled() {
    let (one, two) = pair().await;
    let address = two.inner.lock().addresses[&2];
    two.set_handler(Arc::new(Echo));
    assert!(one.call(2, allocate(1), WAIT).await.is_ok());
    two.shutdown();
    drop(two);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let listener = TcpListener::bind(address).await.unwrap();
    let two = Peers::start(2, "c1", listener, BTreeMap::new(), 2);
    two.set_handler(Arc::new(Echo));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match one.call(2, allocate(1), Duration::from_secs(1)).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(%e, "retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("never reconnected: {e}"),
        }
    }
    one.shutdown();
    two.shutdown();
}

/// Whether the node closed `stream` within `within`: a read ends (EOF or
/// reset) instead of waiting.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn an_inbound_connection_without_a_whole_envelope_for_the_idle_limit_is_closed() {
    let (one, two) = pair().await;
    two.inner.inbound_idle_ms.store(300, Ordering::Relaxed);
    let address = two.inner.lock().addresses[&2];
    // A stranger says hello, then sends half a frame and stalls.
    let mut stalled = TcpStream::connect(address).await.unwrap();
    let hello = crate::rpc::RpcEnvelope {
        cluster_id: "c1".into(),
        from: 7,
        to: 2,
        body: crate::rpc::RpcBody::Hello {
            node_id: 7,
            incarnation: 1,
        },
    };
    let hello = crate::rpc::frame::encode_frame(&hello).unwrap();
    stalled.write_all(&hello).await.unwrap();
    stalled.write_all(&hello[..hello.len() / 2]).await.unwrap();
    assert!(
        closed_within(&mut stalled, Duration::from_secs(3)).await,
        "the stalled connection is closed after the idle limit"
    );
    // One that keeps sending envelopes is not, over three idle limits.
    let mut talking = TcpStream::connect(address).await.unwrap();
    for _ in 0..6 {
        talking.write_all(&hello).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        !closed_within(&mut talking, Duration::from_millis(100)).await,
        "a connection that sends envelopes stays open"
    );
    one.shutdown();
    two.shutdown();
}

//! What connections may hold: how many are open (in total and per client
//! address) and how many request bytes they keep in memory together.
//!
//! - `max.connections` / `max.connections.per.ip`: [`ConnectionLimits::admit`]
//!   gives a [`ConnectionSlot`] or refuses; the slot gives its place back
//!   when dropped, so every way a connection ends (clean close, bad frame,
//!   I/O error, idle timeout, panic of its task) counts it out.
//! - `queued.max.request.bytes`: a byte pool, as Kafka's `SimpleMemoryPool`
//!   in its non-strict mode. A connection reserves a frame's announced size
//!   before reading the frame's body and keeps it until the response is
//!   written. A reservation is granted while the pool's use is below the
//!   bound (so a frame larger than the bound is still served, alone); when it
//!   is not, the connection reads nothing more until reservations are freed.
//!   Use therefore stays below the bound plus one frame, and the buffers
//!   themselves hold only the bytes that arrived (see `kafka::frame`).
//!   A request that grows after it was admitted (a produced batch the
//!   broker rebuilds larger than it arrived, e.g. recompressed to the
//!   topic's codec) charges the growth with [`ConnectionLimits::charge_request_bytes`],
//!   which never waits (a waiting request would hold the pool while it
//!   waits, and requests waiting on each other never finish): the pool
//!   goes over its bound and new frames wait until the grown request ends.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::server::config::Limits;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{open} connections open, max.connections is {max}")]
    TooManyConnections { open: usize, max: usize },
    #[error("{open} connections open from {ip}, max.connections.per.ip is {max}")]
    TooManyFromAddress { ip: IpAddr, open: usize, max: usize },
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: BTreeMap<IpAddr, usize>,
}

pub struct ConnectionLimits {
    limits: Limits,
    counts: Mutex<Counts>,
    /// Request bytes reserved now, and a wake-up when some are freed.
    request_bytes: Mutex<usize>,
    request_bytes_freed: Notify,
}

/// Request bytes held in the pool; given back when dropped.
pub struct RequestBytes {
    owner: Arc<ConnectionLimits>,
    bytes: usize,
}

/// One admitted connection's place; freed on drop.
pub struct ConnectionSlot {
    owner: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    pub fn new(limits: Limits) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            limits,
            counts: Mutex::new(Counts::default()),
            request_bytes: Mutex::new(0),
            request_bytes_freed: Notify::new(),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("connection counts poisoned")
    }

    /// A place for a new connection from `ip`, or why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refused> {
        let mut counts = self.counts();
        if counts.total >= self.limits.max_connections {
            return Err(Refused::TooManyConnections {
                open: counts.total,
                max: self.limits.max_connections,
            });
        }
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.limits.max_connections_per_ip {
            return Err(Refused::TooManyFromAddress {
                ip,
                open: from_ip,
                max: self.limits.max_connections_per_ip,
            });
        }
        counts.total += 1;
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        Ok(ConnectionSlot {
            owner: Arc::clone(self),
            ip,
        })
    }

    /// Open connections (total, from `ip`).
    pub fn open(&self, ip: IpAddr) -> (usize, usize) {
        let counts = self.counts();
        (counts.total, counts.per_ip.get(&ip).copied().unwrap_or(0))
    }

    /// Reserves `size` request bytes, waiting while the pool's use is at or
    /// above `queued.max.request.bytes`. Held until the returned value drops.
    pub async fn reserve_request_bytes(self: &Arc<Self>, size: usize) -> RequestBytes {
        loop {
            let freed = self.request_bytes_freed.notified();
            tokio::pin!(freed);
            // Registered before the check: a release between the check and
            // the wait still wakes us.
            freed.as_mut().enable();
            {
                let mut used = self.request_bytes.lock().expect("request bytes poisoned");
                if *used < self.limits.queued_max_request_bytes {
                    *used += size;
                    return RequestBytes {
                        owner: Arc::clone(self),
                        bytes: size,
                    };
                }
            }
            freed.await;
        }
    }

    /// Charges `size` bytes an admitted request grew by, at once: use may
    /// exceed the bound, which holds back the next frames (not this one).
    pub fn charge_request_bytes(self: &Arc<Self>, size: usize) -> RequestBytes {
        *self.request_bytes.lock().expect("request bytes poisoned") += size;
        RequestBytes {
            owner: Arc::clone(self),
            bytes: size,
        }
    }

    /// Request bytes reserved by all connections now.
    pub fn reserved_request_bytes(&self) -> usize {
        *self.request_bytes.lock().expect("request bytes poisoned")
    }
}

impl Drop for RequestBytes {
    fn drop(&mut self) {
        let mut used = self
            .owner
            .request_bytes
            .lock()
            .expect("request bytes poisoned");
        *used = used.saturating_sub(self.bytes);
        drop(used);
        self.owner.request_bytes_freed.notify_waiters();
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize, bytes: usize) -> Limits {
        Limits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            queued_max_request_bytes: bytes,
            ..Limits::default()
        }
    }

    #[test]
    fn connections_are_counted_in_and_out() {
        let l = ConnectionLimits::new(limits(3, 2, 100));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let a2 = l.admit(a).unwrap();
        assert!(matches!(
            l.admit(a),
            Err(Refused::TooManyFromAddress {
                open: 2,
                max: 2,
                ..
            })
        ));
        let b1 = l.admit(b).unwrap();
        assert!(matches!(
            l.admit(b),
            Err(Refused::TooManyConnections { open: 3, max: 3 })
        ));
        drop(a1);
        assert_eq!(l.open(a), (2, 1));
        let _a3 = l.admit(a).unwrap();
        drop((a2, b1));
        assert_eq!(l.open(b), (1, 0));
    }

    #[tokio::test]
    async fn request_bytes_wait_while_the_pool_is_full() {
        let l = ConnectionLimits::new(limits(10, 10, 100));
        let first = l.reserve_request_bytes(60).await;
        // Below the bound: granted, even past it (Kafka's non-strict pool).
        let second = l.reserve_request_bytes(60).await;
        assert_eq!(l.reserved_request_bytes(), 120);
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            l.reserve_request_bytes(1),
        )
        .await;
        assert!(waiting.is_err(), "the pool is full: the reservation waits");
        drop(first);
        let third = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            l.reserve_request_bytes(1_000),
        )
        .await
        .expect("freed bytes wake the waiter");
        assert_eq!(l.reserved_request_bytes(), 1_060);
        drop((second, third));
        assert_eq!(l.reserved_request_bytes(), 0);
    }

    #[tokio::test]
    async fn grown_requests_hold_back_new_frames_without_waiting() {
        let l = ConnectionLimits::new(limits(10, 10, 100));
        let frame = l.reserve_request_bytes(10).await;
        // A rebuilt batch 500 bytes larger than sent: charged at once.
        let grown = l.charge_request_bytes(500);
        assert_eq!(l.reserved_request_bytes(), 510);
        let next_frame = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            l.reserve_request_bytes(1),
        )
        .await;
        assert!(next_frame.is_err(), "new frames wait for the grown request");
        drop((frame, grown));
        assert_eq!(l.reserved_request_bytes(), 0);
        let _next = l.reserve_request_bytes(1).await;
    }
}

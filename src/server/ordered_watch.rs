//! A single-value channel whose waiting receivers are woken in a fixed
//! order: the subset of `tokio::sync::watch` the peers and the quorum use
//! (stop signals, a peer's address).
//!
//! Not tokio's `watch`: each of its receivers waits on one of eight
//! `Notify`s picked by tokio's thread-local generator, which tokio seeds
//! from a process-wide counter. So the order in which one `send` woke the
//! waiting tasks — and in which a stopping node's connection tasks closed
//! their connections — depended on how many seeds the process had run
//! before, and a seed could take another path in a sweep than alone (3-node
//! seed 45, docs/testing.md "In-process determinism"). Here every receiver
//! waits on one `Notify`, whose `notify_waiters` wakes in the order the
//! waits began, a function of the seed's own schedule.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The sender is gone: no value will change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the watched value's sender is gone")]
pub struct Closed;

struct Slot<T> {
    value: T,
    /// Grows on every change; a receiver remembers the one it saw.
    version: u64,
    closed: bool,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    changed: Notify,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // Nothing panics while holding it; a poisoned lock is still whole.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The one sending side; dropping it closes the channel.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving side, which remembers the version it last saw.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
}

/// A borrowed current value (holds the channel's lock: keep it short).
pub struct Ref<'a, T>(MutexGuard<'a, Slot<T>>);

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.value
    }
}

/// A channel holding `value`; the receiver has seen it.
pub fn channel<T>(value: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot {
            value,
            version: 0,
            closed: false,
        }),
        changed: Notify::new(),
    });
    let receiver = Receiver {
        shared: Arc::clone(&shared),
        seen: 0,
    };
    (Sender { shared }, receiver)
}

impl<T> Sender<T> {
    /// Replaces the value and wakes every waiting receiver.
    pub fn send_replace(&self, value: T) -> T {
        let old = {
            let mut slot = self.shared.lock();
            slot.version += 1;
            std::mem::replace(&mut slot.value, value)
        };
        self.shared.changed.notify_waiters();
        old
    }

    /// Lets `modify` change the value in place; wakes the receivers only if
    /// it says it did.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let modified = {
            let mut slot = self.shared.lock();
            let modified = modify(&mut slot.value);
            if modified {
                slot.version += 1;
            }
            modified
        };
        if modified {
            self.shared.changed.notify_waiters();
        }
        modified
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        Receiver {
            shared: Arc::clone(&self.shared),
            seen: self.shared.lock().version,
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_waiters();
    }
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref(self.shared.lock())
    }

    /// The current value, marked seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let slot = self.shared.lock();
        self.seen = slot.version;
        Ref(slot)
    }

    /// Waits until the value changed since this receiver last saw it, and
    /// marks it seen; `Closed` once the sender is gone and nothing new.
    pub async fn changed(&mut self) -> Result<(), Closed> {
        self.wait_until(|_, changed| changed).await
    }

    /// Waits until the value satisfies `ready` (at once if it does now),
    /// and marks it seen; `Closed` once the sender is gone and it does not.
    pub async fn wait_for(&mut self, mut ready: impl FnMut(&T) -> bool) -> Result<(), Closed> {
        self.wait_until(|value, _| ready(value)).await
    }

    async fn wait_until(&mut self, mut ready: impl FnMut(&T, bool) -> bool) -> Result<(), Closed> {
        loop {
            // Registered before looking, so a change between the look and
            // the wait still wakes it.
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let slot = self.shared.lock();
                if ready(&slot.value, slot.version != self.seen) {
                    self.seen = slot.version;
                    return Ok(());
                }
                if slot.closed {
                    return Err(Closed);
                }
            }
            notified.await;
        }
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::time::Duration;

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_change_wakes_a_waiting_receiver_once() {
        let (sender, mut receiver) = channel(1);
        let waiter = tokio::spawn(async move {
            receiver.changed().await.unwrap();
            let seen = *receiver.borrow();
            (seen, receiver)
        });
        tokio::task::yield_now().await;
        sender.send_replace(2);
        let (seen, mut receiver) = tokio::time::timeout(WAIT, waiter).await.unwrap().unwrap();
        assert_eq!(seen, 2);
        // Seen: no second wake-up without a new change.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), receiver.changed())
                .await
                .is_err()
        );
        assert!(!sender.send_if_modified(|_| false));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), receiver.changed())
                .await
                .is_err(),
            "an unmodified send wakes nobody"
        );
    }

    #[tokio::test]
    async fn wait_for_returns_at_once_when_already_true_and_closed_after_the_sender() {
        let (sender, mut receiver) = channel(false);
        let mut late = sender.subscribe();
        sender.send_replace(true);
        tokio::time::timeout(WAIT, receiver.wait_for(|stop| *stop))
            .await
            .unwrap()
            .unwrap();
        tokio::time::timeout(WAIT, late.wait_for(|stop| *stop))
            .await
            .unwrap()
            .unwrap();
        drop(sender);
        assert_eq!(receiver.changed().await, Err(Closed));
        assert_eq!(receiver.wait_for(|stop| !*stop).await, Err(Closed));
    }

    #[tokio::test]
    async fn waiters_wake_in_the_order_they_began_waiting() {
        let (sender, receiver) = channel(0u32);
        let woken = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..16 {
            let mut receiver = sender.subscribe();
            let woken = Arc::clone(&woken);
            tasks.push(tokio::spawn(async move {
                receiver.changed().await.unwrap();
                woken.lock().unwrap().push(i);
            }));
            // Each is waiting before the next starts.
            tokio::task::yield_now().await;
        }
        drop(receiver);
        sender.send_replace(1);
        for task in tasks {
            tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
        }
        let woken = woken.lock().unwrap().clone();
        assert_eq!(woken, (0..16).collect::<Vec<_>>());
    }
}

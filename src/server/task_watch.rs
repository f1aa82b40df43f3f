//! Long-lived tasks whose end must not go unnoticed: a cluster node whose
//! apply, controller, lifecycle or replication task is gone, or whose Raft
//! driver is, would live on as a zombie that heartbeats (so it is never
//! fenced) but applies or replicates nothing. A panic is the likeliest
//! such end, and a spawned task's panic ends only that task.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Poll;

/// Runs `task`; if it panics, `on_panic` runs and then the panic goes on
/// (to the task's join handle, or the simulator's panic check).
pub(crate) async fn on_panic<F: Future>(task: F, on_panic: impl FnOnce()) -> F::Output {
    match catch_panic(task).await {
        Ok(output) => output,
        Err(payload) => {
            on_panic();
            resume_unwind(payload)
        }
    }
}

/// Runs one of the cluster's tasks; if it ever ends (it should not while
/// the node runs), returning or panicking, `stop_node` runs (the node
/// stops, as after a storage failure).
pub(crate) async fn watched(
    name: &'static str,
    task: impl Future<Output = ()>,
    stop_node: impl FnOnce(),
) {
    let stop_node = |how: &str| {
        tracing::error!(task = name, how, "a cluster task ended: the node stops");
        stop_node();
    };
    match catch_panic(task).await {
        Ok(()) => stop_node("returned"),
        Err(payload) => {
            stop_node("panicked");
            resume_unwind(payload)
        }
    }
}

/// `task`'s output, or the payload of its panic (it is not polled again).
async fn catch_panic<F: Future>(task: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut task = std::pin::pin!(task);
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_stops_the_node_and_its_panic_goes_on() {
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopped);
        let task = tokio::spawn(watched(
            "test",
            async {
                tokio::task::yield_now().await;
                panic!("a bug in a cluster task");
            },
            move || flag.store(true, Ordering::SeqCst),
        ));
        let ended = task.await.expect_err("the panic is not swallowed");
        assert!(ended.is_panic());
        assert!(
            stopped.load(Ordering::SeqCst),
            "a panicked task stops the node, as one that returned does"
        );
    }

    #[tokio::test]
    async fn a_task_that_returns_stops_the_node() {
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopped);
        watched("test", async {}, move || flag.store(true, Ordering::SeqCst)).await;
        assert!(stopped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn on_panic_runs_its_hook_on_a_panic_only() {
        let normal = on_panic(async { 5 }, || panic!("not on a normal end")).await;
        assert_eq!(normal, 5);
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopped);
        let task = tokio::spawn(on_panic(
            async {
                tokio::task::yield_now().await;
                panic!("a bug in the Raft driver");
            },
            move || flag.store(true, Ordering::SeqCst),
        ));
        assert!(task.await.expect_err("the panic goes on").is_panic());
        assert!(stopped.load(Ordering::SeqCst));
    }
}

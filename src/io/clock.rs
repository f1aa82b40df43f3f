//! Wall-clock time for the broker. In a `--cfg madsim` build this is the
//! simulator's clock, one for the whole simulation (no nemesis skews it yet;
//! per-node clocks come with the simulator's clock faults); otherwise the
//! host clock.
//! The core never calls this: it is handed `now_ms` by the server.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    #[cfg(madsim)]
    let now = madsim::time::TimeHandle::current().now_time();
    #[cfg(not(madsim))]
    let now = std::time::SystemTime::now();
    match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => since.as_millis() as i64,
        Err(_) => 0,
    }
}

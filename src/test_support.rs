//! Shared settings for the property tests.

use proptest::test_runner::{Config, FileFailurePersistence};

/// `cases` per property; failing inputs are saved beside the test's source
/// file (`<file>.proptest-regressions`) and replayed first on every run.
pub fn proptest_config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Runs a future to completion on a fresh current-thread runtime (tests of
/// async log code from plain `#[test]`s and proptests).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(future)
}

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

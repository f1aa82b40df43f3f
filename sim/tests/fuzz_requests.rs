//! A short run of the request fuzzer (`fuzz-requests`) inside `cargo test`:
//! a few fixed episodes, every oracle on. The long, time-bounded run is
//! the binary (docs/testing.md, "Fuzzing the request path").
#![cfg(not(madsim))]

use odradek_sim::fuzz::episode::{episode_seed, install_panic_hook, run_episode, Settings};

#[test]
fn fixed_fuzz_episodes_find_nothing() {
    install_panic_hook();
    let settings = Settings {
        steps: 150,
        ..Settings::default()
    };
    let episodes: u64 = std::env::var("ODRADEK_FUZZ_EPISODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut findings = Vec::new();
    let mut executions = 0;
    for i in 0..episodes {
        let stats = run_episode(episode_seed(0, i), &settings);
        executions += stats.executions;
        findings.extend(stats.findings);
    }
    assert!(
        findings.is_empty(),
        "replay with `cargo run --release -p odradek-sim --bin fuzz-requests -- \
         --episode-seed <seed>`: {findings:#?}"
    );
    assert!(executions >= episodes * 100, "{executions} requests ran");
}

/// CI's fuzz run, 2026-12-01: a baseline topic deleted and re-created with
/// `max.message.bytes=1` (valid in Kafka) refused the honest end-of-episode
/// produce with MESSAGE_TOO_LARGE, which the oracle took for a broken broker.
#[test]
fn a_recreated_topic_with_a_tiny_max_message_bytes_is_no_finding() {
    install_panic_hook();
    let settings = Settings {
        steps: 200,
        ..Settings::default()
    };
    let stats = run_episode(0xda99f0cee0055213, &settings);
    assert!(stats.findings.is_empty(), "{:#?}", stats.findings);
}

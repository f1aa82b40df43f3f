//! `odradek-sim`: run the broker under madsim for one seed or a sweep of
//! seeds. Build and run through `sim/run.sh`, which sets `--cfg madsim`.
//!
//! ```text
//! sim/run.sh --seed 7                      # one seed, a human report
//! sim/run.sh --seeds 0..500                # a sweep, progress on stderr
//! sim/run.sh --seeds 0..100 --bug no-crc-check --json
//! sim/run.sh --seed 7 --check-determinism  # run twice, compare trace hashes
//! sim/run.sh --cluster 3 --seeds 0..50     # 3-node clusters
//! sim/run.sh --cluster 3 --seeds 0..20 --bug ack-before-isr --expect-violations lost-write
//! ```

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "odradek-sim only runs inside the madsim simulator: build it with \
         RUSTFLAGS=\"--cfg madsim\" (use sim/run.sh, which does that and keeps \
         its own target dir)."
    );
    std::process::exit(2);
}

#[cfg(madsim)]
mod cli;

#[cfg(madsim)]
fn main() {
    std::process::exit(cli::main());
}

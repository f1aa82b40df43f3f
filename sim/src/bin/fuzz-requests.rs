//! `fuzz-requests`: fuzz the request path of an in-process broker for a
//! time or a number of episodes; print the totals and every finding with
//! the command that replays it. A normal build (not madsim):
//!
//! ```text
//! cargo run --release -p odradek-sim --bin fuzz-requests -- --seconds 60 --seed 1
//! cargo run --release -p odradek-sim --bin fuzz-requests -- --episode-seed 0x1234 --verbose
//! ```
//! Exit status 1 when anything was found.

#[cfg(madsim)]
fn main() {
    eprintln!("fuzz-requests runs in a normal build, not under --cfg madsim");
    std::process::exit(2);
}

#[cfg(not(madsim))]
fn main() {
    std::process::exit(cli::main());
}

#[cfg(not(madsim))]
mod cli {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use clap::Parser;
    use kafka_protocol::messages::ApiKey;
    use odradek_sim::fuzz::episode::{
        episode_seed, install_panic_hook, run_episode, Finding, Settings, Stats,
    };

    #[derive(Parser, Debug)]
    #[command(about = "Fuzz odradek's request path (in-process broker on SimDisk)")]
    struct Args {
        /// Run seed: episode i runs with a seed derived from (seed, i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop starting episodes after this many seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Or stop after this many episodes (whichever comes first).
        #[arg(long)]
        episodes: Option<u64>,
        /// Replay one episode (decimal or 0x hex), as printed with a finding.
        #[arg(long, value_parser = parse_seed)]
        episode_seed: Option<u64>,
        /// Requests per episode (a fresh broker each episode).
        #[arg(long, default_value_t = 200)]
        steps: usize,
        /// A response larger than this is a finding.
        #[arg(long, default_value_t = 64 << 20)]
        max_response_bytes: usize,
        /// Print every request.
        #[arg(long)]
        verbose: bool,
        /// Print the (api, version, outcome) census.
        #[arg(long)]
        outcomes: bool,
    }

    fn parse_seed(s: &str) -> Result<u64, String> {
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).map_err(|e| e.to_string()),
            None => s
                .parse()
                .map_err(|e: std::num::ParseIntError| e.to_string()),
        }
    }

    pub fn main() -> i32 {
        let args = Args::parse();
        install_panic_hook();
        let settings = Settings {
            steps: args.steps,
            max_response_bytes: args.max_response_bytes,
            verbose: args.verbose,
            ..Settings::default()
        };
        let started = Instant::now();
        let mut total = Stats::default();
        if let Some(seed) = args.episode_seed {
            total.merge(run_episode(seed, &settings));
        } else {
            let deadline = started + Duration::from_secs(args.seconds);
            let mut index = 0;
            while Instant::now() < deadline && !matches!(args.episodes, Some(n) if index >= n) {
                total.merge(run_episode(episode_seed(args.seed, index), &settings));
                index += 1;
            }
        }
        report(&total, started.elapsed(), &args);
        i32::from(!total.findings.is_empty())
    }

    fn report(stats: &Stats, elapsed: Duration, args: &Args) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        println!(
            "fuzz-requests: {} episodes, {} requests in {:.1} s ({:.0} requests/s)",
            stats.episodes,
            stats.executions,
            secs,
            stats.executions as f64 / secs
        );
        let apis: std::collections::BTreeSet<(i16, i16)> =
            stats.outcomes.iter().map(|(a, v, _)| (*a, *v)).collect();
        println!(
            "  {} distinct (api, version, outcome) over {} (api, version) pairs",
            stats.outcomes.len(),
            apis.len()
        );
        println!(
            "  largest response: {} bytes ({})",
            stats.largest_response.0, stats.largest_response.1
        );
        if args.outcomes {
            let mut by_api: BTreeMap<i16, Vec<String>> = BTreeMap::new();
            for (api, version, outcome) in &stats.outcomes {
                by_api
                    .entry(*api)
                    .or_default()
                    .push(format!("v{version}:{outcome:?}"));
            }
            for (api, outcomes) in by_api {
                let name = ApiKey::try_from(api)
                    .map(|a| format!("{a:?}"))
                    .unwrap_or_else(|_| api.to_string());
                println!("  {name}: {}", outcomes.join(" "));
            }
        }
        // One line per distinct finding (oracle + detail), with the first
        // episode that showed it.
        let mut seen = BTreeMap::<(String, String), (&Finding, usize)>::new();
        for f in &stats.findings {
            let key = (f.oracle.to_string(), dedup_key(&f.detail));
            seen.entry(key).or_insert((f, 0)).1 += 1;
        }
        println!(
            "  findings: {} ({} distinct)",
            stats.findings.len(),
            seen.len()
        );
        for (f, count) in seen.values() {
            let step = if f.step == usize::MAX {
                "end".to_string()
            } else {
                f.step.to_string()
            };
            println!(
                "  FINDING [{}] x{count}: {}\n    request: {} at step {step}\n    replay: cargo run --release -p odradek-sim --bin fuzz-requests -- --episode-seed {:#x} --steps {}",
                f.oracle,
                f.detail,
                f.request,
                f.episode_seed,
                if f.step == usize::MAX { args.steps } else { f.step + 1 },
            );
        }
    }

    /// Findings that differ only in numbers are one finding.
    fn dedup_key(detail: &str) -> String {
        detail.chars().filter(|c| !c.is_ascii_digit()).collect()
    }
}

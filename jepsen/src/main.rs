//! `odradek-jepsen`: the real binary as a cluster under real faults.
//!
//! ```sh
//! cargo run -p odradek-jepsen --release -- test --nodes 5 --time-limit 120 \
//!     --nemesis kill,pause,partition --workload queue
//! cargo run -p odradek-jepsen --release -- check target/jepsen/<run>/history.jsonl
//! ```
//!
//! `test` needs root (network namespaces, iptables) and, for the `clock`
//! nemesis, libfaketime. It prints the verdict JSON last and exits 1 when
//! the verdict is invalid.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use odradek_jepsen::nemesis::Fault;
use odradek_jepsen::run::{self, TestOptions};

#[derive(Parser)]
#[command(
    name = "odradek-jepsen",
    about = "Tests the real odradek binary as a cluster under real faults."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a cluster in network namespaces, run the workload under the
    /// nemesis, check the history, write a results folder.
    Test {
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        /// Seconds of workload under faults (recovery and the final read follow).
        #[arg(long, default_value_t = 120)]
        time_limit: u64,
        /// Faults: kill, pause, partition, clock (comma-separated), all or none.
        #[arg(long, default_value = "kill,pause,partition")]
        nemesis: String,
        /// The workload; `queue` is the one there is.
        #[arg(long, default_value = "queue")]
        workload: String,
        /// Put a broker bug switch back (e.g. ack-before-isr), to see the checker catch it.
        #[arg(long)]
        bug: Vec<String>,
        /// Seeds the nemesis schedule and the workload's choices (default: the time).
        #[arg(long)]
        seed: Option<u64>,
        /// Where each run's results folder goes.
        #[arg(long, default_value = "target/jepsen")]
        results_dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        #[arg(long, default_value_t = 2)]
        producers: u32,
        #[arg(long, default_value_t = 2)]
        consumers: u32,
        /// Pause between one producer's sends, in milliseconds.
        #[arg(long, default_value_t = 20)]
        send_interval_ms: u64,
        /// Seconds without faults between fault windows.
        #[arg(long, default_value_t = 10)]
        quiet_s: u64,
        /// Seconds a fault window lasts.
        #[arg(long, default_value_t = 10)]
        window_s: u64,
    },
    /// Check a history file and print its verdict.
    Check { history: PathBuf },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Test {
            nodes,
            time_limit,
            nemesis,
            workload,
            bug,
            seed,
            results_dir,
            partitions,
            producers,
            consumers,
            send_interval_ms,
            quiet_s,
            window_s,
        } => {
            if workload != "queue" {
                eprintln!(
                    "odradek-jepsen: unknown workload {workload:?}: queue is the one there is"
                );
                return ExitCode::from(2);
            }
            let faults = match Fault::parse_list(&nemesis) {
                Ok(faults) => faults,
                Err(error) => {
                    eprintln!("odradek-jepsen: {error}");
                    return ExitCode::from(2);
                }
            };
            if nodes == 0 || nodes > odradek_jepsen::netns::NODES_MAX || partitions < 1 {
                eprintln!(
                    "odradek-jepsen: --nodes must be 1..={} and --partitions at least 1",
                    odradek_jepsen::netns::NODES_MAX
                );
                return ExitCode::from(2);
            }
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            });
            let options = TestOptions {
                nodes,
                time_limit: Duration::from_secs(time_limit),
                faults,
                bugs: bug,
                seed,
                results_root: results_dir,
                partitions,
                producers,
                consumers,
                send_interval: Duration::from_millis(send_interval_ms),
                quiet: Duration::from_secs(quiet_s),
                window: Duration::from_secs(window_s),
            };
            match run::run(&options) {
                Ok(report) => {
                    eprintln!("odradek-jepsen: results in {}", report.results.display());
                    println!("{}", report.json);
                    if report.valid {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(error) => {
                    eprintln!("odradek-jepsen: the run failed: {error}");
                    ExitCode::from(3)
                }
            }
        }
        Command::Check { history } => {
            let file = match std::fs::File::open(&history) {
                Ok(file) => file,
                Err(error) => {
                    eprintln!("odradek-jepsen: {}: {error}", history.display());
                    return ExitCode::from(2);
                }
            };
            let ops = match odradek_jepsen::history::read_jsonl(std::io::BufReader::new(file)) {
                Ok(ops) => ops,
                Err(error) => {
                    eprintln!("odradek-jepsen: {error}");
                    return ExitCode::from(2);
                }
            };
            match odradek_jepsen::checker::check(&ops) {
                Ok(verdict) => {
                    println!("{}", serde_json::to_string(&verdict).unwrap_or_default());
                    if verdict.valid {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(error) => {
                    eprintln!("odradek-jepsen: {error}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

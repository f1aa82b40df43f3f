//! `odradek`: run one broker node.
//!
//! Settings come from flags, then `ODRADEK_*` environment variables, then an
//! optional TOML file (`--config`, keys named like the flags), then defaults:
//! `cargo run --release` is a one-node cluster on 127.0.0.1:9092 with its
//! data under ./data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use odradek::core::topic_config::FsyncPolicy;
use odradek::io::real_disk::RealDisk;
use odradek::server::{self, BrokerConfig};

#[derive(Parser, Debug)]
#[command(
    name = "odradek",
    version,
    about = "A Kafka-compatible event-streaming broker (one node of a cluster)."
)]
struct Cli {
    /// TOML file with any of the settings below (keys as the long flag names,
    /// e.g. `node-id = 1`, `listen = "0.0.0.0:9092"`). Flags and env win.
    #[arg(long, env = "ODRADEK_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// This node's id (Kafka: node.id). Default 1.
    #[arg(long, env = "ODRADEK_NODE_ID")]
    node_id: Option<i32>,
    /// Address the Kafka listener binds (Kafka: listeners). Default 127.0.0.1:9092.
    #[arg(long, env = "ODRADEK_LISTEN")]
    listen: Option<SocketAddr>,
    /// host:port clients are told to connect to (Kafka: advertised.listeners).
    /// Default: the listen address.
    #[arg(long, env = "ODRADEK_ADVERTISE")]
    advertise: Option<String>,
    /// Directory holding all data (Kafka: log.dirs). Default ./data.
    #[arg(long, env = "ODRADEK_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Partitions of auto-created topics and of CreateTopics without a count
    /// (Kafka: num.partitions). Default 1.
    #[arg(long, env = "ODRADEK_DEFAULT_PARTITIONS")]
    default_partitions: Option<i32>,
    /// Create unknown topics when a client asks for their metadata
    /// (Kafka: auto.create.topics.enable). Default true.
    #[arg(long, env = "ODRADEK_AUTO_CREATE_TOPICS")]
    auto_create_topics: Option<bool>,
    /// fsync.policy of topics that set none: always (sync before acking),
    /// interval (every fsync.interval.ms, default 1000) or never. Default interval.
    #[arg(long, env = "ODRADEK_DEFAULT_FSYNC_POLICY")]
    default_fsync_policy: Option<String>,
    /// How often retention runs (Kafka: log.retention.check.interval.ms). Default 300000.
    #[arg(long, env = "ODRADEK_RETENTION_CHECK_INTERVAL_MS")]
    retention_check_interval_ms: Option<u64>,
    /// retention.ms of topics that set none (Kafka: log.retention.ms). Default 7 days; -1 keeps forever.
    #[arg(long, env = "ODRADEK_DEFAULT_RETENTION_MS", allow_hyphen_values = true)]
    default_retention_ms: Option<i64>,
    /// retention.bytes of topics that set none (Kafka: log.retention.bytes). Default -1 (no limit).
    #[arg(
        long,
        env = "ODRADEK_DEFAULT_RETENTION_BYTES",
        allow_hyphen_values = true
    )]
    default_retention_bytes: Option<i64>,
    /// segment.bytes of topics that set none (Kafka: log.segment.bytes). Default 1 GiB.
    #[arg(long, env = "ODRADEK_DEFAULT_SEGMENT_BYTES")]
    default_segment_bytes: Option<i64>,
    /// Largest request accepted, in bytes (Kafka: socket.request.max.bytes). Default 100 MiB.
    #[arg(long, env = "ODRADEK_MAX_REQUEST_SIZE_BYTES")]
    max_request_size_bytes: Option<usize>,
    /// Largest Fetch response built for a consumer, in bytes (Kafka:
    /// fetch.max.bytes). Default 55 MiB.
    #[arg(long, env = "ODRADEK_FETCH_MAX_BYTES")]
    fetch_max_bytes: Option<i32>,
}

fn file_settings(path: &std::path::Path) -> Result<BTreeMap<String, toml::Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(table
        .into_iter()
        .map(|(k, v)| (k.replace('_', "-"), v))
        .collect())
}

fn build_config(cli: Cli) -> Result<(BrokerConfig, std::path::PathBuf), String> {
    let file = match &cli.config {
        Some(path) => file_settings(path)?,
        None => BTreeMap::new(),
    };
    let known = [
        "node-id",
        "listen",
        "advertise",
        "data-dir",
        "default-partitions",
        "auto-create-topics",
        "default-fsync-policy",
        "retention-check-interval-ms",
        "default-retention-ms",
        "default-retention-bytes",
        "default-segment-bytes",
        "max-request-size-bytes",
        "fetch-max-bytes",
    ];
    if let Some(unknown) = file.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("unknown setting {unknown:?} in the config file"));
    }
    let int = |key: &str| file.get(key).and_then(|v| v.as_integer());
    let string = |key: &str| file.get(key).and_then(|v| v.as_str().map(str::to_string));
    let mut config = BrokerConfig::single_node_default();
    config.node_id = cli
        .node_id
        .or(int("node-id").map(|v| v as i32))
        .unwrap_or(config.node_id);
    if let Some(listen) = cli.listen.map(Ok).or(string("listen").map(|s| s.parse())) {
        config.listen = listen.map_err(|e| format!("bad listen address: {e}"))?;
    }
    let advertise = cli
        .advertise
        .or(string("advertise"))
        .unwrap_or_else(|| config.listen.to_string());
    let (host, port) = advertise
        .rsplit_once(':')
        .ok_or("advertise must be host:port")?;
    config.advertise_host = host.to_string();
    config.advertise_port = port.parse().map_err(|_| "bad advertised port")?;
    let data_dir = cli
        .data_dir
        .or(string("data-dir").map(Into::into))
        .unwrap_or_else(|| std::path::PathBuf::from("data"));
    config.default_partitions = cli
        .default_partitions
        .or(int("default-partitions").map(|v| v as i32))
        .unwrap_or(config.default_partitions);
    if config.default_partitions < 1 {
        return Err("default-partitions must be at least 1".into());
    }
    config.auto_create_topics = cli
        .auto_create_topics
        .or(file.get("auto-create-topics").and_then(|v| v.as_bool()))
        .unwrap_or(config.auto_create_topics);
    if let Some(policy) = cli.default_fsync_policy.or(string("default-fsync-policy")) {
        config.default_fsync_policy = FsyncPolicy::parse(&policy)
            .ok_or("default-fsync-policy must be always, interval or never")?;
    }
    config.retention_check_interval_ms = cli
        .retention_check_interval_ms
        .or(int("retention-check-interval-ms").map(|v| v as u64))
        .unwrap_or(config.retention_check_interval_ms);
    config.default_retention_ms = cli
        .default_retention_ms
        .or(int("default-retention-ms"))
        .unwrap_or(config.default_retention_ms);
    config.default_retention_bytes = cli
        .default_retention_bytes
        .or(int("default-retention-bytes"))
        .unwrap_or(config.default_retention_bytes);
    config.default_segment_bytes = cli
        .default_segment_bytes
        .or(int("default-segment-bytes"))
        .unwrap_or(config.default_segment_bytes);
    config.max_request_size_bytes = cli
        .max_request_size_bytes
        .or(int("max-request-size-bytes").map(|v| v as usize))
        .unwrap_or(config.max_request_size_bytes);
    config.fetch_max_bytes = cli
        .fetch_max_bytes
        .or(int("fetch-max-bytes").map(|v| v.clamp(0, i32::MAX as i64) as i32))
        .unwrap_or(config.fetch_max_bytes);
    if config.fetch_max_bytes < 1024 {
        // Kafka's own lower bound for the setting.
        return Err("fetch-max-bytes must be at least 1024".into());
    }
    // The disk is rooted at the data dir; the broker's paths are relative to it.
    config.data_dir = String::new();
    config.log_dir_display = std::path::absolute(&data_dir)
        .unwrap_or_else(|_| data_dir.clone())
        .display()
        .to_string();
    Ok((config, data_dir))
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: the broker binds its port before it
/// reaches its wait, and a SIGTERM in between must stop it cleanly too.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("odradek: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run_node());
    // Every partition is synced by now; do not wait on idle blocking threads.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

async fn run_node() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (config, data_dir) = match build_config(Cli::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("odradek: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&data_dir) {
        eprintln!("odradek: cannot create {}: {e}", data_dir.display());
        return ExitCode::from(1);
    }
    let disk = Arc::new(RealDisk::new(&data_dir));
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            eprintln!("odradek: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    match server::run(config, disk, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("odradek: {e}");
            ExitCode::from(1)
        }
    }
}

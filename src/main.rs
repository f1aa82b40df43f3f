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

mod dev_cluster;
use odradek::core::acl::AuthorizerConfig;
use odradek::core::topic_config::FsyncPolicy;
use odradek::io::node_context::NodeContext;
use odradek::io::real_disk::{RealDisk, OPEN_FILES_MAX_DEFAULT};
use odradek::server::config::ClusterConfig;
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
    /// Open client connections at most; one over it is closed at once
    /// (Kafka: max.connections). Default 10000.
    #[arg(long, env = "ODRADEK_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Open connections from one client address at most
    /// (Kafka: max.connections.per.ip). Default 2147483647.
    #[arg(long, env = "ODRADEK_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,
    /// Close a connection that completes no request for this long
    /// (Kafka: connections.max.idle.ms). Default 600000.
    #[arg(long, env = "ODRADEK_CONNECTIONS_MAX_IDLE_MS")]
    connections_max_idle_ms: Option<u64>,
    /// Request bytes all connections may hold in memory together
    /// (Kafka: queued.max.request.bytes). Default 100 MiB.
    #[arg(long, env = "ODRADEK_QUEUED_MAX_REQUEST_BYTES")]
    queued_max_request_bytes: Option<usize>,
    /// Forget an idempotent producer this long after its last batch
    /// (Kafka: producer.id.expiration.ms). Default 86400000.
    #[arg(long, env = "ODRADEK_PRODUCER_ID_EXPIRATION_MS")]
    producer_id_expiration_ms: Option<i64>,
    /// Idempotent producers a partition remembers at most; the least
    /// recently active is forgotten first. Default 10000.
    #[arg(long, env = "ODRADEK_PRODUCER_STATE_MAX_PRODUCERS_PER_PARTITION")]
    producer_state_max_producers_per_partition: Option<usize>,
    /// Memory of the compaction offset map, in bytes
    /// (Kafka: log.cleaner.dedupe.buffer.size). Default 128 MiB.
    #[arg(long, env = "ODRADEK_LOG_CLEANER_DEDUPE_BUFFER_SIZE")]
    log_cleaner_dedupe_buffer_size: Option<usize>,
    /// The authorizer (Kafka: authorizer.class.name): `standard` (or Kafka's
    /// org.apache.kafka.metadata.authorizer.StandardAuthorizer) enforces
    /// ACLs; empty or `none` (the default) authorizes everything.
    #[arg(long, env = "ODRADEK_AUTHORIZER")]
    authorizer: Option<String>,
    /// With the authorizer: allow what no ACL covers
    /// (Kafka: allow.everyone.if.no.acl.found). Default false.
    #[arg(long, env = "ODRADEK_ALLOW_EVERYONE_IF_NO_ACL_FOUND")]
    allow_everyone_if_no_acl_found: Option<bool>,
    /// With the authorizer: principals allowed everything, `User:a;User:b`
    /// (Kafka: super.users).
    #[arg(long, env = "ODRADEK_SUPER_USERS")]
    super_users: Option<String>,
    /// ACLs the cluster holds at most (odradek's). Default 100000.
    #[arg(long, env = "ODRADEK_MAX_ACLS")]
    max_acls: Option<usize>,
    /// SCRAM credentials (user and mechanism pairs) the cluster holds at
    /// most (odradek's). Default 10000.
    #[arg(long, env = "ODRADEK_MAX_SCRAM_CREDENTIALS")]
    max_scram_credentials: Option<usize>,
    /// The node-to-node address this node listens on and is reached at
    /// (replication, Raft, broker-to-controller calls). Needed with --voters.
    #[arg(long, env = "ODRADEK_RPC")]
    rpc: Option<SocketAddr>,
    /// The metadata quorum: `1@host:port,2@host:port,3@host:port`, each
    /// voter's --rpc address (Kafka: controller.quorum.voters). A node listed
    /// is broker and controller; one not listed is a broker only. Without
    /// it the node is a one-node cluster.
    #[arg(long, env = "ODRADEK_VOTERS")]
    voters: Option<String>,
    /// Replicas of auto-created topics and of CreateTopics without a count
    /// (Kafka: default.replication.factor). Default 1.
    #[arg(long, env = "ODRADEK_DEFAULT_REPLICATION_FACTOR")]
    default_replication_factor: Option<i16>,
    /// Replicas of __consumer_offsets (Kafka: offsets.topic.replication.factor).
    /// Default 1 on one node, else the smaller of 3 and the voter count.
    #[arg(long, env = "ODRADEK_OFFSETS_TOPIC_REPLICATION_FACTOR")]
    offsets_topic_replication_factor: Option<i16>,
    /// The cluster's id; every node of a cluster must be given the same one.
    #[arg(long, env = "ODRADEK_CLUSTER_ID")]
    cluster_id: Option<String>,
    /// Test only: put a classic bug back (e.g. ack-before-isr), so a
    /// harness can show its checker catches it. Never in a deployment.
    #[arg(
        long = "unsafe-bug",
        env = "ODRADEK_UNSAFE_BUGS",
        value_delimiter = ',',
        hide = true
    )]
    unsafe_bugs: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Start a local cluster for development: N nodes on 127.0.0.1, Kafka
    /// listeners on base-port, base-port+1, ..., node-to-node on
    /// rpc-base-port+..., data under <data-dir>/node-<id>. Ctrl-C stops all.
    DevCluster {
        #[arg(long, default_value_t = 3)]
        nodes: u16,
        /// How many of the nodes (the first ones) are voters of the
        /// metadata quorum; the others are broker-only nodes. Default: all.
        #[arg(long)]
        voters: Option<u16>,
        #[arg(long, default_value_t = 9092)]
        base_port: u16,
        #[arg(long, default_value_t = 19092)]
        rpc_base_port: u16,
        #[arg(long, default_value = "data-cluster")]
        data_dir: std::path::PathBuf,
    },
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
        "max-connections",
        "max-connections-per-ip",
        "connections-max-idle-ms",
        "queued-max-request-bytes",
        "producer-id-expiration-ms",
        "producer-state-max-producers-per-partition",
        "log-cleaner-dedupe-buffer-size",
        "authorizer",
        "allow-everyone-if-no-acl-found",
        "super-users",
        "max-acls",
        "max-scram-credentials",
        "rpc",
        "voters",
        "default-replication-factor",
        "offsets-topic-replication-factor",
        "cluster-id",
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
    let limits = &mut config.limits;
    limits.max_connections = cli
        .max_connections
        .or(int("max-connections").map(|v| v as usize))
        .unwrap_or(limits.max_connections);
    limits.max_connections_per_ip = cli
        .max_connections_per_ip
        .or(int("max-connections-per-ip").map(|v| v as usize))
        .unwrap_or(limits.max_connections_per_ip);
    limits.connections_max_idle_ms = cli
        .connections_max_idle_ms
        .or(int("connections-max-idle-ms").map(|v| v as u64))
        .unwrap_or(limits.connections_max_idle_ms);
    limits.queued_max_request_bytes = cli
        .queued_max_request_bytes
        .or(int("queued-max-request-bytes").map(|v| v as usize))
        .unwrap_or(limits.queued_max_request_bytes);
    limits.producer_id_expiration_ms = cli
        .producer_id_expiration_ms
        .or(int("producer-id-expiration-ms"))
        .unwrap_or(limits.producer_id_expiration_ms);
    limits.max_producers_per_partition = cli
        .producer_state_max_producers_per_partition
        .or(int("producer-state-max-producers-per-partition").map(|v| v as usize))
        .unwrap_or(limits.max_producers_per_partition);
    limits.cleaner_dedupe_buffer_bytes = cli
        .log_cleaner_dedupe_buffer_size
        .or(int("log-cleaner-dedupe-buffer-size").map(|v| v as usize))
        .unwrap_or(limits.cleaner_dedupe_buffer_bytes);
    if limits.max_connections == 0 || limits.max_connections_per_ip == 0 {
        return Err("max-connections and max-connections-per-ip must be at least 1".into());
    }
    if limits.queued_max_request_bytes == 0 || limits.cleaner_dedupe_buffer_bytes == 0 {
        return Err(
            "queued-max-request-bytes and log-cleaner-dedupe-buffer-size must be at least 1".into(),
        );
    }
    if limits.producer_id_expiration_ms < 1 {
        return Err("producer-id-expiration-ms must be at least 1".into());
    }
    limits.max_acls = cli
        .max_acls
        .or(int("max-acls").map(|v| v.max(0) as usize))
        .unwrap_or(limits.max_acls);
    limits.max_scram_credentials = cli
        .max_scram_credentials
        .or(int("max-scram-credentials").map(|v| v.max(0) as usize))
        .unwrap_or(limits.max_scram_credentials);
    config.authorizer = authorizer_config(
        cli.authorizer.or(string("authorizer")),
        cli.allow_everyone_if_no_acl_found.or(file
            .get("allow-everyone-if-no-acl-found")
            .and_then(|v| v.as_bool())),
        cli.super_users.or(string("super-users")),
    )?;
    if let Some(id) = cli.cluster_id.or(string("cluster-id")) {
        if id.is_empty() {
            return Err("cluster-id must not be empty".into());
        }
        config.cluster_id = id;
    }
    match (
        cli.voters.or(string("voters")),
        cli.rpc.map(Ok).or(string("rpc").map(|s| s.parse())),
    ) {
        (None, None) => {}
        (None, Some(_)) => return Err("--rpc needs --voters".into()),
        (Some(_), None) => return Err("--voters needs --rpc (this node's address)".into()),
        (Some(voters), Some(rpc)) => {
            let rpc = rpc.map_err(|e| format!("bad rpc address: {e}"))?;
            let voters = ClusterConfig::parse_voters(&voters)?;
            if voters.get(&config.node_id).is_some_and(|a| *a != rpc) {
                return Err(format!(
                    "--voters names node {} at {}, but --rpc is {rpc}",
                    config.node_id, voters[&config.node_id]
                ));
            }
            config.offsets_topic_replication_factor = voters.len().min(3) as i16;
            config.cluster = Some(ClusterConfig::new(rpc, voters));
        }
    }
    config.default_replication_factor = cli
        .default_replication_factor
        .or(int("default-replication-factor").map(|v| v as i16))
        .unwrap_or(config.default_replication_factor);
    config.offsets_topic_replication_factor = cli
        .offsets_topic_replication_factor
        .or(int("offsets-topic-replication-factor").map(|v| v as i16))
        .unwrap_or(config.offsets_topic_replication_factor);
    if config.default_replication_factor < 1 || config.offsets_topic_replication_factor < 1 {
        return Err(
            "default-replication-factor and offsets-topic-replication-factor must be at least 1"
                .into(),
        );
    }
    for name in &cli.unsafe_bugs {
        if !config.bugs.enable(name) {
            return Err(format!(
                "unknown bug {name:?}; known: {}",
                odradek::server::BugSwitches::NAMES.join(", ")
            ));
        }
        tracing::warn!(bug = %name, "UNSAFE: a classic bug is switched on (test only)");
    }
    // The disk is rooted at the data dir; the broker's paths are relative to it.
    config.data_dir = String::new();
    config.log_dir_display = std::path::absolute(&data_dir)
        .unwrap_or_else(|_| data_dir.clone())
        .display()
        .to_string();
    Ok((config, data_dir))
}

/// Kafka's class name of the standard authorizer, accepted as a synonym.
const KAFKA_STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// The authorizer settings: `None` unless `authorizer` names the standard
/// one; its two settings are refused without it (they would do nothing).
fn authorizer_config(
    authorizer: Option<String>,
    allow_everyone_if_no_acl_found: Option<bool>,
    super_users: Option<String>,
) -> Result<Option<AuthorizerConfig>, String> {
    let name = authorizer.unwrap_or_default();
    match name.trim() {
        "" | "none" => {
            if allow_everyone_if_no_acl_found.is_some() || super_users.is_some() {
                return Err(
                    "allow-everyone-if-no-acl-found and super-users need --authorizer standard"
                        .into(),
                );
            }
            Ok(None)
        }
        "standard" | KAFKA_STANDARD_AUTHORIZER => Ok(Some(AuthorizerConfig {
            super_users: AuthorizerConfig::parse_super_users(&super_users.unwrap_or_default())?,
            allow_everyone_if_no_acl_found: allow_everyone_if_no_acl_found.unwrap_or(false),
        })),
        other => Err(format!(
            "unknown authorizer {other:?}: use standard ({KAFKA_STANDARD_AUTHORIZER}) or none"
        )),
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the default soft
/// limit, often 1024, is far below what a broker with many partitions and
/// connections needs) and returns the soft limit in force.
fn raise_descriptor_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    // An unlimited hard limit is capped at Linux's default `fs.nr_open`.
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        1 << 20
    } else {
        limit.rlim_max
    };
    if limit.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "cannot raise the file descriptor limit"
            );
        }
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
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
    let mut cli = Cli::parse();
    if let Some(Command::DevCluster {
        nodes,
        voters,
        base_port,
        rpc_base_port,
        data_dir,
    }) = cli.command.take()
    {
        let voters = voters.unwrap_or(nodes);
        return dev_cluster::run(nodes, voters, base_port, rpc_base_port, &data_dir).await;
    }
    let (config, data_dir) = match build_config(cli) {
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
    let descriptors = raise_descriptor_limit();
    // A quarter of the descriptors for cached log files, the rest for
    // connections, sockets of the runtime and files opened once.
    let open_files_max = (descriptors / 4).clamp(16, OPEN_FILES_MAX_DEFAULT);
    tracing::info!(
        descriptors,
        open_files_max,
        max_connections = config.limits.max_connections,
        "file descriptor limit"
    );
    let disk = Arc::new(RealDisk::with_open_files_max(&data_dir, open_files_max));
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            eprintln!("odradek: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let node = NodeContext::host(disk);
    match server::run(config, node, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("odradek: {e}");
            ExitCode::from(1)
        }
    }
}

//! End-to-end load benchmark through a real Kafka client (librdkafka via `rdkafka`).
//!
//! Starts the broker binary built with this package on a free loopback port and a temporary
//! data dir, creates one topic per `fsync.policy` (never, interval, always), produces N
//! messages to each (acks=all, linger.ms=5) and reads them all back with an assigned
//! `BaseConsumer`. Prints a markdown table with produce throughput and latency (send call →
//! delivery report) and consume throughput, with ratios against `never`, so the price of each
//! durability promise is read off one run on one machine.
//!
//! Latency is measured under saturation: the producer keeps up to `MAX_IN_FLIGHT` messages
//! outstanding, so it includes queueing in the client and is about window / throughput. It is
//! the latency of a producer that sends as fast as the broker takes, not of an idle one.
//!
//! Benchmarks measure; nothing here asserts a timing. A run that loses or fails messages
//! says so in the table instead of panicking.
//!
//! Run: `cargo bench --bench produce_consume_load`. Scale with env vars:
//! - `ODRADEK_BENCH_MESSAGES` (default 500000) messages per policy;
//! - `ODRADEK_BENCH_MESSAGE_BYTES` (default 100) payload bytes per message;
//! - `ODRADEK_BENCH_PARTITIONS` (default 4) partitions per topic;
//! - `ODRADEK_BENCH_MAX_IN_FLIGHT` (default 10000) messages sent but not yet acknowledged;
//! - `ODRADEK_BENCH_PHASE_SECONDS` (default 20) time limit of each produce and consume phase;
//! - `ODRADEK_BENCH_POLICIES` (default `never,interval,always`);
//! - `ODRADEK_BENCH_BIN` (default the broker built with this package): another broker binary,
//!   to compare two builds under the same load;
//! - `ODRADEK_BENCH_DATA_PARENT` (default the system temp dir): where the data dir goes, so
//!   fsync hits the device under test and not a tmpfs;
//! - `ODRADEK_BENCH_CLUSTER` (default 0: one node) starts that many nodes as one cluster
//!   (all voters, `--voters`), bootstrapping from all of them;
//! - `ODRADEK_BENCH_REPLICATION` (default `1`): replication factors to measure, e.g. `1,3`
//!   on a 3-node cluster; a topic with 3 replicas or more gets `min.insync.replicas=2`;
//! - `ODRADEK_BENCH_RATE` (default 0: as fast as the broker takes) messages per second, for
//!   latency at a fixed load.
//!
//! Ratios in the table are against the first row (the first policy, the first factor).

// rdkafka (librdkafka, real sockets and threads) is a dev-dependency only outside the
// simulator; under `--cfg madsim` this bench compiles to a stub so `--all-targets` builds work.
#[cfg(madsim)]
fn main() {
    eprintln!("produce_consume_load needs the real runtime: build without --cfg madsim");
}

#[cfg(not(madsim))]
fn main() {
    load::main();
}

#[cfg(not(madsim))]
mod load {
    use std::fs::File;
    use std::io::Read;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use rdkafka::admin::{
        AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication,
    };
    use rdkafka::client::{ClientContext, DefaultClientContext};
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::DeliveryResult;
    use rdkafka::producer::{BaseRecord, Producer, ProducerContext};
    use rdkafka::{Offset, TopicPartitionList};

    /// Bound for one admin or metadata request; loopback answers in milliseconds.
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// Bound for the broker to start listening.
    const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
    /// The consumer stops after this long without a message, even if some are missing.
    const CONSUME_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

    struct Settings {
        messages: u64,
        message_bytes: usize,
        partitions: i32,
        max_in_flight: u64,
        phase_limit: Duration,
        policies: Vec<String>,
        data_parent: PathBuf,
        cluster_nodes: usize,
        replication: Vec<i32>,
        rate: u64,
    }

    fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
        match std::env::var(name) {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v} does not parse")),
            Err(_) => default,
        }
    }

    impl Settings {
        fn from_env() -> Settings {
            Settings {
                messages: env_or("ODRADEK_BENCH_MESSAGES", 500_000),
                message_bytes: env_or("ODRADEK_BENCH_MESSAGE_BYTES", 100),
                partitions: env_or("ODRADEK_BENCH_PARTITIONS", 4),
                max_in_flight: env_or("ODRADEK_BENCH_MAX_IN_FLIGHT", 10_000),
                phase_limit: Duration::from_secs(env_or("ODRADEK_BENCH_PHASE_SECONDS", 20)),
                policies: env_or(
                    "ODRADEK_BENCH_POLICIES",
                    "never,interval,always".to_string(),
                )
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
                data_parent: env_or("ODRADEK_BENCH_DATA_PARENT", std::env::temp_dir()),
                cluster_nodes: env_or("ODRADEK_BENCH_CLUSTER", 0),
                replication: env_or("ODRADEK_BENCH_REPLICATION", "1".to_string())
                    .split(',')
                    .map(|r| {
                        r.trim()
                            .parse()
                            .expect("ODRADEK_BENCH_REPLICATION: numbers")
                    })
                    .collect(),
                rate: env_or("ODRADEK_BENCH_RATE", 0),
            }
        }
    }

    /// The broker processes (one, or a cluster); killed when dropped, so a panicking run
    /// leaves nothing behind.
    struct Broker {
        children: Vec<Child>,
        bootstrap: String,
        log_path: PathBuf,
        // Declared last: dropped after the processes are gone.
        _data: tempfile::TempDir,
    }

    impl Broker {
        /// One node (`nodes == 0`) or a cluster of `nodes` voters; all log to one file.
        fn start(data_parent: &PathBuf, nodes: usize) -> Broker {
            let data = tempfile::TempDir::new_in(data_parent).expect("temp data dir");
            let log_path = data.path().join("broker.log");
            let log = File::create(&log_path).expect("broker log file");
            // `ODRADEK_BENCH_BIN` runs another build (e.g. the previous
            // release) under the same load, for before/after ratios.
            let binary = std::env::var_os("ODRADEK_BENCH_BIN")
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_odradek").into());
            let listens: Vec<SocketAddr> =
                (0..nodes.max(1)).map(|_| free_loopback_port()).collect();
            let rpcs: Vec<SocketAddr> = (0..nodes).map(|_| free_loopback_port()).collect();
            let voters = rpcs
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{}@{a}", i + 1))
                .collect::<Vec<_>>()
                .join(",");
            let mut children = Vec::new();
            for (i, listen) in listens.iter().enumerate() {
                let mut command = Command::new(&binary);
                command
                    .arg("--node-id")
                    .arg((i + 1).to_string())
                    .arg("--listen")
                    .arg(listen.to_string())
                    .arg("--data-dir")
                    .arg(data.path().join(format!("data-{}", i + 1)))
                    // Topics are created explicitly with their fsync.policy; a typo must not
                    // silently create a topic with the default policy.
                    .arg("--auto-create-topics")
                    .arg("false");
                if nodes > 0 {
                    command
                        .arg("--rpc")
                        .arg(rpcs[i].to_string())
                        .arg("--voters")
                        .arg(&voters);
                }
                let child = command
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().expect("clone log handle"))
                    .stderr(log.try_clone().expect("clone log handle"))
                    .spawn()
                    .expect("start broker binary");
                children.push(child);
            }
            let broker = Broker {
                children,
                bootstrap: listens
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                log_path,
                _data: data,
            };
            for listen in &listens {
                broker.wait_listening(*listen);
            }
            broker.wait_for_brokers(listens.len());
            broker
        }

        /// Waits until Metadata lists `count` live brokers (a cluster registered them all).
        fn wait_for_brokers(&self, count: usize) {
            let consumer: BaseConsumer = client_config(&self.bootstrap).create().expect("client");
            let deadline = Instant::now() + STARTUP_TIMEOUT;
            while consumer
                .fetch_metadata(None, REQUEST_TIMEOUT)
                .map_or(true, |md| md.brokers().len() < count)
            {
                if Instant::now() > deadline {
                    self.fail("not every broker registered");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }

        fn wait_listening(&self, addr: SocketAddr) {
            let deadline = Instant::now() + STARTUP_TIMEOUT;
            // A probe of a port nobody listens on yet can connect to itself: that is no broker.
            let accepts = || {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    .is_ok_and(|s| s.local_addr().ok() != Some(addr))
            };
            while !accepts() {
                if Instant::now() > deadline {
                    self.fail("broker did not start listening");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        /// Stops the run with the broker's own log, which says why more often than the client.
        fn fail(&self, what: &str) -> ! {
            let mut log = String::new();
            if let Ok(mut f) = File::open(&self.log_path) {
                let _ = f.read_to_string(&mut log);
            }
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last broker log lines ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
            panic!("{what}");
        }
    }

    impl Drop for Broker {
        fn drop(&mut self) {
            for child in &mut self.children {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// A port the OS just handed out. Another process could take it before the broker binds;
    /// on a bench machine that race is rare, and the startup check would report it.
    fn free_loopback_port() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        listener.local_addr().expect("local addr")
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        // rdkafka's own threads drive the admin requests; the runtime only waits.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(future)
    }

    fn client_config(bootstrap: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap);
        config
    }

    fn admin_options() -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .operation_timeout(Some(REQUEST_TIMEOUT))
    }

    /// Creates `topic` with `fsync.policy = policy` and returns the policy the broker reports
    /// back, which goes in the table as proof of what was measured.
    fn create_topic(
        broker: &Broker,
        topic: &str,
        partitions: i32,
        policy: &str,
        replication: i32,
    ) -> String {
        let admin: AdminClient<DefaultClientContext> = client_config(&broker.bootstrap)
            .create()
            .expect("admin client");
        let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication))
            .set("fsync.policy", policy);
        if replication >= 3 {
            new_topic = new_topic.set("min.insync.replicas", "2");
        }
        let created = block_on(admin.create_topics([&new_topic], &admin_options()))
            .unwrap_or_else(|e| broker.fail(&format!("CreateTopics failed: {e}")));
        if let Some(Err((name, code))) = created.into_iter().next() {
            broker.fail(&format!("CreateTopics {name}: {code:?}"));
        }
        let resource = ResourceSpecifier::Topic(topic);
        let described = block_on(admin.describe_configs([&resource], &admin_options()))
            .unwrap_or_else(|e| broker.fail(&format!("DescribeConfigs failed: {e}")));
        described
            .into_iter()
            .next()
            .and_then(|r| r.ok())
            .and_then(|r| r.get("fsync.policy").and_then(|e| e.value.clone()))
            .unwrap_or_else(|| "?".to_string())
    }

    /// Waits until every partition of `topic` has a leader, so the first messages do not time
    /// the topic's creation.
    fn wait_for_leaders(broker: &Broker, topic: &str, partitions: i32) {
        let consumer: BaseConsumer = client_config(&broker.bootstrap).create().expect("client");
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            if let Ok(md) = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT) {
                let ready = md.topics().iter().any(|t| {
                    t.name() == topic
                        && t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions()
                            .iter()
                            .all(|p| p.leader() >= 0 && p.error().is_none())
                });
                if ready {
                    return;
                }
            }
            if Instant::now() > deadline {
                broker.fail(&format!("topic {topic} has no leaders"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Collects delivery reports. The opaque of each message is its send time in microseconds
    /// since the phase started: a plain integer, so sending allocates nothing per message.
    struct LatencyContext {
        start: Instant,
        latencies_us: Mutex<Vec<u32>>,
        delivered: AtomicU64,
        failed: AtomicU64,
        /// When the last report arrived: the end of the phase, whenever the bench notices.
        last_report_us: AtomicU64,
    }

    impl ClientContext for LatencyContext {}

    impl ProducerContext for LatencyContext {
        type DeliveryOpaque = usize;

        fn delivery(&self, result: &DeliveryResult<'_>, sent_at_us: usize) {
            let now_us = self.start.elapsed().as_micros() as usize;
            self.last_report_us
                .fetch_max(now_us as u64, Ordering::Relaxed);
            match result {
                Ok(_) => {
                    let latency = now_us.saturating_sub(sent_at_us).min(u32::MAX as usize) as u32;
                    self.latencies_us
                        .lock()
                        .expect("latency lock")
                        .push(latency);
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    struct ProduceResult {
        sent: u64,
        acked: u64,
        failed: u64,
        elapsed: Duration,
        p50_ms: f64,
        p99_ms: f64,
    }

    fn produce(broker: &Broker, topic: &str, s: &Settings) -> ProduceResult {
        let context = LatencyContext {
            start: Instant::now(),
            latencies_us: Mutex::new(Vec::with_capacity(s.messages as usize)),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_report_us: AtomicU64::new(0),
        };
        let mut config = client_config(&broker.bootstrap);
        config
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "none")
            // The bench bounds what is outstanding itself; librdkafka's queue must not be the
            // tighter limit.
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", "30000");
        let producer: rdkafka::producer::BaseProducer<LatencyContext> =
            config.create_with_context(context).expect("producer");
        let payload = vec![b'x'; s.message_bytes];
        let ctx = producer.context();
        let deadline = Instant::now() + s.phase_limit;
        let first_send_us = ctx.start.elapsed().as_micros() as u64;
        let mut sent = 0u64;
        while sent < s.messages && Instant::now() < deadline {
            // At a fixed rate, message n goes out no earlier than n / rate after the start.
            if let Some(due_us) = sent.saturating_mul(1_000_000).checked_div(s.rate) {
                if ctx.start.elapsed().as_micros() as u64 - first_send_us < due_us {
                    producer.poll(Duration::from_micros(200));
                    continue;
                }
            }
            let done = ctx.delivered.load(Ordering::Relaxed) + ctx.failed.load(Ordering::Relaxed);
            if sent - done >= s.max_in_flight {
                producer.poll(Duration::from_millis(1));
                continue;
            }
            let sent_at_us = ctx.start.elapsed().as_micros() as usize;
            // Round robin: every partition gets the same load, whatever librdkafka's partitioner.
            let record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, sent_at_us)
                .partition((sent % s.partitions as u64) as i32)
                .payload(&payload[..]);
            match producer.send(record) {
                Ok(()) => sent += 1,
                Err((_, _)) => producer.poll(Duration::from_millis(1)),
            }
            // Serve delivery callbacks without waiting.
            producer.poll(Duration::ZERO);
        }
        // Waits for the last acknowledgements; message.timeout.ms bounds it.
        let _ = producer.flush(Duration::from_secs(60));
        let ctx = producer.context();
        let mut latencies = std::mem::take(&mut *ctx.latencies_us.lock().expect("latency lock"));
        // From the first send to the last delivery report, not to now: flush returns late by up
        // to a poll interval, and creating the producer is not part of the load.
        let last_report_us = ctx.last_report_us.load(Ordering::Relaxed);
        let elapsed = Duration::from_micros(last_report_us.saturating_sub(first_send_us));
        latencies.sort_unstable();
        let percentile_ms = |p: usize| -> f64 {
            if latencies.is_empty() {
                return f64::NAN;
            }
            let i = (latencies.len() * p / 100).min(latencies.len() - 1);
            latencies[i] as f64 / 1000.0
        };
        ProduceResult {
            sent,
            acked: ctx.delivered.load(Ordering::Relaxed),
            failed: ctx.failed.load(Ordering::Relaxed),
            elapsed,
            p50_ms: percentile_ms(50),
            p99_ms: percentile_ms(99),
        }
    }

    struct ConsumeResult {
        consumed: u64,
        bytes: u64,
        elapsed: Duration,
    }

    fn consume(broker: &Broker, topic: &str, expected: u64, s: &Settings) -> ConsumeResult {
        let mut config = client_config(&broker.bootstrap);
        config
            // librdkafka wants a group id even for assign(); no group requests are made.
            .set("group.id", "odradek-bench")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false");
        let consumer: BaseConsumer = config.create().expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for p in 0..s.partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .expect("add partition");
        }
        consumer.assign(&assignment).expect("assign");
        let start = Instant::now();
        let deadline = start + s.phase_limit;
        let mut last_message = start;
        let (mut consumed, mut bytes) = (0u64, 0u64);
        while consumed < expected && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    consumed += 1;
                    bytes += message.payload_len() as u64;
                    last_message = Instant::now();
                }
                Some(Err(e)) => broker.fail(&format!("consume {topic}: {e}")),
                None if last_message.elapsed() > CONSUME_IDLE_TIMEOUT => break,
                None => {}
            }
        }
        ConsumeResult {
            consumed,
            bytes,
            elapsed: last_message - start,
        }
    }

    struct Row {
        label: String,
        policy: String,
        reported_policy: String,
        produce: ProduceResult,
        consume: ConsumeResult,
    }

    fn per_second(count: u64, elapsed: Duration) -> f64 {
        count as f64 / elapsed.as_secs_f64().max(1e-9)
    }

    fn print_table(rows: &[Row], s: &Settings) {
        let produce_rate = |r: &Row| per_second(r.produce.acked, r.produce.elapsed);
        let consume_rate = |r: &Row| per_second(r.consume.consumed, r.consume.elapsed);
        let base = rows.first();
        let ratio = |value: f64, base_value: Option<f64>| match base_value {
            Some(b) if b > 0.0 => format!("{:.2}×", value / b),
            _ => "–".to_string(),
        };
        println!();
        println!(
            "{} messages × {} B per topic, {} partitions, acks=all, linger.ms=5, \
             ≤{} in flight, {}; {}; MB = 10^6 payload bytes",
            s.messages,
            s.message_bytes,
            s.partitions,
            s.max_in_flight,
            if s.rate > 0 {
                format!("{} msgs/s offered", s.rate)
            } else {
                "as fast as acknowledged".to_string()
            },
            if s.cluster_nodes > 0 {
                format!("{}-node cluster", s.cluster_nodes)
            } else {
                "one node".to_string()
            }
        );
        println!();
        println!(
            "| topic | sent | acked | failed | produce msgs/s | produce MB/s | p50 ms | p99 ms \
             | consumed | consume msgs/s | consume MB/s | produce vs first | p99 vs first \
             | consume vs first |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in rows {
            let policy = if r.reported_policy == r.policy {
                r.label.clone()
            } else {
                format!("{} (broker says {})", r.label, r.reported_policy)
            };
            let bytes_per_msg = s.message_bytes as f64;
            println!(
                "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {} | {} | {} |",
                policy,
                r.produce.sent,
                r.produce.acked,
                r.produce.failed,
                produce_rate(r),
                produce_rate(r) * bytes_per_msg / 1e6,
                r.produce.p50_ms,
                r.produce.p99_ms,
                r.consume.consumed,
                consume_rate(r),
                per_second(r.consume.bytes, r.consume.elapsed) / 1e6,
                ratio(produce_rate(r), base.map(produce_rate)),
                ratio(r.produce.p99_ms, base.map(|b| b.produce.p99_ms)),
                ratio(consume_rate(r), base.map(consume_rate)),
            );
        }
    }

    pub fn main() {
        // `cargo bench` passes `--bench` (and any filter); this harness-less bench takes no
        // arguments, so they are ignored rather than rejected.
        let s = Settings::from_env();
        let broker = Broker::start(&s.data_parent, s.cluster_nodes);
        eprintln!(
            "broker listening on {} (log {})",
            broker.bootstrap,
            broker.log_path.display()
        );
        let mut rows = Vec::new();
        let runs: Vec<(&String, i32)> = s
            .policies
            .iter()
            .flat_map(|p| s.replication.iter().map(move |r| (p, *r)))
            .collect();
        for (round, (policy, replication)) in runs.into_iter().enumerate() {
            // A factor listed twice (alternating runs, for drift) gets its own topic.
            let topic = format!("bench-{round}-{policy}-rf{replication}");
            let reported_policy = create_topic(&broker, &topic, s.partitions, policy, replication);
            wait_for_leaders(&broker, &topic, s.partitions);
            eprintln!("{topic}: producing {} messages", s.messages);
            let produce = produce(&broker, &topic, &s);
            eprintln!(
                "{topic}: {} acked, {} failed in {:.1} s; consuming",
                produce.acked,
                produce.failed,
                produce.elapsed.as_secs_f64()
            );
            let consume = consume(&broker, &topic, produce.acked, &s);
            eprintln!(
                "{topic}: {} consumed in {:.1} s",
                consume.consumed,
                consume.elapsed.as_secs_f64()
            );
            rows.push(Row {
                label: format!("{policy}, RF={replication}"),
                policy: policy.clone(),
                reported_policy,
                produce,
                consume,
            });
        }
        print_table(&rows, &s);
        drop(broker);
    }
}

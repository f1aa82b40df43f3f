//! Resource limits on the real binary (docs/limits.md): connections in total
//! and per client address, idle connections, and the memory that frames
//! announced but not sent can hold.
#![cfg(not(madsim))]

mod common;

use std::time::{Duration, Instant};

use common::*;
use odradek_jepsen::wire::{frame, request_header_v1, RawConnection, Reply, API_VERSIONS_KEY};
use odradek_jepsen::{BrokerOptions, BrokerProcess};

const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

fn api_versions_v0(correlation_id: i32) -> Vec<u8> {
    frame(&request_header_v1(
        API_VERSIONS_KEY,
        0,
        correlation_id,
        "jepsen-limits",
    ))
}

/// Whether the broker answers an ApiVersions request on this connection.
fn answers(connection: &mut RawConnection) -> bool {
    if connection.send(&api_versions_v0(7)).is_err() {
        return false;
    }
    matches!(connection.read_reply(REPLY_TIMEOUT), Ok(Reply::Frame(_)))
}

/// A `/proc/<pid>/status` field in KiB (VmRSS, VmSize).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/{pid}/status"))
}

#[test]
fn connections_over_the_per_address_limit_are_closed_and_counted_out() {
    let mut broker = BrokerOptions::default()
        .arg("--max-connections-per-ip")
        .arg("3")
        .start()
        .expect("start broker");
    // The harness's readiness probe holds a place until the broker sees it
    // closed, so the first places may free up a moment late.
    let mut open: Vec<RawConnection> = Vec::new();
    let deadline = Instant::now() + REPLY_TIMEOUT;
    while open.len() < 3 {
        let mut connection = RawConnection::connect(broker.addr()).expect("connect");
        if answers(&mut connection) {
            open.push(connection);
        } else {
            assert!(
                Instant::now() < deadline,
                "a connection within the limit is served"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut over = RawConnection::connect(broker.addr()).expect("connect");
    assert!(
        !answers(&mut over),
        "the fourth connection from 127.0.0.1 is closed"
    );
    // Closing one gives its place back (the count decrements on every exit).
    drop(open.pop());
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut replacement = loop {
        let mut connection = RawConnection::connect(broker.addr()).expect("connect");
        if answers(&mut connection) {
            break connection;
        }
        assert!(Instant::now() < deadline, "a freed place is never reused");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(answers(&mut replacement));
    for connection in &mut open {
        assert!(
            answers(connection),
            "the connections within the limit stay served"
        );
    }
    assert!(broker.is_running());
    assert!(broker.log_tail().contains("max.connections.per.ip"));
}

#[test]
fn idle_and_trickling_connections_are_closed() {
    let mut broker = BrokerOptions::default()
        .arg("--connections-max-idle-ms")
        .arg("700")
        .start()
        .expect("start broker");
    let mut silent = RawConnection::connect(broker.addr()).expect("connect");
    // A request left half-sent (a slow-loris client).
    let mut trickling = RawConnection::connect(broker.addr()).expect("connect");
    let request = api_versions_v0(1);
    trickling.send(&request[..6]).expect("send part");
    // An active client, one request every 200 ms, stays connected.
    let mut active = RawConnection::connect(broker.addr()).expect("connect");
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2_000) {
        assert!(answers(&mut active), "an active connection is never idle");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        silent.read_reply(Duration::from_millis(100)).unwrap(),
        Reply::Closed
    );
    assert_eq!(
        trickling.read_reply(Duration::from_millis(100)).unwrap(),
        Reply::Closed
    );
    assert!(broker.is_running());
}

#[test]
fn announced_frames_hold_only_the_bytes_that_arrived() {
    let mut broker = BrokerProcess::start_default().expect("start broker");
    let pid = broker.pid().expect("pid");
    let bootstrap = broker.bootstrap();
    let health = unique_topic("health");
    create_topic(&bootstrap, &health, 1, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let (rss_before, size_before) = (status_kib(pid, "VmRSS"), status_kib(pid, "VmSize"));
    // 400 connections each announce a 100 MiB request (the largest allowed)
    // and send 64 KiB of it: 40 GiB announced, 25 MiB sent.
    const CONNECTIONS: usize = 400;
    let mut hostile = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut connection = RawConnection::connect(broker.addr()).expect("connect");
        let mut bytes = (100i32 << 20).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 64 * 1024]);
        connection.send(&bytes).expect("send");
        hostile.push(connection);
    }
    std::thread::sleep(Duration::from_millis(1_000));
    let (rss_after, size_after) = (status_kib(pid, "VmRSS"), status_kib(pid, "VmSize"));
    let rss_growth_mib = rss_after.saturating_sub(rss_before) / 1024;
    let size_growth_mib = size_after.saturating_sub(size_before) / 1024;
    eprintln!(
        "{CONNECTIONS} connections announcing 100 MiB: VmRSS {} -> {} MiB (+{rss_growth_mib}), VmSize +{size_growth_mib} MiB",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        rss_growth_mib < 150,
        "resident memory grew by {rss_growth_mib} MiB"
    );
    assert!(
        size_growth_mib < 2_048,
        "address space grew by {size_growth_mib} MiB: buffers allocated from size prefixes"
    );
    // The stalled frames hold the request pool (queued.max.request.bytes)
    // until they complete or connections.max.idle.ms closes them; once they
    // are gone, clients are served again.
    drop(hostile);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let record = TestRecord::value("still served");
    produce_acked(&producer, &health, Some(0), std::slice::from_ref(&record));
    assert!(broker.is_running());
}

/// The soft and hard "Max open files" of a process.
fn open_files_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let fields: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    (fields[0], fields[1])
}

#[test]
fn the_descriptor_limit_is_raised_at_start() {
    let broker = BrokerOptions::default()
        .nofile_limit(256, 4096)
        .start()
        .expect("start broker");
    let pid = broker.pid().expect("pid");
    assert_eq!(open_files_limits(pid), (4096, 4096));
}

#[test]
fn running_out_of_descriptors_fails_requests_never_a_log() {
    // 160 descriptors: a cache of 40 log files, 16 partitions need 48.
    let mut broker = BrokerOptions::default()
        .nofile_limit(160, 160)
        .start()
        .expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("fds");
    create_topic(&bootstrap, &topic, 16, &[]);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let mut expected = Vec::new();
    for partition in 0..16 {
        let record = TestRecord::value(format!("before {partition}"));
        produce_acked(
            &producer,
            &topic,
            Some(partition),
            std::slice::from_ref(&record),
        );
        expected.push((partition, record));
    }
    // Take every descriptor left: the broker accepts until EMFILE, the rest
    // wait in the listen backlog.
    let hoard: Vec<RawConnection> = (0..200)
        .filter_map(|_| RawConnection::connect(broker.addr()).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Appends now need to reopen evicted files. They may fail (and be
    // retried by the client); the logs must stay online.
    let during: Vec<bool> = (0..16)
        .map(|partition| {
            let record = TestRecord::value(format!("during {partition}"));
            let reports = produce(
                &producer,
                &topic,
                Some(partition),
                std::slice::from_ref(&record),
            );
            reports[0].is_ok()
        })
        .collect();
    eprintln!(
        "{} of 16 produces acknowledged while descriptors ran out",
        during.iter().filter(|ok| **ok).count()
    );
    drop(hoard);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        broker.is_running(),
        "the broker stopped:\n{}",
        broker.log_tail()
    );
    assert!(
        !broker.log_tail().contains("goes offline"),
        "a log went offline:\n{}",
        broker.log_tail()
    );
    for partition in 0..16 {
        let record = TestRecord::value(format!("after {partition}"));
        produce_acked(
            &producer,
            &topic,
            Some(partition),
            std::slice::from_ref(&record),
        );
    }
    let consumer = consumer(&bootstrap, &[]);
    for (partition, record) in expected {
        let read = read_partition(
            &consumer,
            &topic,
            partition,
            rdkafka::Offset::Beginning,
            1,
            READ_TIMEOUT,
        );
        assert_eq!(read[0].record, record, "partition {partition}");
    }
}

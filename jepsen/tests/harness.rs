//! The process harness itself: a broker comes up on its port, stops cleanly on SIGTERM, dies
//! on kill -9, and restarts on the same port with the same data directory. The other tests rely
//! on each of these.
#![cfg(not(madsim))]

use std::net::TcpStream;
use std::time::Duration;

use odradek_jepsen::BrokerProcess;

fn accepts(broker: &BrokerProcess) -> bool {
    TcpStream::connect_timeout(&broker.addr(), Duration::from_secs(1)).is_ok()
}

#[test]
fn stop_kill_and_restart_keep_port_and_data_dir() {
    let mut broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let data_dir = broker.data_dir();
    assert!(bootstrap.starts_with("127.0.0.1:"), "{bootstrap}");
    assert!(data_dir.is_dir(), "data dir {data_dir:?} exists");
    assert!(accepts(&broker));

    let status = broker.stop().expect("stop");
    assert!(
        status.success(),
        "SIGTERM should exit cleanly, got {status}"
    );
    assert!(!accepts(&broker), "port still open after stop");

    broker.restart().expect("restart after stop");
    assert_eq!(broker.bootstrap(), bootstrap, "same port after restart");
    assert_eq!(broker.data_dir(), data_dir, "same data dir after restart");
    assert!(broker.is_running());

    broker.kill9().expect("kill -9");
    assert!(!broker.is_running());
    assert!(!accepts(&broker), "port still open after kill -9");

    broker.restart().expect("restart after kill -9");
    assert!(accepts(&broker));
    assert!(broker.is_running());
}

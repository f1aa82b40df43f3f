//! One broker process: a child running the real binary on a loopback port with its own data
//! directory, which survives restarts so tests can check what a restarted broker recovers.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::binary::odradek_binary;

/// How long a broker may take to open its port before the start counts as failed.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the port is probed while waiting for the broker to come up.
const STARTUP_POLL: Duration = Duration::from_millis(50);
/// How long a SIGTERM'd broker may take to shut down cleanly before it is SIGKILLed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of the broker's log a failing test prints (the tail is where the cause is).
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// The broker's default topic fsync policy (`--default-fsync-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    Interval,
    Never,
}

impl FsyncPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Interval => "interval",
            FsyncPolicy::Never => "never",
        }
    }
}

/// Command-line settings for a broker. Unset options are not passed, so the broker's own
/// defaults are what gets tested.
#[derive(Clone, Debug)]
pub struct BrokerOptions {
    pub node_id: u32,
    pub default_partitions: Option<u32>,
    pub auto_create_topics: Option<bool>,
    pub retention_check_interval_ms: Option<u64>,
    pub default_fsync_policy: Option<FsyncPolicy>,
    /// Passed verbatim after the options above.
    pub extra_args: Vec<String>,
    /// (soft, hard) `RLIMIT_NOFILE` the broker starts with; `None` inherits the test's.
    pub nofile_limit: Option<(u64, u64)>,
    /// The Kafka listener; `None` takes a free loopback port.
    pub listen: Option<SocketAddr>,
    /// The network namespace (`/run/netns/NAME`) the broker runs in; `None`
    /// runs it in the harness's own.
    pub namespace: Option<String>,
    /// Extra environment variables (the clock nemesis's libfaketime).
    pub env: Vec<(String, String)>,
    /// Where the data directory and log go; `None` is a temporary directory
    /// deleted with the broker.
    pub home: Option<PathBuf>,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            node_id: 1,
            default_partitions: None,
            auto_create_topics: None,
            retention_check_interval_ms: None,
            default_fsync_policy: None,
            extra_args: Vec::new(),
            nofile_limit: None,
            listen: None,
            namespace: None,
            env: Vec::new(),
            home: None,
        }
    }
}

impl BrokerOptions {
    pub fn default_partitions(mut self, partitions: u32) -> Self {
        self.default_partitions = Some(partitions);
        self
    }

    pub fn auto_create_topics(mut self, enabled: bool) -> Self {
        self.auto_create_topics = Some(enabled);
        self
    }

    pub fn retention_check_interval_ms(mut self, interval_ms: u64) -> Self {
        self.retention_check_interval_ms = Some(interval_ms);
        self
    }

    pub fn default_fsync_policy(mut self, policy: FsyncPolicy) -> Self {
        self.default_fsync_policy = Some(policy);
        self
    }

    /// Starts the broker with this (soft, hard) file-descriptor limit.
    pub fn nofile_limit(mut self, soft: u64, hard: u64) -> Self {
        self.nofile_limit = Some((soft, hard));
        self
    }

    /// Listens (and advertises) on this address instead of a free port.
    pub fn listen(mut self, listen: SocketAddr) -> Self {
        self.listen = Some(listen);
        self
    }

    /// Runs the broker in this network namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Keeps the data directory and the log under `home` (not deleted).
    pub fn home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Starts a broker with these options and waits until it accepts connections.
    pub fn start(self) -> io::Result<BrokerProcess> {
        BrokerProcess::start(self)
    }

    fn to_args(&self, listen: SocketAddr, data_dir: &Path) -> Vec<String> {
        let mut args = vec![
            "--node-id".to_string(),
            self.node_id.to_string(),
            "--listen".to_string(),
            listen.to_string(),
            "--advertise".to_string(),
            listen.to_string(),
            "--data-dir".to_string(),
            data_dir.display().to_string(),
        ];
        if let Some(partitions) = self.default_partitions {
            args.extend(["--default-partitions".to_string(), partitions.to_string()]);
        }
        if let Some(enabled) = self.auto_create_topics {
            args.extend(["--auto-create-topics".to_string(), enabled.to_string()]);
        }
        if let Some(interval_ms) = self.retention_check_interval_ms {
            args.extend([
                "--retention-check-interval-ms".to_string(),
                interval_ms.to_string(),
            ]);
        }
        if let Some(policy) = self.default_fsync_policy {
            args.extend([
                "--default-fsync-policy".to_string(),
                policy.as_str().to_string(),
            ]);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// A running (or stopped, between restarts) broker child process.
///
/// Dropping it kills the process; if the current thread is panicking (a failed assertion),
/// the tail of the broker's log is printed first so the test output shows what the broker did.
pub struct BrokerProcess {
    options: BrokerOptions,
    binary: PathBuf,
    listen: SocketAddr,
    /// Holds the data directory and the log file.
    dir: PathBuf,
    /// The temporary directory `dir` is, if any: deleted when the broker is dropped.
    _temporary: Option<TempDir>,
    child: Option<Child>,
}

impl BrokerProcess {
    /// A broker with the binary's defaults.
    pub fn start_default() -> io::Result<BrokerProcess> {
        BrokerOptions::default().start()
    }

    pub fn start(options: BrokerOptions) -> io::Result<BrokerProcess> {
        let (dir, temporary) = match &options.home {
            Some(home) => {
                std::fs::create_dir_all(home)?;
                (home.clone(), None)
            }
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("odradek-jepsen-")
                    .tempdir()?;
                (temporary.path().to_path_buf(), Some(temporary))
            }
        };
        std::fs::create_dir_all(dir.join("data"))?;
        let listen = match options.listen {
            Some(listen) => listen,
            None => free_loopback_port()?,
        };
        let mut broker = BrokerProcess {
            options,
            binary: odradek_binary(),
            listen,
            dir,
            _temporary: temporary,
            child: None,
        };
        broker.spawn_and_wait()?;
        Ok(broker)
    }

    /// "127.0.0.1:PORT", for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.listen.to_string()
    }

    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The file that collects the broker's stdout and stderr across all its runs.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the child is still alive (it has not exited on its own, e.g. by a panic).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Crash the broker: SIGKILL, no chance to flush or close anything.
    pub fn kill9(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): a process pause, as a long GC
    /// pause or a stalled VM would be.
    pub fn pause(&mut self, paused: bool) -> io::Result<()> {
        let Some(child) = self.child.as_ref() else {
            return Err(io::Error::other("broker is not running"));
        };
        let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
        let signal = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) with a pid we spawned and have not yet reaped.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Clean shutdown: SIGTERM, then wait; a broker that does not exit in time is SIGKILLed
    /// (the returned status then shows the signal, so a test can tell a hang from a clean exit).
    pub fn stop(&mut self) -> io::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            return Err(io::Error::other("broker is not running"));
        };
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
        // SAFETY: kill(2) with a pid we spawned and have not yet reaped, so it cannot name an
        // unrelated process.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill()?;
        child.wait()
    }

    /// Starts the broker again on the same port with the same data directory. A broker that is
    /// still running is stopped cleanly first.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            self.stop()?;
        }
        self.spawn_and_wait()
    }

    /// The last part of the broker's log, for failure messages.
    pub fn log_tail(&self) -> String {
        read_tail(&self.log_path(), LOG_TAIL_BYTES)
            .unwrap_or_else(|err| format!("<cannot read broker log: {err}>"))
    }

    fn spawn_and_wait(&mut self) -> io::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut command = Command::new(&self.binary);
        command
            .args(self.options.to_args(self.listen, &self.data_dir()))
            .stdin(Stdio::null())
            // tracing's fmt subscriber writes to stdout, panics go to stderr: keep both.
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        // The start is confirmed by the broker's ready line, so a user's RUST_LOG keeps it.
        match std::env::var("RUST_LOG") {
            Ok(filter) => command.env("RUST_LOG", format!("{filter},odradek::server=info")),
            Err(_) => command.env("RUST_LOG", "info"),
        };
        command.envs(self.options.env.iter().map(|(k, v)| (k, v)));
        if let Some(namespace) = self.options.namespace.clone() {
            use std::os::unix::process::CommandExt;
            let file = File::open(format!("/run/netns/{namespace}"))?;
            // SAFETY: setns only reads the descriptor, owned by the closure,
            // and is async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    use std::os::fd::AsRawFd;
                    if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        if let Some((soft, hard)) = self.options.nofile_limit {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe and only reads `limit`,
            // a copy owned by the closure.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        // Only what this start writes counts as its ready line: a restart appends to the log.
        let log_start = std::fs::metadata(self.log_path())?.len();
        let child = command.spawn().map_err(|err| {
            io::Error::new(err.kind(), format!("spawning {:?}: {err}", self.binary))
        })?;
        self.child = Some(child);
        self.wait_until_accepting(log_start)
    }

    /// Waits for this start's "ready" log line and then for the port to accept. A connection
    /// alone proves nothing: polling a port nobody listens on yet can connect the probe to
    /// itself (TCP simultaneous open when the kernel picks the same source port), which once let
    /// a test talk to a broker that had not started.
    fn wait_until_accepting(&mut self, log_start: u64) -> io::Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut ready_line = ReadyLineScan::new(log_start);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().transpose()) {
                let status = status?;
                self.child = None;
                return Err(io::Error::other(format!(
                    "broker exited during startup with {status}; log:\n{}",
                    self.log_tail()
                )));
            }
            if ready_line.seen(&self.log_path())? && accepts(self.listen) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                // What the process was doing, before it is gone.
                let state = self.pid().map(process_state).unwrap_or_default();
                let _ = self.kill9();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "broker did not accept connections on {} within {STARTUP_TIMEOUT:?} ({state}); log:\n{}",
                        self.listen,
                        self.log_tail()
                    ),
                ));
            }
            std::thread::sleep(STARTUP_POLL);
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- odradek log ({}) ----\n{}\n---- end of odradek log ----",
                self.log_path().display(),
                self.log_tail()
            );
        }
        let _ = self.kill9();
    }
}

/// The line the broker logs once its listener is bound (src/server/mod.rs).
const READY_LINE: &[u8] = b"odradek broker ready";

/// Finds the broker's ready line in its log, reading each byte after `from` once.
struct ReadyLineScan {
    from: u64,
    seen: bool,
    /// The end of the bytes read so far, which may hold the start of the line.
    carry: Vec<u8>,
}

impl ReadyLineScan {
    fn new(from: u64) -> ReadyLineScan {
        ReadyLineScan {
            from,
            seen: false,
            carry: Vec::new(),
        }
    }

    fn seen(&mut self, log: &Path) -> io::Result<bool> {
        if self.seen {
            return Ok(true);
        }
        let mut file = File::open(log)?;
        file.seek(SeekFrom::Start(self.from))?;
        let mut bytes = std::mem::take(&mut self.carry);
        let carried = bytes.len() as u64;
        file.read_to_end(&mut bytes)?;
        self.from += bytes.len() as u64 - carried;
        self.seen = bytes.windows(READY_LINE.len()).any(|w| w == READY_LINE);
        let keep = bytes.len().saturating_sub(READY_LINE.len());
        self.carry = bytes.split_off(keep);
        Ok(self.seen)
    }
}

/// Whether a connection to `addr` is accepted by a listener (not connected to itself).
fn accepts(addr: SocketAddr) -> bool {
    match TcpStream::connect_timeout(&addr, STARTUP_POLL) {
        Ok(stream) => stream.local_addr().ok() != Some(addr),
        Err(_) => false,
    }
}

/// Ports [`free_loopback_port`] handed out in this process, never handed out twice.
static HANDED_OUT_PORTS: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
/// How many ports the OS may offer before one not yet handed out here is found.
const PORT_ATTEMPTS: usize = 64;

/// A loopback address whose port the OS just handed out. The listener is dropped so the broker
/// can bind it. The OS may offer a port again once it is free, and tests run in parallel: two
/// brokers once got the same port (one test's probe reached the other's broker, and a restart
/// found its port taken), so a port is given to one broker per process only. Another process
/// could still grab it in between; the broker's ready line (not a bare connection) confirms it.
pub fn free_loopback_port() -> io::Result<SocketAddr> {
    let mut handed_out = HANDED_OUT_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..PORT_ATTEMPTS {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        if !handed_out.contains(&addr.port()) {
            handed_out.push(addr.port());
            return Ok(addr);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("no loopback port not yet handed out in {PORT_ATTEMPTS} tries"),
    ))
}

/// A process's scheduler state and kernel wait channel, from /proc.
fn process_state(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let state = status
        .lines()
        .find(|line| line.starts_with("State:"))
        .unwrap_or("State: unknown")
        .to_string();
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
    format!("pid {pid}, {state}, wchan {wchan:?}, {threads} threads")
}

fn read_tail(path: &Path, max_bytes: u64) -> io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

//! Hand-built Kafka frames, for tests that must send bytes no real client would send.
//!
//! A Kafka frame is a big-endian `i32` length followed by that many bytes. A request starts
//! with a header (`api_key i16, api_version i16, correlation_id i32, client_id nullable
//! string`, plus an empty tagged-field section in the flexible header v2); a response starts
//! with the correlation id.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Kafka's error code for a request version the broker does not support.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// The ApiVersions API key.
pub const API_VERSIONS_KEY: i16 = 18;

/// Request header v1 (non-flexible requests).
pub fn request_header_v1(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&api_key.to_be_bytes());
    header.extend_from_slice(&api_version.to_be_bytes());
    header.extend_from_slice(&correlation_id.to_be_bytes());
    let client_id_len = i16::try_from(client_id.len()).expect("client id fits an i16 length");
    header.extend_from_slice(&client_id_len.to_be_bytes());
    header.extend_from_slice(client_id.as_bytes());
    header
}

/// Request header v2 (flexible requests): v1 followed by an empty tagged-field section.
pub fn request_header_v2(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Vec<u8> {
    let mut header = request_header_v1(api_key, api_version, correlation_id, client_id);
    header.push(0);
    header
}

/// Prefixes `payload` with its length.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = i32::try_from(payload.len()).expect("frame fits an i32 length");
    let mut framed = Vec::with_capacity(payload.len() + 4);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

/// What the broker did with a connection after we sent it something.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// One complete response frame (without its length prefix).
    Frame(Vec<u8>),
    /// The broker closed (or reset) the connection.
    Closed,
    /// Neither within the timeout: the connection is left hanging.
    Silent,
}

/// A raw connection to a broker.
pub struct RawConnection {
    stream: TcpStream,
}

impl RawConnection {
    pub fn connect(addr: SocketAddr) -> io::Result<RawConnection> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        Ok(RawConnection { stream })
    }

    /// Writes bytes as they are. A broker that already closed the connection makes this fail
    /// with a reset or broken pipe, which callers treat as "closed", not as a test error.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Half-closes the connection: the broker sees EOF after what was sent.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }

    /// Reads one response frame, waiting at most `timeout` in total.
    pub fn read_reply(&mut self, timeout: Duration) -> io::Result<Reply> {
        let deadline = Instant::now() + timeout;
        let mut len_bytes = [0u8; 4];
        match self.read_exact_until(&mut len_bytes, deadline)? {
            ReadOutcome::Done => {}
            ReadOutcome::Closed => return Ok(Reply::Closed),
            ReadOutcome::TimedOut => return Ok(Reply::Silent),
        }
        let len = i32::from_be_bytes(len_bytes);
        let len = usize::try_from(len).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("broker sent negative frame length {len}"),
            )
        })?;
        let mut body = vec![0u8; len];
        match self.read_exact_until(&mut body, deadline)? {
            ReadOutcome::Done => Ok(Reply::Frame(body)),
            // A truncated response is as broken as a closed connection for the caller.
            ReadOutcome::Closed => Ok(Reply::Closed),
            ReadOutcome::TimedOut => Ok(Reply::Silent),
        }
    }

    fn read_exact_until(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<ReadOutcome> {
        let mut filled = 0;
        while filled < buf.len() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(ReadOutcome::TimedOut);
            }
            self.stream.set_read_timeout(Some(remaining))?;
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => return Ok(ReadOutcome::Closed),
                Ok(n) => filled += n,
                Err(err) if is_closed(&err) => return Ok(ReadOutcome::Closed),
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(ReadOutcome::TimedOut)
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(ReadOutcome::Done)
    }
}

enum ReadOutcome {
    Done,
    Closed,
    TimedOut,
}

/// Errors that mean the peer is gone.
pub fn is_closed(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// A cursor over a response body, for picking fields out of it.
pub struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Decoder<'a> {
        Decoder { bytes }
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    pub fn i16(&mut self) -> Option<i16> {
        self.take::<2>().map(i16::from_be_bytes)
    }

    pub fn i32(&mut self) -> Option<i32> {
        self.take::<4>().map(i32::from_be_bytes)
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }
}

/// One entry of an ApiVersions response: an API key and its supported version range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiVersionRange {
    pub api_key: i16,
    pub min_version: i16,
    pub max_version: i16,
}

/// The fields of an ApiVersions v0 response frame (also the format of the UNSUPPORTED_VERSION
/// reply to any ApiVersions version the broker does not know).
#[derive(Debug)]
pub struct ApiVersionsV0 {
    pub correlation_id: i32,
    pub error_code: i16,
    pub api_keys: Vec<ApiVersionRange>,
}

/// Parses an ApiVersions v0 response frame (without its length prefix); `None` if malformed.
pub fn parse_api_versions_v0(frame: &[u8]) -> Option<ApiVersionsV0> {
    let mut decoder = Decoder::new(frame);
    let correlation_id = decoder.i32()?;
    let error_code = decoder.i16()?;
    let count = decoder.i32()?;
    let mut api_keys = Vec::new();
    for _ in 0..count.max(0) {
        api_keys.push(ApiVersionRange {
            api_key: decoder.i16()?,
            min_version: decoder.i16()?,
            max_version: decoder.i16()?,
        });
    }
    Some(ApiVersionsV0 {
        correlation_id,
        error_code,
        api_keys,
    })
}

//! Kafka's framing: a big-endian `i32` size, then that many bytes.
//!
//! A frame larger than `socket.request.max.bytes` (or with a negative size)
//! is refused before anything is allocated for it: the connection is closed,
//! as Kafka does, and nothing else is affected. A frame within the limit is
//! not allocated from its size prefix either: its buffer grows as its bytes
//! arrive ([`FRAME_READ_CHUNK_BYTES`] ahead at most).

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame size {size} outside 0..={max}")]
    BadSize { size: i64, max: usize },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The most a frame's buffer grows ahead of the bytes that arrived: a
/// client announcing 100 MiB and sending 10 bytes costs one chunk, not 100 MiB.
pub const FRAME_READ_CHUNK_BYTES: usize = 64 * 1024;

/// Reads one frame's payload. `Closed` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_size_bytes: usize,
) -> Result<Bytes, FrameError> {
    let size = read_frame_size(reader, max_size_bytes).await?;
    read_frame_body(reader, size).await
}

/// Reads a frame's size prefix and checks it against `max_size_bytes`.
/// `Closed` on a clean end of stream before it.
pub async fn read_frame_size<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_size_bytes: usize,
) -> Result<usize, FrameError> {
    let mut size_prefix = [0u8; 4];
    match reader.read_exact(&mut size_prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let size = i32::from_be_bytes(size_prefix);
    if size < 0 || size as usize > max_size_bytes {
        return Err(FrameError::BadSize {
            size: size as i64,
            max: max_size_bytes,
        });
    }
    Ok(size as usize)
}

/// Reads a frame body of `size` bytes. The buffer grows with the bytes that
/// actually arrive (doubling, from one chunk, never past `size`), so the
/// memory a slow or lying client holds is what it sent plus one chunk.
pub async fn read_frame_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    size: usize,
) -> Result<Bytes, FrameError> {
    let mut payload: Vec<u8> = Vec::with_capacity(size.min(FRAME_READ_CHUNK_BYTES));
    while payload.len() < size {
        if payload.len() == payload.capacity() {
            let grow = payload.len().max(FRAME_READ_CHUNK_BYTES);
            payload.reserve_exact(grow.min(size - payload.len()));
        }
        let room = (payload.capacity() - payload.len()).min(size - payload.len());
        let start = payload.len();
        payload.resize(start + room, 0);
        let read = match reader.read(&mut payload[start..]).await {
            Ok(n) => n,
            Err(e) => return Err(FrameError::Io(e)),
        };
        payload.truncate(start + read);
        if read == 0 {
            return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    Ok(Bytes::from(payload))
}

/// Writes one frame and flushes it (the simulator's streams buffer until a flush).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    payload: &[u8],
) -> Result<(), FrameError> {
    let size = i32::try_from(payload.len()).map_err(|_| FrameError::BadSize {
        size: payload.len() as i64,
        max: i32::MAX as usize,
    })?;
    writer.write_all(&size.to_be_bytes()).await?;
    writer.write_all(payload).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_is_read_whole_across_chunks() {
        let body: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let mut wire = (body.len() as i32).to_be_bytes().to_vec();
        wire.extend_from_slice(&body);
        let mut reader = &wire[..];
        let frame = read_frame(&mut reader, 1 << 20).await.unwrap();
        assert_eq!(&frame[..], &body[..]);
        assert!(matches!(
            read_frame(&mut reader, 1 << 20).await,
            Err(FrameError::Closed)
        ));
    }
}

//! Kafka's framing: a big-endian `i32` size, then that many bytes.
//!
//! A frame larger than `socket.request.max.bytes` (or with a negative size)
//! is refused before anything is allocated for it: the connection is closed,
//! as Kafka does, and nothing else is affected.

use bytes::{Bytes, BytesMut};
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

/// Reads one frame's payload. `Closed` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_size_bytes: usize,
) -> Result<Bytes, FrameError> {
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
    let mut payload = BytesMut::zeroed(size as usize);
    reader.read_exact(&mut payload).await?;
    Ok(payload.freeze())
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

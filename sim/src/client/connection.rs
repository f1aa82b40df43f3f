//! One connection to a broker: length-prefixed frames, request and response
//! headers, correlation ids.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ClientError;

/// No response we expect comes near this; a larger length is garbage.
const MAX_RESPONSE_SIZE_BYTES: usize = 64 * 1024 * 1024;

pub struct Connection {
    stream: TcpStream,
    next_correlation_id: i32,
    client_id: StrBytes,
}

fn io(error: std::io::Error) -> ClientError {
    ClientError::Io(format!("{:?}", error.kind()))
}

fn protocol(error: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(error.to_string())
}

impl Connection {
    pub async fn connect(addr: std::net::SocketAddr, client_id: &str) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr).await.map_err(io)?;
        Ok(Connection {
            stream,
            next_correlation_id: 0,
            client_id: StrBytes::from_string(client_id.to_string()),
        })
    }

    /// Sends `request` at `version` and waits for its response. Callers put
    /// a timeout around it; after any error but a Kafka error code, drop the
    /// connection (a late response would be taken for the next one).
    pub async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(protocol)?;
        request.encode(&mut body, version).map_err(protocol)?;
        let mut frame = BytesMut::with_capacity(4 + body.len());
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).await.map_err(io)?;
        // madsim's TcpStream sends nothing until flushed.
        self.stream.flush().await.map_err(io)?;

        let mut response = self.read_frame().await?;
        let response_header = ResponseHeader::decode(
            &mut response,
            <R::Response as HeaderVersion>::header_version(version),
        )
        .map_err(protocol)?;
        if response_header.correlation_id != correlation_id {
            return Err(ClientError::Protocol(format!(
                "correlation id {} for request {correlation_id}",
                response_header.correlation_id
            )));
        }
        let decoded = R::Response::decode(&mut response, version).map_err(protocol)?;
        if response.has_remaining() {
            return Err(ClientError::Protocol(format!(
                "{} bytes left after the response",
                response.remaining()
            )));
        }
        Ok(decoded)
    }

    async fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length).await.map_err(io)?;
        let length = i32::from_be_bytes(length);
        if length < 0 || length as usize > MAX_RESPONSE_SIZE_BYTES {
            return Err(ClientError::Protocol(format!("response length {length}")));
        }
        let mut body = vec![0u8; length as usize];
        self.stream.read_exact(&mut body).await.map_err(io)?;
        Ok(Bytes::from(body))
    }
}

//! Test peers' building blocks, for simulated streams and real sockets alike.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Echoes every byte read from `stream` back into it, in reads of up to 4 KiB, until end of
/// stream; then shuts the write side. An error on either side ends it with that error.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Result<(), String> {
    let mut buf = vec![0; 4096];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return stream.shutdown().await.map_err(|e| e.to_string());
        }
        stream
            .write_all(&buf[..n])
            .await
            .map_err(|e| e.to_string())?;
    }
}

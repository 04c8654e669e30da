//! Writing response frames to a TCP socket, file chunks with `sendfile(2)`
//! on Linux (the bytes never pass through user space) and with
//! `pread` + `write` elsewhere.

use super::response::{Chunk, ResponseBody};
use crate::log::ReadSlice;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;

/// Bytes sent from files with sendfile(2) since the process started.
static SENDFILE_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes sent so far from segment files with sendfile(2), i.e. without
/// passing through user space (0 on platforms without it).
pub fn sendfile_bytes() -> u64 {
    SENDFILE_BYTES.load(Ordering::Relaxed)
}
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

/// Writes one response frame, chunk by chunk, to `stream`.
pub async fn write_response(
    stream: &mut OwnedWriteHalf,
    body: &ResponseBody,
) -> std::io::Result<()> {
    // Coalesce consecutive memory chunks into one write.
    let mut pending: Vec<u8> = Vec::new();
    for chunk in &body.chunks {
        match chunk {
            Chunk::Bytes(b) => pending.extend_from_slice(b),
            Chunk::File(slice) => {
                if !pending.is_empty() {
                    stream.write_all(&pending).await?;
                    pending.clear();
                }
                send_file(stream, slice).await?;
            }
        }
    }
    if !pending.is_empty() {
        stream.write_all(&pending).await?;
    }
    Ok(())
}

/// Sends a file range to the socket with sendfile, waiting for the socket
/// to be writable whenever it is full.
#[cfg(target_os = "linux")]
async fn send_file(stream: &mut OwnedWriteHalf, slice: &ReadSlice) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let stream: &TcpStream = stream.as_ref();
    use tokio::io::Interest;
    let sock = stream.as_raw_fd();
    let file = slice.file.as_raw_fd();
    let mut offset = libc::off_t::try_from(slice.position)
        .map_err(|_| std::io::Error::other("file position out of range"))?;
    let end = offset + slice.len as libc::off_t;
    while offset < end {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            let count = (end - offset) as usize;
            // SAFETY: both descriptors are open for the duration of the call
            // (the stream and the Arc'd file are borrowed), and `offset`
            // points to a valid off_t that sendfile updates.
            let n = unsafe { libc::sendfile(sock, file, &mut offset, count) };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "segment file shorter than the range being sent",
                ));
            }
            Ok(n) => {
                SENDFILE_BYTES.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends a file range by reading it into memory in pieces and writing those.
#[cfg(not(target_os = "linux"))]
async fn send_file(stream: &mut OwnedWriteHalf, slice: &ReadSlice) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; slice.len.min(1 << 20)];
    let mut done = 0;
    while done < slice.len {
        let n = (slice.len - done).min(buf.len());
        slice
            .file
            .read_exact_at(&mut buf[..n], slice.position + done as u64)?;
        stream.write_all(&buf[..n]).await?;
        done += n;
    }
    Ok(())
}

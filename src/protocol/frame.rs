//! Frames: an `int32` big-endian length followed by that many bytes.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest step by which the buffer grows for a frame being received.
const READ_CHUNK: usize = 8 << 20;

/// Least free space a socket read is given, so small pipelined requests
/// arrive several per read.
const READ_AHEAD: usize = 64 << 10;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer sent a negative length.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The frame is larger than `socket.request.max.bytes`.
    #[error("frame of {size} bytes exceeds socket.request.max.bytes={max}")]
    TooLarge {
        /// Declared size.
        size: i32,
        /// Limit.
        max: usize,
    },
    /// The connection ended inside a frame.
    #[error("connection closed inside a frame ({got} of {want} bytes)")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes declared.
        want: usize,
    },
    /// A socket error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads frames through a receive buffer per connection. Each socket read
/// takes whatever has arrived (often several pipelined requests, or a large
/// produce request in few reads), and each frame is split off the buffer
/// without a copy, so request bytes (a produce request's records) reach the
/// log as received. An emptied buffer is let go, so an idle connection holds
/// no request memory. Cancel safe: a dropped [`FrameReader::next`] loses
/// nothing.
#[derive(Debug)]
pub struct FrameReader<R> {
    reader: R,
    buf: BytesMut,
    max_size: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames from `reader`, each at most `max_size` bytes.
    pub fn new(reader: R, max_size: usize) -> Self {
        FrameReader {
            reader,
            buf: BytesMut::new(),
            max_size,
        }
    }

    /// The next frame's body. `Ok(None)` when the peer closed the connection
    /// cleanly between frames.
    pub async fn next(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            let size = self.declared_size()?;
            let room = match size {
                Some(size) if self.buf.len() >= 4 + size => {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(size).freeze();
                    if self.buf.is_empty() {
                        // Let the frame own the memory alone: freed with it,
                        // not pinned by an idle connection.
                        self.buf = BytesMut::new();
                    }
                    return Ok(Some(frame));
                }
                // Room for the rest of this frame, grown with the data
                // actually received, so a peer announcing a huge frame and
                // sending nothing does not pin that much memory.
                Some(size) => (4 + size - self.buf.len()).min(READ_CHUNK),
                None => READ_AHEAD,
            };
            if self.buf.capacity() - self.buf.len() < room {
                self.buf.reserve(room.max(READ_AHEAD));
            }
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(match size {
                    None => FrameError::Truncated {
                        got: self.buf.len(),
                        want: 4,
                    },
                    Some(size) => FrameError::Truncated {
                        got: self.buf.len() - 4,
                        want: size,
                    },
                });
            }
        }
    }

    /// The body size the buffered frame's length declares, once its 4 bytes
    /// are here, checked against the limits.
    fn declared_size(&self) -> Result<Option<usize>, FrameError> {
        let Some(len) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let size = i32::from_be_bytes(*len);
        if size < 0 {
            return Err(FrameError::NegativeLength(size));
        }
        if size as usize > self.max_size {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        Ok(Some(size as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn reads_frames_then_clean_end() {
        let mut input = framed(b"hello");
        input.extend(framed(b""));
        let mut r = FrameReader::new(&input[..], 100);
        assert_eq!(&r.next().await.unwrap().unwrap()[..], b"hello");
        assert_eq!(r.next().await.unwrap().unwrap().len(), 0);
        assert!(r.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn frames_arriving_in_pieces_and_held_while_more_are_read() {
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let mut input = framed(&big);
        input.extend(framed(b"next"));
        input.extend(framed(&big[..70_000]));
        let (mut tx, rx) = tokio::io::duplex(1000);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            tx.write_all(&input).await.unwrap();
        });
        let mut r = FrameReader::new(rx, 1 << 20);
        let first = r.next().await.unwrap().unwrap();
        let second = r.next().await.unwrap().unwrap();
        let third = r.next().await.unwrap().unwrap();
        assert!(r.next().await.unwrap().is_none());
        writer.await.unwrap();
        // Frames handed out stay intact while the buffer is reused.
        assert_eq!(&first[..], &big[..]);
        assert_eq!(&second[..], b"next");
        assert_eq!(&third[..], &big[..70_000]);
    }

    #[tokio::test]
    async fn rejects_negative_oversized_and_truncated() {
        let neg = (-5i32).to_be_bytes();
        assert!(matches!(
            FrameReader::new(&neg[..], 100).next().await,
            Err(FrameError::NegativeLength(-5))
        ));
        let big = framed(&[0u8; 101]);
        assert!(matches!(
            FrameReader::new(&big[..], 100).next().await,
            Err(FrameError::TooLarge { size: 101, .. })
        ));
        let mut cut = framed(b"abcdef");
        cut.truncate(7);
        assert!(matches!(
            FrameReader::new(&cut[..], 100).next().await,
            Err(FrameError::Truncated { got: 3, want: 6 })
        ));
        let half_len = [0u8, 0];
        assert!(matches!(
            FrameReader::new(&half_len[..], 100).next().await,
            Err(FrameError::Truncated { got: 2, want: 4 })
        ));
    }
}

//! Frames: an `int32` big-endian length followed by that many bytes.

use bytes::{Buf, Bytes, BytesMut};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// The frame is larger than the whole `queued.max.request.bytes` budget.
    #[error("frame of {size} bytes exceeds queued.max.request.bytes={budget}")]
    OverBudget {
        /// Declared size.
        size: usize,
        /// The budget.
        budget: usize,
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
///
/// With a [`RequestBudget`], a frame larger than the read-ahead is read only
/// once its declared size has been taken from the budget, which is shared by
/// all connections (Kafka's `queued.max.request.bytes`); the caller gets the
/// permit with [`FrameReader::take_permit`] and keeps it until the request
/// is handled. Smaller frames fit the read-ahead every connection has
/// anyway and are not charged, so a budget taken by large frames never
/// holds up small requests (a FIFO semaphore would queue them behind).
#[derive(Debug)]
pub struct FrameReader<R> {
    reader: R,
    buf: BytesMut,
    max_size: usize,
    budget: Option<RequestBudget>,
    /// Budget held for the frame being received.
    permit: Option<OwnedSemaphorePermit>,
    /// Budget held for the frame last returned, until taken.
    returned: Option<OwnedSemaphorePermit>,
}

/// The broker-wide budget of request bytes in memory
/// (`queued.max.request.bytes`), shared by every connection's reader.
#[derive(Debug, Clone)]
pub struct RequestBudget {
    semaphore: Arc<Semaphore>,
    bytes: usize,
}

impl RequestBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        let bytes = bytes.min(Semaphore::MAX_PERMITS);
        RequestBudget {
            semaphore: Arc::new(Semaphore::new(bytes)),
            bytes,
        }
    }

    /// Bytes not taken by frames in flight.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// The whole budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames from `reader`, each at most `max_size` bytes.
    pub fn new(reader: R, max_size: usize) -> Self {
        FrameReader {
            reader,
            buf: BytesMut::new(),
            max_size,
            budget: None,
            permit: None,
            returned: None,
        }
    }

    /// [`FrameReader::new`] drawing large frames from `budget`.
    pub fn with_budget(reader: R, max_size: usize, budget: RequestBudget) -> Self {
        FrameReader {
            budget: Some(budget),
            ..FrameReader::new(reader, max_size)
        }
    }

    /// The budget held by the frame [`FrameReader::next`] returned last
    /// (`None` if it was not charged); dropping it gives the bytes back.
    pub fn take_permit(&mut self) -> Option<OwnedSemaphorePermit> {
        self.returned.take()
    }

    /// Takes a frame of `size` bytes from the budget, waiting for other
    /// connections' frames to be handled; refuses one larger than it all.
    async fn charge(&mut self, size: usize) -> Result<(), FrameError> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if size <= READ_AHEAD || self.permit.is_some() {
            return Ok(());
        }
        if size > budget.bytes {
            return Err(FrameError::OverBudget {
                size,
                budget: budget.bytes,
            });
        }
        let permit = budget
            .semaphore
            .clone()
            .acquire_many_owned(size as u32)
            .await
            .expect("the request budget is never closed");
        self.permit = Some(permit);
        Ok(())
    }

    /// The next frame's body. `Ok(None)` when the peer closed the connection
    /// cleanly between frames.
    pub async fn next(&mut self) -> Result<Option<Bytes>, FrameError> {
        self.returned = None;
        loop {
            let size = self.declared_size()?;
            if let Some(size) = size {
                self.charge(size).await?;
            }
            let room = match size {
                Some(size) if self.buf.len() >= 4 + size => {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(size).freeze();
                    if self.buf.is_empty() {
                        // Let the frame own the memory alone: freed with it,
                        // not pinned by an idle connection.
                        self.buf = BytesMut::new();
                    }
                    self.returned = self.permit.take();
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
    async fn large_frames_wait_for_the_shared_budget_small_ones_do_not() {
        use tokio::io::AsyncWriteExt;
        use tokio::time::{Duration, timeout};
        let budget = RequestBudget::new(300_000);
        // A holds 200 kB of the budget for a frame it is still receiving.
        let (mut a_tx, a_rx) = tokio::io::duplex(1 << 20);
        let mut a = FrameReader::with_budget(a_rx, 1 << 20, budget.clone());
        a_tx.write_all(&200_000i32.to_be_bytes()).await.unwrap();
        a_tx.write_all(&[1; 1000]).await.unwrap();
        assert!(timeout(Duration::from_millis(100), a.next()).await.is_err());
        assert_eq!(budget.available(), 100_000);
        // B's 150 kB frame does not fit what is left: B reads nothing of it.
        let (mut b_tx, b_rx) = tokio::io::duplex(1 << 20);
        let mut b = FrameReader::with_budget(b_rx, 1 << 20, budget.clone());
        b_tx.write_all(&framed(&[2; 150_000])).await.unwrap();
        assert!(timeout(Duration::from_millis(100), b.next()).await.is_err());
        assert!(b.buf.len() <= READ_AHEAD + 4, "{} bytes read", b.buf.len());
        assert_eq!(budget.available(), 100_000);
        // A small request on a third connection is not held up.
        let input = framed(b"small");
        let mut c = FrameReader::with_budget(&input[..], 1 << 20, budget.clone());
        assert_eq!(&c.next().await.unwrap().unwrap()[..], b"small");
        assert!(c.take_permit().is_none());
        // A frame larger than the whole budget is refused.
        let huge = 400_000i32.to_be_bytes();
        assert!(matches!(
            FrameReader::with_budget(&huge[..], 1 << 20, budget.clone())
                .next()
                .await,
            Err(FrameError::OverBudget {
                size: 400_000,
                budget: 300_000
            })
        ));
        // A's frame completes; once its request is handled, B gets the budget.
        a_tx.write_all(&[1; 199_000]).await.unwrap();
        let frame = a.next().await.unwrap().unwrap();
        assert_eq!(frame.len(), 200_000);
        let permit = a.take_permit().expect("A's frame was charged");
        assert!(timeout(Duration::from_millis(100), b.next()).await.is_err());
        drop(permit);
        let frame = timeout(Duration::from_secs(5), b.next()).await.unwrap();
        assert_eq!(frame.unwrap().unwrap().len(), 150_000);
        assert_eq!(budget.available(), 150_000);
        drop(b.take_permit());
        assert_eq!(budget.available(), 300_000);
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

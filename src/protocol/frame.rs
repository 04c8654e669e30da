//! Frames: an `int32` big-endian length followed by that many bytes.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest step by which a frame buffer grows while it is being received.
const READ_CHUNK: usize = 1 << 20;

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

/// Reads one frame. `Ok(None)` when the peer closed the connection cleanly
/// between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_size: usize,
) -> Result<Option<BytesMut>, FrameError> {
    let mut len_buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = reader.read(&mut len_buf[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated { got, want: 4 });
        }
        got += n;
    }
    let size = i32::from_be_bytes(len_buf);
    if size < 0 {
        return Err(FrameError::NegativeLength(size));
    }
    if size as usize > max_size {
        return Err(FrameError::TooLarge {
            size,
            max: max_size,
        });
    }
    let want = size as usize;
    // Grow with the data actually received, so a peer announcing a huge
    // frame and sending nothing does not pin that much memory.
    let mut body = BytesMut::with_capacity(want.min(READ_CHUNK));
    while body.len() < want {
        if body.capacity() == body.len() {
            body.reserve((want - body.len()).min(READ_CHUNK));
        }
        let room = want - body.len();
        let n = (&mut *reader).take(room as u64).read_buf(&mut body).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                got: body.len(),
                want,
            });
        }
    }
    Ok(Some(body))
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
        let mut r = &input[..];
        assert_eq!(
            &read_frame(&mut r, 100).await.unwrap().unwrap()[..],
            b"hello"
        );
        assert_eq!(read_frame(&mut r, 100).await.unwrap().unwrap().len(), 0);
        assert!(read_frame(&mut r, 100).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rejects_negative_oversized_and_truncated() {
        let neg = (-5i32).to_be_bytes();
        assert!(matches!(
            read_frame(&mut &neg[..], 100).await,
            Err(FrameError::NegativeLength(-5))
        ));
        let big = framed(&[0u8; 101]);
        assert!(matches!(
            read_frame(&mut &big[..], 100).await,
            Err(FrameError::TooLarge { size: 101, .. })
        ));
        let mut cut = framed(b"abcdef");
        cut.truncate(7);
        assert!(matches!(
            read_frame(&mut &cut[..], 100).await,
            Err(FrameError::Truncated { got: 3, want: 6 })
        ));
        let half_len = [0u8, 0];
        assert!(matches!(
            read_frame(&mut &half_len[..], 100).await,
            Err(FrameError::Truncated { got: 2, want: 4 })
        ));
    }
}

//! Reading input lines fast: one large buffer, lines handed out as borrowed
//! slices, no allocation per line.

use std::io::{self, Read};

/// Splits a byte stream into `\n`-terminated lines.
pub struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    consumed: u64,
}

impl<R: Read> LineReader<R> {
    /// A reader with a buffer of `capacity` bytes (grown for longer lines).
    pub fn with_capacity(capacity: usize, input: R) -> Self {
        LineReader {
            input,
            buf: vec![0; capacity.max(16)],
            start: 0,
            end: 0,
            eof: false,
            consumed: 0,
        }
    }

    /// Bytes of input handed out so far (lines and their newlines).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The next line without its `\n` (a last line without one counts too);
    /// `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        // Bytes after `start` already known to hold no newline.
        let mut scanned = 0;
        loop {
            let pending = &self.buf[self.start + scanned..self.end];
            if let Some(i) = memchr::memchr(b'\n', pending) {
                let line_start = self.start;
                let line_end = self.start + scanned + i;
                self.start = line_end + 1;
                self.consumed += (self.start - line_start) as u64;
                return Ok(Some(&self.buf[line_start..line_end]));
            }
            scanned = self.end - self.start;
            if self.eof {
                if scanned == 0 {
                    return Ok(None);
                }
                let line_start = self.start;
                self.start = self.end;
                self.consumed += scanned as u64;
                return Ok(Some(&self.buf[line_start..self.end]));
            }
            self.fill()?;
        }
    }

    /// Moves the pending partial line to the front, grows the buffer if it is
    /// all one line, and reads more input.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `chunk` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn lines(data: &[u8], capacity: usize, chunk: usize) -> (Vec<Vec<u8>>, u64) {
        let mut reader = LineReader::with_capacity(capacity, Trickle { data, chunk });
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().expect("read") {
            out.push(line.to_vec());
        }
        (out, reader.consumed())
    }

    #[test]
    fn splits_at_newlines_whatever_the_buffer_and_read_sizes() {
        let data = b"a\nbb\n\nccc-long-line-longer-than-the-buffer\r\nlast";
        let expected: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"bb".to_vec(),
            b"".to_vec(),
            b"ccc-long-line-longer-than-the-buffer\r".to_vec(),
            b"last".to_vec(),
        ];
        for capacity in [1, 16, 17, 64, 1 << 20] {
            for chunk in [1, 3, 7, 1000] {
                let (got, consumed) = lines(data, capacity, chunk);
                assert_eq!(got, expected, "capacity {capacity}, chunk {chunk}");
                assert_eq!(consumed, data.len() as u64);
            }
        }
    }

    #[test]
    fn trailing_newline_makes_no_empty_last_line() {
        assert_eq!(
            lines(b"x\ny\n", 16, 2).0,
            vec![b"x".to_vec(), b"y".to_vec()]
        );
        assert!(lines(b"", 16, 2).0.is_empty());
    }
}

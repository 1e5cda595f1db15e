//! The receive buffer: bytes read from the peer and not yet handed to the actor.
//!
//! Reads arrive as separate `Vec`s; handing out moves a whole read when it fits, so the
//! common case (one read, one `on-data` or `receive`) copies nothing.

use std::collections::VecDeque;

/// Ordered bytes, stored as the reads that brought them.
#[derive(Debug, Default)]
pub(crate) struct RxBuffer {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of `chunks[0]` already handed out.
    head: usize,
    len: usize,
}

impl RxBuffer {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push(&mut self, data: Vec<u8>) {
        if !data.is_empty() {
            self.len += data.len();
            self.chunks.push_back(data);
        }
    }

    /// Takes up to `max` bytes (`max >= 1`) from the front; never allocates more than it returns.
    pub(crate) fn take(&mut self, max: usize) -> Vec<u8> {
        let want = max.min(self.len);
        if want == 0 {
            return Vec::new();
        }
        let Some(front) = self.chunks.front_mut() else {
            return Vec::new();
        };
        let front_left = front.len() - self.head;
        if front_left == want && self.head == 0 {
            // Moves the read as it came: the zero-copy path.
            self.len -= want;
            return self.chunks.pop_front().unwrap_or_default();
        }
        let mut out = Vec::with_capacity(want);
        while out.len() < want {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let n = (want - out.len()).min(front.len() - self.head);
            out.extend_from_slice(&front[self.head..self.head + n]);
            self.head += n;
            if self.head == front.len() {
                self.chunks.pop_front();
                self.head = 0;
            }
        }
        self.len -= out.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_across_reads_in_order() {
        let mut b = RxBuffer::default();
        b.push(b"hello".to_vec());
        b.push(Vec::new());
        b.push(b" world".to_vec());
        assert_eq!(b.len(), 11);
        assert_eq!(b.take(3), b"hel");
        assert_eq!(b.take(4), b"lo w");
        assert_eq!(b.take(100), b"orld");
        assert!(b.is_empty());
        assert_eq!(b.take(5), b"");
    }

    #[test]
    fn a_whole_read_moves_without_copy() {
        let mut b = RxBuffer::default();
        let data = vec![7u8; 1000];
        let ptr = data.as_ptr();
        b.push(data);
        let out = b.take(usize::MAX);
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(out.capacity(), 1000);
    }

    #[test]
    fn huge_max_allocates_only_what_is_returned() {
        let mut b = RxBuffer::default();
        b.push(vec![1; 10]);
        b.push(vec![2; 10]);
        let out = b.take(u32::MAX as usize);
        assert_eq!(out.len(), 20);
        assert!(out.capacity() < 64);
    }
}

//! A process-wide pool of large byte buffers, for the data path: read buffers, the bytes an
//! actor sends, and the chunks handed to an actor.
//!
//! A chunk is read on one task (the connection's), handed to an actor's task, and written back
//! by the connection's task again; on a multi-thread runtime these run on different threads.
//! With glibc's allocator, freeing large buffers on the way trims the arena they came from
//! (`madvise(MADV_DONTNEED)`), and the next allocation faults every page in again: on the echo
//! path that was three page faults per 64 KiB chunk and a third of the throughput. Buffers
//! that come back here are reused instead of freed.
//!
//! The pool is bounded: it keeps buffers of [`MIN_POOLED`]..=[`MAX_POOLED`] bytes of
//! capacity, [`POOL_BYTES`] in all; anything else is allocated and freed as usual. Giving a
//! buffer back is always optional.

use std::sync::{Mutex, PoisonError};

/// Buffers smaller than this are not pooled (the allocator's small bins serve them well).
pub const MIN_POOLED: usize = 16 * 1024;
/// Buffers larger than this are not pooled.
pub const MAX_POOLED: usize = 1024 * 1024;
/// The most capacity the pool holds, in bytes.
pub const POOL_BYTES: usize = 8 * 1024 * 1024;

struct Pool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    buffers: Vec::new(),
    bytes: 0,
});

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // The pool holds no invariant a panic could break halfway.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An empty buffer with room for at least `capacity` bytes: a pooled one when one fits.
pub fn take(capacity: usize) -> Vec<u8> {
    if (MIN_POOLED..=MAX_POOLED).contains(&capacity) {
        let mut pool = pool();
        if let Some(i) = pool.buffers.iter().rposition(|b| b.capacity() >= capacity) {
            let buffer = pool.buffers.swap_remove(i);
            pool.bytes -= buffer.capacity();
            return buffer;
        }
    }
    Vec::with_capacity(capacity)
}

/// Gives `buffer` back for reuse (its contents are dropped); dropped instead when it is too
/// small or too large to pool, or when the pool is full.
pub fn give(mut buffer: Vec<u8>) {
    let capacity = buffer.capacity();
    if !(MIN_POOLED..=MAX_POOLED).contains(&capacity) {
        return;
    }
    let mut pool = pool();
    if pool.bytes + capacity > POOL_BYTES {
        return;
    }
    buffer.clear();
    pool.bytes += capacity;
    pool.buffers.push(buffer);
}

/// Bytes of capacity the pool holds now.
pub fn pooled_bytes() -> usize {
    pool().bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the pool is process-wide, and tests run on parallel threads.
    #[test]
    fn reuses_within_bounds_and_never_exceeds_its_budget() {
        let small = take(100);
        assert!(small.capacity() >= 100);
        give(small);
        let mut big = take(64 * 1024);
        big.extend_from_slice(b"old bytes");
        let pointer = big.as_ptr();
        give(big);
        let again = take(64 * 1024);
        assert!(again.is_empty(), "a reused buffer comes back empty");
        assert_eq!(again.as_ptr(), pointer, "the buffer given back is reused");
        give(again);
        // Too large to pool.
        give(Vec::with_capacity(MAX_POOLED + 1));
        // Fill past the budget: the pool stops at POOL_BYTES.
        for _ in 0..(2 * POOL_BYTES / MAX_POOLED) {
            give(Vec::with_capacity(MAX_POOLED));
        }
        assert!(pooled_bytes() <= POOL_BYTES);
        // A request larger than every pooled buffer is a fresh allocation of the right size.
        assert!(take(MAX_POOLED).capacity() >= MAX_POOLED);
    }
}

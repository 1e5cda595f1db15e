//! A connection task's command queue: the driver posts the core's commands for one connection,
//! the connection's I/O task takes them in order.
//!
//! Unlike a channel, a post can leave the task asleep. The connection's own reports are fed to
//! the core inside its task, and most of them command that same connection (a `Received` asks
//! for the next `Read`; a `Wrote` lets the next queued `Write` out). Through a channel, each of
//! those would wake the task that is running: tokio then re-queues the task as a yield after its
//! poll, and a multi-thread runtime wakes an idle worker to steal it, a futex wake and a context
//! switch per chunk for nothing. Here the driver posts those commands quietly, and the task,
//! which loops until it makes no progress, takes them before it sleeps (see `ConnTask::poll`).
//! Every other post wakes the task as a channel would. One queue keeps the order of all of them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use theater_tcp_core::Command;

struct Inner {
    queue: VecDeque<Command>,
    /// The task's waker, registered when it found the queue empty.
    waker: Option<Waker>,
    /// The driver dropped its end: the task ends once the queue is empty.
    closed: bool,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // Nothing panics while the lock is held: a poisoned queue is still a valid queue.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new queue: the driver's end and the task's end.
pub(crate) fn mailbox() -> (Poster, Mailbox) {
    let shared = Arc::new(Mutex::new(Inner {
        queue: VecDeque::new(),
        waker: None,
        closed: false,
    }));
    (Poster(shared.clone()), Mailbox(shared))
}

/// The driver's end. Dropping it closes the queue (after what is in it).
pub(crate) struct Poster(Shared);

impl Poster {
    /// Queues `command` and wakes the task if it sleeps on the queue.
    pub(crate) fn post(&self, command: Command) {
        let waker = {
            let mut inner = lock(&self.0);
            inner.queue.push_back(command);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Queues `command` without waking the task: only for a command caused by the task's own
    /// report, which the task takes before it next sleeps.
    pub(crate) fn post_quietly(&self, command: Command) {
        lock(&self.0).queue.push_back(command);
    }
}

impl Drop for Poster {
    fn drop(&mut self) {
        let waker = {
            let mut inner = lock(&self.0);
            inner.closed = true;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The task's end.
pub(crate) struct Mailbox(Shared);

impl Mailbox {
    /// The next command; `None` once the driver closed the queue and it is empty. Registers
    /// the task's waker when there is nothing to take.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Command>> {
        let mut inner = lock(&self.0);
        if let Some(command) = inner.queue.pop_front() {
            return Poll::Ready(Some(command));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        match &mut inner.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            none => *none = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use theater_tcp_core::ConnId;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn read(n: usize) -> Command {
        Command::Read {
            connection: ConnId(1),
            max: n,
        }
    }

    fn max(command: Option<Command>) -> usize {
        match command {
            Some(Command::Read { max, .. }) => max,
            other => panic!("expected a read, got {other:?}"),
        }
    }

    #[test]
    fn posts_keep_their_order_and_only_loud_ones_wake() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (poster, mut mailbox) = mailbox();
        assert!(mailbox.poll_recv(&mut cx).is_pending());
        poster.post_quietly(read(1));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "a quiet post wakes nobody"
        );
        poster.post(read(2));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "a post wakes the sleeping task"
        );
        poster.post(read(3));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the waker was used once");
        let taken: Vec<usize> = (0..3)
            .map(|_| match mailbox.poll_recv(&mut cx) {
                Poll::Ready(command) => max(command),
                Poll::Pending => panic!("a queued command was not taken"),
            })
            .collect();
        assert_eq!(taken, [1, 2, 3]);
        assert!(mailbox.poll_recv(&mut cx).is_pending());
        drop(poster);
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "closing wakes the task");
        assert!(matches!(mailbox.poll_recv(&mut cx), Poll::Ready(None)));
    }

    #[test]
    fn a_closed_queue_still_yields_what_it_holds() {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let (poster, mut mailbox) = mailbox();
        poster.post(read(7));
        drop(poster);
        assert_eq!(
            max(match mailbox.poll_recv(&mut cx) {
                Poll::Ready(c) => c,
                Poll::Pending => None,
            }),
            7
        );
        assert!(matches!(mailbox.poll_recv(&mut cx), Poll::Ready(None)));
    }
}

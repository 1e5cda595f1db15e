//! Inputs and outputs as data, so that a run can be recorded, hashed and replayed.

use crate::call::{Call, Exports, Notice};
use crate::handler::Handler;
use crate::ids::{ActorId, CallId, CallbackId};
use crate::io::{Command, IoEvent};
use crate::time::Instant;
use serde::{Deserialize, Serialize};

/// Any input of [`Handler`], as one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// [`Handler::actor_started`].
    ActorStarted {
        /// The actor.
        actor: ActorId,
        /// Its callbacks.
        exports: Exports,
    },
    /// [`Handler::actor_stopped`].
    ActorStopped {
        /// The actor.
        actor: ActorId,
    },
    /// [`Handler::handle_call`].
    Call {
        /// The caller.
        actor: ActorId,
        /// The call.
        call: Call,
    },
    /// [`Handler::handle_io`].
    Io(IoEvent),
    /// [`Handler::handle_callback_result`].
    CallbackResult {
        /// The callback.
        id: CallbackId,
        /// Its outcome.
        result: Result<(), String>,
    },
    /// [`Handler::handle_timeout`].
    Timeout,
}

/// Any output of [`Handler`], as one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// From [`Handler::poll_command`].
    Command(Command),
    /// From [`Handler::poll_notice`].
    Notice(Notice),
}

impl Handler {
    /// Feeds one recorded input; returns the call id for [`Input::Call`].
    pub fn handle(&mut self, now: Instant, input: Input) -> Option<CallId> {
        match input {
            Input::ActorStarted { actor, exports } => self.actor_started(now, actor, exports),
            Input::ActorStopped { actor } => self.actor_stopped(now, &actor),
            Input::Call { actor, call } => return Some(self.handle_call(now, &actor, call)),
            Input::Io(event) => self.handle_io(now, event),
            Input::CallbackResult { id, result } => self.handle_callback_result(now, id, result),
            Input::Timeout => self.handle_timeout(now),
        }
        None
    }

    /// Drains every pending output, commands first.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(c) = self.poll_command() {
            out.push(Output::Command(c));
        }
        while let Some(n) = self.poll_notice() {
            out.push(Output::Notice(n));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn a_replayed_trace_gives_the_same_outputs() -> Result<(), Box<dyn std::error::Error>> {
        let inputs = vec![
            Input::ActorStarted {
                actor: "a".into(),
                exports: Exports::ALL,
            },
            Input::Call {
                actor: "a".into(),
                call: Call::Listen {
                    address: "127.0.0.1:0".into(),
                },
            },
            Input::Call {
                actor: "a".into(),
                call: Call::Connect {
                    address: "example.org:80".into(),
                },
            },
            Input::Timeout,
        ];
        let settings = Config::default().validate()?;
        let run = |inputs: &[Input]| {
            let mut h = Handler::new(settings.clone());
            let mut outputs = Vec::new();
            for (i, input) in inputs.iter().enumerate() {
                h.handle(
                    Instant::from_nanos(i as u64 * 1_000_000_000_000),
                    input.clone(),
                );
                outputs.extend(h.drain_outputs());
            }
            outputs
        };
        let first = run(&inputs);
        assert!(!first.is_empty());
        // The transitions are a channel of their own, and replay the same way.
        let story = |inputs: &[Input]| {
            let mut h = Handler::new(settings.clone());
            h.record_transitions(true);
            let mut story = Vec::new();
            for input in inputs {
                h.handle(Instant::from_nanos(0), input.clone());
                while let Some(t) = h.poll_transition() {
                    story.push(t.to_string());
                }
                h.drain_outputs();
            }
            story
        };
        assert_eq!(
            story(&inputs),
            [
                "listener-1 listener: closed => binding",
                "conn-2 connection: closed => resolving"
            ]
        );
        assert_eq!(story(&inputs), story(&inputs));
        let json = serde_json::to_string(&inputs)?;
        let back: Vec<Input> = serde_json::from_str(&json)?;
        assert_eq!(run(&back), first);
        serde_json::to_string(&first)?;
        Ok(())
    }
}

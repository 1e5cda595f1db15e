//! The echo benchmark as a user runs it.
//!
//! `theater-tcp-loadgen compare` starts each server in its own process in turn
//! (`theater-tcp serve` with the built-in echo actor, a raw tokio echo server, the Erlang/OTP
//! `gen_tcp` one, and for TLS raw tokio-rustls against `theater-tcp serve` with `server_tls`),
//! drives every workload of [`workload`] against it from this process, several rounds, and
//! writes the medians as a markdown table ([`compare::render`]), then the scale workload
//! ([`workload::scale`]: thousands of connections open at once, all echoing) at several sizes
//! against a fresh process of each server.
//! `theater-tcp-loadgen echo-server` is the raw tokio echo server, run as a process of its own.

pub mod cli;
pub mod compare;
pub mod limits;
pub mod server;
pub mod tls;
pub mod workload;

/// The Erlang echo server's source (`erl -noshell -eval`): the same file as
/// `theater_tcp_adapter::bench::ERLANG_ECHO`, one process per connection in `{active, once}`
/// mode, 64 KiB buffer; it prints `listening on ADDR` once ready.
pub const ERLANG_ECHO: &str = include_str!("../../theater-adapter/src/erlang_echo.erl");

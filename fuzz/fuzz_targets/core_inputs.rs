//! The core's inputs from arbitrary bytes: calls with any ids, modes, addresses and sizes,
//! an honest and a lying transport, callback results and time jumps; a panic or a broken rule
//! (a call answered twice or never, an id reused, resources left once every actor stopped) is
//! a finding. The harness is `theater_tcp_core::testkit::hostile`; `core/tests/fuzz_corpus.rs`
//! replays the committed corpus on every test run.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| theater_tcp_core::testkit::hostile::run_bytes(data));

//! Arbitrary bytes into the manifest parser: no panic, every error names a key or a position,
//! every manifest accepted is valid. The check is `fuzz/harness/manifest.rs`;
//! `theater-adapter/tests/fuzz_corpus.rs` replays the committed corpus on every test run.

#![no_main]

#[path = "../harness/manifest.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harness::check_manifest(data);
});

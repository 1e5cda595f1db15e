//! The built-in echo actor: `actors/echo.wat`, turned into a component at start-up.

use std::fmt;

const ECHO_WAT: &str = include_str!("../actors/echo.wat");
const ECHO_WIT: &str = include_str!("../actors/echo.wit");

/// The built-in echo actor could not be built (a bug in this crate, never an input error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoBuildError(String);

impl fmt::Display for EchoBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot build the built-in echo actor: {}", self.0)
    }
}

impl std::error::Error for EchoBuildError {}

/// The built-in echo actor as component bytes: it activates every connection pushed to it in
/// `active` mode and sends every chunk back. Built from `actors/echo.wat` with the world of
/// `actors/echo.wit` embedded (`wit-component`), so it needs no wasm toolchain.
pub fn builtin_echo_component() -> Result<Vec<u8>, EchoBuildError> {
    let fail = |what: &str, e: &dyn fmt::Display| EchoBuildError(format!("{what}: {e:#}"));
    let mut module = wat::parse_str(ECHO_WAT).map_err(|e| fail("echo.wat", &e))?;
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("echo.wit", ECHO_WIT)
        .map_err(|e| fail("echo.wit", &e))?;
    let world = resolve
        .select_world(&[package], Some("echo-actor"))
        .map_err(|e| fail("echo.wit", &e))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| fail("embedding the world", &e))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .map_err(|e| fail("encoding", &e))?
        .validate(true)
        .encode()
        .map_err(|e| fail("encoding", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_actor_builds_into_a_component() {
        let bytes = builtin_echo_component().expect("echo builds");
        // A component's preamble: magic, then version 0x0d and layer 1.
        assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0");
    }
}

//! The one reproduction line of the workspace's seed runners: a [`Sweep`](crate::Sweep) in an
//! integration test and `theater-tcp-sim` (crate `theater-tcp-scenarios`) print a failed seed's
//! command through [`Repro::line`], so both read the same way:
//!
//! ```text
//! THEATER_SIM_SEED=<seed> cargo test -p <package>[ --features <f>] --test <target> -- --exact <test>
//! THEATER_SIM_SEED=<seed> cargo run --release -p <package>[ --features <f>] --bin <binary> -- --scenario <name>[ --plan '<json>']
//! ```
//!
//! The seed is always the environment variable [`SEED_VAR`] (a test cannot take arguments of
//! its own, so the variable is the one form both runners accept: a sweep runs that seed alone,
//! and so does `theater-tcp-sim`); what runs (a test, or a scenario of the binary) and the plan
//! that replaces the seed's own draw are the arguments after `--`.

use std::fmt;

/// The environment variable that names the seed to rerun: a [`Sweep`](crate::Sweep) and
/// `theater-tcp-sim` run only that seed when it is set.
pub const SEED_VAR: &str = "THEATER_SIM_SEED";

/// What cargo runs in a reproduction line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An integration-test target of the package: `cargo test ... --test NAME`.
    Test(String),
    /// A binary of the package, optimised: `cargo run --release ... --bin NAME`.
    Bin(String),
}

/// The command that reruns one seed alone; [`Repro::line`] (or `Display`) writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repro {
    /// The seed, set through [`SEED_VAR`].
    pub seed: u64,
    /// The cargo package (`-p`).
    pub package: String,
    /// Cargo features the run needs (`--features`), if any.
    pub features: Option<String>,
    /// The test target or binary.
    pub target: Target,
    /// The arguments after `--`, one word each (quoted for the shell here when they need it).
    pub args: Vec<String>,
}

impl Repro {
    /// The seed `seed` of the test `test` in the integration-test target `binary` of `package`.
    pub fn test(seed: u64, package: &str, binary: &str, test: &str) -> Repro {
        Repro {
            seed,
            package: package.to_owned(),
            features: None,
            target: Target::Test(binary.to_owned()),
            args: vec!["--exact".into(), test.to_owned()],
        }
    }

    /// The seed `seed` of a run of `binary` of `package` with the arguments `args`.
    pub fn bin(seed: u64, package: &str, binary: &str, args: Vec<String>) -> Repro {
        Repro {
            seed,
            package: package.to_owned(),
            features: None,
            target: Target::Bin(binary.to_owned()),
            args,
        }
    }

    /// With the cargo features `features` (none when `None`).
    pub fn features(mut self, features: Option<&str>) -> Repro {
        self.features = features.map(str::to_owned);
        self
    }

    /// The line, as a POSIX shell runs it.
    pub fn line(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Repro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = match self.target {
            Target::Test(_) => "test",
            Target::Bin(_) => "run --release",
        };
        write!(
            f,
            "{SEED_VAR}={} cargo {command} -p {}",
            self.seed, self.package
        )?;
        if let Some(features) = &self.features {
            write!(f, " --features {}", shell_word(features))?;
        }
        match &self.target {
            Target::Test(name) => write!(f, " --test {}", shell_word(name))?,
            Target::Bin(name) => write!(f, " --bin {}", shell_word(name))?,
        }
        if !self.args.is_empty() {
            f.write_str(" --")?;
            for arg in &self.args {
                write!(f, " {}", shell_word(arg))?;
            }
        }
        Ok(())
    }
}

/// `text` as one word of a POSIX shell command: as it is when it holds only safe characters,
/// else in single quotes.
pub fn shell_word(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_./-+=:,@".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The seed that `value` (of [`SEED_VAR`]) names; the error says what would be right.
pub fn parse_seed(value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{SEED_VAR}={value} is not a seed: give a number, e.g. {SEED_VAR}=17"))
}

/// The seed [`SEED_VAR`] names in this process's environment, if it is set.
pub fn seed_from_env() -> Result<Option<u64>, String> {
    match std::env::var_os(SEED_VAR) {
        None => Ok(None),
        Some(value) => parse_seed(&value.to_string_lossy()).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_and_a_binary_read_the_same_way() {
        let test = Repro::test(17, "theater-tcp-sim", "echo", "echo_sweep").features(Some("x"));
        assert_eq!(
            test.line(),
            "THEATER_SIM_SEED=17 cargo test -p theater-tcp-sim --features x --test echo \
             -- --exact echo_sweep"
        );
        let args = vec![
            "--scenario".into(),
            "echo".into(),
            "--plan".into(),
            "{\"a\":1}".into(),
        ];
        let bin = Repro::bin(17, "theater-tcp-scenarios", "theater-tcp-sim", args);
        assert_eq!(
            bin.line(),
            "THEATER_SIM_SEED=17 cargo run --release -p theater-tcp-scenarios \
             --bin theater-tcp-sim -- --scenario echo --plan '{\"a\":1}'"
        );
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("out/echo-seed-3.json"), "out/echo-seed-3.json");
        assert_eq!(shell_word("my dir/it's.json"), "'my dir/it'\\''s.json'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn a_seed_is_a_number() {
        assert_eq!(parse_seed("17"), Ok(17));
        let bad = parse_seed("1..3").expect_err("not a seed");
        assert!(bad.contains("THEATER_SIM_SEED=1..3 is not a seed"), "{bad}");
    }
}

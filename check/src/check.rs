//! The [`Check`] builder, one run's view for properties ([`Run`]), the sweep over seeds with
//! shrinking, regression files and replay.

use crate::actor::ActorUnderTest;
use crate::alphabet::{FaultAlphabet, fault_count, fault_names, without_each_fault};
use crate::peers::Peers;
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;
use theater_tcp_core::{Callback, Config, Notice, Output, Reply};
use theater_tcp_sim::plan::{NetEvent, TimedEvent};
use theater_tcp_sim::{FaultPlan, Outcome, Sim, TraceEvent};

/// Environment variable naming a regression file: a [`Check`] whose name it carries replays
/// only that file (the command a failure prints sets it).
pub const REPLAY_VAR: &str = "THEATER_CHECK_REPLAY";

/// How many seeds' draws the last pass of shrinking gives each smaller plan.
const RESEEDS: u64 = 32;

type Workload<I, O> = Rc<dyn Fn(Peers<O>, I) -> Pin<Box<dyn Future<Output = Result<(), String>>>>>;
type Always<I, O> = Box<dyn Fn(&Run<'_, I, O>) -> Result<(), String>>;
type Predicate<I, O> = Box<dyn Fn(&Run<'_, I, O>) -> bool>;

/// A property test of one actor under faults: the actor, a generated workload of peers, the
/// properties, the fault alphabet and the seeds. See the [crate docs](crate) for an example.
///
/// Each seed draws, from a generator seeded by it, a fault plan of the
/// [alphabet](Self::alphabet) and an input of the workload's strategy, runs the actor and the
/// workload in one simulation ([`Sim`]), and checks the properties. The first seed that breaks
/// an *always* or *eventually* property is shrunk (plan and input together, through their
/// proptest value trees, input first, while the same property still fails; then each fault
/// left is switched off in turn where it can be, trying the draws of the seed and the next
/// few, so the minimal case may carry a later seed), saved as a regression file when
/// a [directory](Self::regressions) is set, and reported with the command that replays it.
/// When every seed passes, each *sometimes* property must have held in at least one of them.
pub struct Check<I, O> {
    name: String,
    actor: Rc<dyn ActorUnderTest>,
    inputs: BoxedStrategy<I>,
    workload: Workload<I, O>,
    always: Vec<(String, Always<I, O>)>,
    sometimes: Vec<(String, Predicate<I, O>)>,
    eventually: Vec<(String, Duration, Predicate<I, O>)>,
    heal_at: Option<Duration>,
    alphabet: FaultAlphabet,
    seeds: Range<u64>,
    config: Config,
    limit: Duration,
    shrink_budget: usize,
    regressions: Option<PathBuf>,
    replay_command: Option<String>,
}

impl<I, O> fmt::Debug for Check<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("actor", &self.actor.name())
            .field("alphabet", &self.alphabet)
            .field("seeds", &self.seeds)
            .finish_non_exhaustive()
    }
}

/// One test case: what a seed drew, or what a regression file holds.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Case<I> {
    /// The seed: turmoil's and the fault layer's draws.
    pub seed: u64,
    /// The fault plan, as run (with the heal event, when the check has one).
    pub plan: FaultPlan,
    /// The workload's input.
    pub input: I,
}

/// What the properties of one run see.
#[derive(Debug)]
pub struct Run<'a, I, O> {
    /// The case that ran.
    pub case: &'a Case<I>,
    /// The simulation's outcome: trace hash, the trace's records, faults that fired per host.
    pub outcome: &'a Outcome,
    /// When the workload returned, in simulated time since the start; `None` if it was cut off
    /// at the eventually-deadline (or, in an *eventually* property's view, had not returned by
    /// its bound).
    pub finished: Option<Duration>,
    history: &'a [(Duration, O)],
    actor: &'a str,
}

impl<I, O> Run<'_, I, O> {
    /// The workload's observations ([`Peers::record`]), in order, with their simulated times.
    pub fn history(&self) -> &[(Duration, O)] {
        self.history
    }

    /// The workload's observations, in order.
    pub fn observations(&self) -> impl Iterator<Item = &O> {
        self.history.iter().map(|(_, o)| o)
    }

    /// Every chunk of bytes the actor under test got from the handler, in order, as the trace
    /// shows it: `receive` results and `on-data` callbacks (end-of-stream's empty chunk left
    /// out). A chunk is one read of the actor: a split read shows here as a chunk that ends
    /// inside a protocol unit.
    pub fn deliveries(&self) -> Vec<&[u8]> {
        self.outcome
            .records
            .iter()
            .filter_map(|r| match &r.event {
                TraceEvent::Output(Output::Notice(Notice::CallCompleted {
                    actor,
                    result: Ok(Reply::Data(data)),
                    ..
                })) if actor.to_string() == self.actor => Some(data.as_slice()),
                TraceEvent::Output(Output::Notice(Notice::Callback {
                    actor,
                    callback: Callback::OnData { data, .. },
                    ..
                })) if actor.to_string() == self.actor => Some(data.as_slice()),
                _ => None,
            })
            .filter(|d| !d.is_empty())
            .collect()
    }
}

/// A property that failed in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Its kind and name: `always "NAME"`, `eventually "NAME"`, or `workload`, `actor`,
    /// `simulation` for a run that broke before its properties could be judged.
    pub property: String,
    /// Why.
    pub why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.why)
    }
}

/// A failing case after shrinking.
#[derive(Debug, Clone)]
pub struct Counterexample<I> {
    /// The seed that failed first.
    pub seed: u64,
    /// The minimal case found (its seed is this seed or one of the next few).
    pub case: Case<I>,
    /// What fails in it.
    pub violation: Violation,
    /// Faults of the plan that failed first ([`fault_count`]).
    pub faults_before: usize,
    /// Faults of the minimal plan.
    pub faults: usize,
    /// Runs the shrinking took.
    pub shrink_runs: usize,
    /// The minimal case's trace hash.
    pub trace_hash: u64,
    /// Whether a second run of the minimal case gave the same trace hash.
    pub deterministic: bool,
    /// The regression file written, when the check has a directory for them.
    pub file: Option<PathBuf>,
    /// The command that replays the minimal case.
    pub replay: String,
}

/// Why a [`Check`] failed.
#[derive(Debug, Clone)]
pub enum CheckFailure<I> {
    /// A seed broke a property; shrunk.
    Counterexample(Box<Counterexample<I>>),
    /// A saved regression case still fails (replayed before the seeds).
    Regression {
        /// The file.
        file: PathBuf,
        /// What fails.
        violation: Violation,
        /// Its trace hash now.
        trace_hash: u64,
        /// The command that replays it.
        replay: String,
    },
    /// A *sometimes* property held in none of the seeds.
    Never {
        /// The property's name.
        property: String,
        /// The seeds run.
        seeds: Range<u64>,
        /// The alphabet they drew from.
        alphabet: String,
    },
    /// A regression file could not be read or written.
    File(String),
}

impl<I: fmt::Debug> fmt::Display for CheckFailure<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckFailure::Counterexample(c) => {
                writeln!(f, "failed at seed {}: {}", c.seed, c.violation)?;
                if c.case.seed != c.seed {
                    writeln!(f, "minimal case at seed {}", c.case.seed)?;
                }
                let names = fault_names(&c.case.plan);
                let plural = |n: usize| if n == 1 { "fault" } else { "faults" };
                writeln!(
                    f,
                    "shrunk in {} runs from {} {} to {}: {}",
                    c.shrink_runs,
                    c.faults_before,
                    plural(c.faults_before),
                    c.faults,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                )?;
                writeln!(f, "input: {:?}", c.case.input)?;
                write!(f, "trace hash {:016x}", c.trace_hash)?;
                if !c.deterministic {
                    write!(f, " (NONDETERMINISTIC: a second run differs)")?;
                }
                writeln!(f)?;
                if let Some(file) = &c.file {
                    writeln!(f, "saved: {}", file.display())?;
                }
                write!(f, "replay: {}", c.replay)
            }
            CheckFailure::Regression {
                file,
                violation,
                trace_hash,
                replay,
            } => write!(
                f,
                "regression {} still fails: {violation}\ntrace hash {trace_hash:016x}\nreplay: {replay}",
                file.display()
            ),
            CheckFailure::Never {
                property,
                seeds,
                alphabet,
            } => write!(
                f,
                "sometimes \"{property}\" never held in {} seeds ({}..{}) of fault alphabet {alphabet}: \
                 the faults or the workload never reach what it looks for",
                seeds.end - seeds.start,
                seeds.start,
                seeds.end
            ),
            CheckFailure::File(why) => f.write_str(why),
        }
    }
}

/// What a passing [`Check`] ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Regression files replayed first.
    pub regressions: usize,
    /// Seeds run.
    pub seeds: u64,
    /// Per *sometimes* property, in how many seeds it held.
    pub sometimes: Vec<(String, u64)>,
}

/// A regression file replayed by [`Check::replay`].
#[derive(Debug, Clone)]
pub struct Replayed<I> {
    /// The case it holds.
    pub case: Case<I>,
    /// What fails now, if anything.
    pub violation: Option<Violation>,
    /// The trace hash now.
    pub trace_hash: u64,
    /// The trace hash saved in the file.
    pub saved_hash: u64,
}

/// One run's raw results, before the properties.
struct Ran<O> {
    outcome: Outcome,
    ended: Ended<O>,
}

/// How the workload and the actor ended, as the run's client host saw it.
struct Ended<O> {
    history: Vec<(Duration, O)>,
    /// `None`: cut off at the deadline.
    workload: Option<Result<(), String>>,
    finished_at: Duration,
    actor: Result<(), String>,
}

/// The file format of a regression.
#[derive(Serialize, serde::Deserialize)]
struct RegressionFile<I> {
    check: String,
    property: String,
    why: String,
    faults: Vec<String>,
    trace_hash: String,
    #[serde(flatten)]
    case: Case<I>,
}

impl<I, O> Check<I, O>
where
    I: Clone + fmt::Debug + Serialize + DeserializeOwned + 'static,
    O: Send + 'static,
{
    /// A check named `name` (regression files and the replay command carry it; use the test
    /// function's name) of `actor`, driven by `workload` on inputs drawn from `inputs`.
    ///
    /// Defaults: seeds `0..100`, the [lossless](FaultAlphabet::lossless) alphabet, the
    /// handler's default [`Config`], a 60 s simulated time limit, 500 shrinking runs, no
    /// regression directory.
    pub fn new<A, S, W, Fut>(name: &str, actor: A, inputs: S, workload: W) -> Self
    where
        A: ActorUnderTest + 'static,
        S: Strategy<Value = I> + 'static,
        W: Fn(Peers<O>, I) -> Fut + 'static,
        Fut: Future<Output = Result<(), String>> + 'static,
    {
        Check {
            name: name.to_owned(),
            actor: Rc::new(actor),
            inputs: inputs.boxed(),
            workload: Rc::new(move |peers, input| Box::pin(workload(peers, input))),
            always: Vec::new(),
            sometimes: Vec::new(),
            eventually: Vec::new(),
            heal_at: None,
            alphabet: FaultAlphabet::lossless(),
            seeds: 0..100,
            config: Config::default(),
            limit: Duration::from_secs(60),
            shrink_budget: 500,
            regressions: None,
            replay_command: None,
        }
    }

    /// A property every run must keep, checked at the end of the run with its history,
    /// trace and input at hand; `Err(why)` fails the run.
    pub fn always(
        mut self,
        name: &str,
        property: impl Fn(&Run<'_, I, O>) -> Result<(), String> + 'static,
    ) -> Self {
        self.always.push((name.to_owned(), Box::new(property)));
        self
    }

    /// A property of each observation as it was recorded: `property(observation, before)`
    /// gets every observation with the ones before it; the first `Err` fails the run, naming
    /// the observation's index and time.
    pub fn always_on_each(
        self,
        name: &str,
        property: impl Fn(&O, &[(Duration, O)]) -> Result<(), String> + 'static,
    ) -> Self {
        self.always(name, move |run| {
            let history = run.history();
            for (i, (at, observation)) in history.iter().enumerate() {
                property(observation, &history[..i])
                    .map_err(|why| format!("observation {i} at {at:?}: {why}"))?;
            }
            Ok(())
        })
    }

    /// A property that must hold in at least one seed of the sweep, else the check fails
    /// naming it (it catches fault injection that never reaches a code path, and dead paths).
    pub fn sometimes(
        mut self,
        name: &str,
        property: impl Fn(&Run<'_, I, O>) -> bool + 'static,
    ) -> Self {
        self.sometimes.push((name.to_owned(), Box::new(property)));
        self
    }

    /// Faults stop at simulated time `at` from the start: partitions repaired, held messages
    /// released, a crashed driver host restarted, and no fault fires afterwards
    /// ([`NetEvent::Heal`]). Needed by [`eventually`](Self::eventually).
    pub fn heal_at(mut self, at: Duration) -> Self {
        self.heal_at = Some(at);
        self
    }

    /// A property that must hold within `within` of simulated time after the
    /// [heal](Self::heal_at): it is judged on the history up to `heal + within` (the workload
    /// counts as finished only if it returned by then). The workload is cut off at the
    /// latest such deadline.
    ///
    /// # Panics
    ///
    /// If no heal time was set before.
    pub fn eventually(
        mut self,
        name: &str,
        within: Duration,
        property: impl Fn(&Run<'_, I, O>) -> bool + 'static,
    ) -> Self {
        assert!(
            self.heal_at.is_some(),
            "eventually \"{name}\": set heal_at(...) first"
        );
        self.eventually
            .push((name.to_owned(), within, Box::new(property)));
        self
    }

    /// The fault kinds seeds may draw.
    pub fn alphabet(mut self, alphabet: FaultAlphabet) -> Self {
        self.alphabet = alphabet;
        self
    }

    /// The seeds of the sweep.
    pub fn seeds(mut self, seeds: Range<u64>) -> Self {
        self.seeds = seeds;
        self
    }

    /// The handler's config.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Simulated time after which a run fails as stuck.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// At most this many runs to shrink a failure.
    pub fn shrink_budget(mut self, runs: usize) -> Self {
        self.shrink_budget = runs;
        self
    }

    /// Where regression files go (`DIR/NAME-seed-N.json`, relative to the test's working
    /// directory, which `cargo test` sets to the package's root); every file of this check
    /// there is replayed before the seeds.
    pub fn regressions(mut self, dir: impl Into<PathBuf>) -> Self {
        self.regressions = Some(dir.into());
        self
    }

    /// The command that runs this check's test (for example
    /// `cargo test -p my-server --test props -- --exact my_check`); replay lines prefix it with
    /// [`REPLAY_VAR`]. Default: `cargo test -- --exact NAME`.
    pub fn replay_command(mut self, command: &str) -> Self {
        self.replay_command = Some(command.to_owned());
        self
    }

    /// Runs the check; panics with the failure's report (shrunk case, regression file, replay
    /// command) if it fails.
    pub fn run(&self) -> Report {
        match self.try_run() {
            Ok(report) => report,
            Err(failure) => panic!("check \"{}\" failed\n{failure}", self.name),
        }
    }

    /// Runs the check: with [`REPLAY_VAR`] naming a file of this check, only that file;
    /// else every regression file of the check, then the seeds.
    pub fn try_run(&self) -> Result<Report, CheckFailure<I>> {
        if let Some(file) = std::env::var_os(REPLAY_VAR).map(PathBuf::from)
            && self.file_is_mine(&file)
        {
            return self.replay_only(&file);
        }
        let mut regressions = 0;
        for file in self.regression_files()? {
            regressions += 1;
            let replayed = self.replay(&file)?;
            if let Some(violation) = replayed.violation {
                return Err(CheckFailure::Regression {
                    replay: self.replay_line(&file),
                    file,
                    violation,
                    trace_hash: replayed.trace_hash,
                });
            }
        }
        let mut held = vec![0u64; self.sometimes.len()];
        for seed in self.seeds.clone() {
            let mut tree = self.tree(seed);
            let case = self.case(seed, tree.current());
            let ran = self.run_case(&case);
            if let Some(violation) = self.violation(&case, &ran) {
                eprintln!(
                    "check \"{}\": seed {seed} fails ({violation}); shrinking",
                    self.name
                );
                return Err(self.counterexample(seed, &mut *tree, case, violation));
            }
            let run = self.view(&case, &ran, None);
            for (count, (_, property)) in held.iter_mut().zip(&self.sometimes) {
                if property(&run) {
                    *count += 1;
                }
            }
        }
        let sometimes: Vec<(String, u64)> = self
            .sometimes
            .iter()
            .map(|(name, _)| name.clone())
            .zip(held)
            .collect();
        if let Some((property, _)) = sometimes.iter().find(|(_, n)| *n == 0) {
            return Err(CheckFailure::Never {
                property: property.clone(),
                seeds: self.seeds.clone(),
                alphabet: self.alphabet.to_string(),
            });
        }
        Ok(Report {
            regressions,
            seeds: self.seeds.end.saturating_sub(self.seeds.start),
            sometimes,
        })
    }

    /// Runs the case saved in regression file `file` once and judges it.
    pub fn replay(&self, file: &Path) -> Result<Replayed<I>, CheckFailure<I>> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| CheckFailure::File(format!("{}: {e}", file.display())))?;
        let saved: RegressionFile<I> = serde_json::from_str(&text)
            .map_err(|e| CheckFailure::File(format!("{}: {e}", file.display())))?;
        let saved_hash = u64::from_str_radix(&saved.trace_hash, 16)
            .map_err(|e| CheckFailure::File(format!("{}: trace_hash: {e}", file.display())))?;
        let ran = self.run_case(&saved.case);
        let violation = self.violation(&saved.case, &ran);
        Ok(Replayed {
            trace_hash: ran.outcome.trace_hash,
            case: saved.case,
            violation,
            saved_hash,
        })
    }

    fn replay_only(&self, file: &Path) -> Result<Report, CheckFailure<I>> {
        let replayed = self.replay(file)?;
        eprintln!(
            "check \"{}\": replayed {}: trace hash {:016x} (saved {:016x}: {})",
            self.name,
            file.display(),
            replayed.trace_hash,
            replayed.saved_hash,
            if replayed.trace_hash == replayed.saved_hash {
                "the same"
            } else {
                "DIFFERENT"
            }
        );
        match replayed.violation {
            Some(violation) => Err(CheckFailure::Regression {
                file: file.to_owned(),
                violation,
                trace_hash: replayed.trace_hash,
                replay: self.replay_line(file),
            }),
            None => Ok(Report {
                regressions: 1,
                seeds: 0,
                sometimes: Vec::new(),
            }),
        }
    }

    fn file_is_mine(&self, file: &Path) -> bool {
        file.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{}-seed-", self.name)))
    }

    fn regression_files(&self) -> Result<Vec<PathBuf>, CheckFailure<I>> {
        let Some(dir) = &self.regressions else {
            return Ok(Vec::new());
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CheckFailure::File(format!("{}: {e}", dir.display()))),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| self.file_is_mine(p) && p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        Ok(files)
    }

    fn replay_line(&self, file: &Path) -> String {
        let command = self
            .replay_command
            .clone()
            .unwrap_or_else(|| format!("cargo test -- --exact {}", self.name));
        let path = file.display().to_string();
        let quoted = if path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:".contains(c))
        {
            path
        } else {
            format!("'{}'", path.replace('\'', r"'\''"))
        };
        format!("{REPLAY_VAR}={quoted} {command}")
    }

    /// The generator of `seed`: the plan and the input, as one value tree.
    fn tree(&self, seed: u64) -> Box<dyn ValueTree<Value = (I, FaultPlan)>> {
        let mut bytes = [0u8; 32];
        for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(
                &(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes(),
            );
        }
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
        // The input shrinks first, while the plan still makes the failure likely.
        let strategy = (self.inputs.clone(), self.alphabet.plans());
        match strategy.new_tree(&mut runner) {
            Ok(tree) => Box::new(tree),
            // Only a strategy that rejects every value gets here.
            Err(why) => panic!(
                "check \"{}\": the input strategy gave no value: {why}",
                self.name
            ),
        }
    }

    fn case(&self, seed: u64, (input, mut plan): (I, FaultPlan)) -> Case<I> {
        if let Some(at) = self.heal_at {
            plan.events.push(TimedEvent {
                at_ms: at.as_millis() as u64,
                event: NetEvent::Heal,
            });
            plan.events.sort_by_key(|e| e.at_ms);
        }
        Case { seed, plan, input }
    }

    /// When the workload is cut off: the heal plus the longest *eventually* bound.
    fn deadline(&self) -> Option<Duration> {
        let heal = self.heal_at?;
        let within = self.eventually.iter().map(|(_, w, _)| *w).max()?;
        Some(heal + within)
    }

    fn run_case(&self, case: &Case<I>) -> Ran<O> {
        let sim = Sim::new(case.seed, case.plan.clone())
            .config(self.config.clone())
            .limit(self.limit)
            .keep_trace(true);
        let slot: Rc<RefCell<Option<Ended<O>>>> = Rc::default();
        let filled = slot.clone();
        let actor = self.actor.clone();
        let workload = self.workload.clone();
        let input = case.input.clone();
        let deadline = self.deadline();
        let outcome = sim.run(move |ctx| async move {
            let peers = Peers::new(ctx.peer.clone(), ctx.server, ctx.seed);
            let running = actor.start(&ctx.driver);
            let work = workload(peers.clone(), input);
            let workload = match deadline {
                Some(d) => tokio::time::timeout(d, work).await.ok(),
                None => Some(work.await),
            };
            let finished_at = peers.elapsed();
            let actor = running.stop().await;
            *filled.borrow_mut() = Some(Ended {
                history: peers.take(),
                workload,
                finished_at,
                actor,
            });
            Ok(())
        });
        // No end recorded: the simulation failed first (its verdict says why).
        let ended = slot.borrow_mut().take().unwrap_or(Ended {
            history: Vec::new(),
            workload: None,
            finished_at: Duration::ZERO,
            actor: Ok(()),
        });
        Ran { outcome, ended }
    }

    /// The view of `ran` for properties, cut at `until` (for *eventually*).
    fn view<'a>(
        &'a self,
        case: &'a Case<I>,
        ran: &'a Ran<O>,
        until: Option<Duration>,
    ) -> Run<'a, I, O> {
        let finished = ran
            .ended
            .workload
            .as_ref()
            .map(|_| ran.ended.finished_at)
            .filter(|at| until.is_none_or(|u| *at <= u));
        let history = match until {
            Some(u) => {
                let n = ran
                    .ended
                    .history
                    .iter()
                    .take_while(|(at, _)| *at <= u)
                    .count();
                &ran.ended.history[..n]
            }
            None => &ran.ended.history[..],
        };
        Run {
            case,
            outcome: &ran.outcome,
            finished,
            history,
            actor: self.actor.name(),
        }
    }

    /// The first property `ran` breaks.
    fn violation(&self, case: &Case<I>, ran: &Ran<O>) -> Option<Violation> {
        let broke = |property: &str, why: String| {
            Some(Violation {
                property: property.to_owned(),
                why,
            })
        };
        if let Err(why) = &ran.outcome.result {
            return broke("simulation", why.clone());
        }
        if let Some(Err(why)) = &ran.ended.workload {
            return broke("workload", why.clone());
        }
        if let Err(why) = &ran.ended.actor {
            return broke("actor", why.clone());
        }
        let run = self.view(case, ran, None);
        for (name, property) in &self.always {
            if let Err(why) = property(&run) {
                return broke(&format!("always \"{name}\""), why);
            }
        }
        if let Some(heal) = self.heal_at {
            for (name, within, property) in &self.eventually {
                let run = self.view(case, ran, Some(heal + *within));
                if !property(&run) {
                    return broke(
                        &format!("eventually \"{name}\""),
                        format!(
                            "did not hold within {within:?} after the heal at {heal:?} (workload {})",
                            match run.finished {
                                Some(at) => format!("finished at {at:?}"),
                                None => "still running".to_owned(),
                            }
                        ),
                    );
                }
            }
        }
        None
    }

    /// Shrinks the failing first case of `seed` through `tree`, keeping a candidate while the
    /// same property fails; saves the minimal case.
    fn counterexample(
        &self,
        seed: u64,
        tree: &mut dyn ValueTree<Value = (I, FaultPlan)>,
        first: Case<I>,
        violation: Violation,
    ) -> CheckFailure<I> {
        let faults_before = fault_count(&first.plan);
        let mut best = (first, violation);
        let mut runs = 0;
        if tree.simplify() {
            while runs < self.shrink_budget {
                runs += 1;
                let case = self.case(seed, tree.current());
                let ran = self.run_case(&case);
                match self.violation(&case, &ran) {
                    Some(v) if v.property == best.1.property => {
                        best = (case, v);
                        if !tree.simplify() {
                            break;
                        }
                    }
                    _ => {
                        if !tree.complicate() {
                            break;
                        }
                    }
                }
            }
        }
        // Then each remaining fault switched off, greedily, while the failure stays. A fault
        // switched off changes the draws of the others (where a read splits), so each smaller
        // plan gets a few seeds' draws: the case's seed, then the next ones.
        'greedy: loop {
            for plan in without_each_fault(&best.0.plan) {
                for k in 0..RESEEDS {
                    if runs >= self.shrink_budget {
                        break 'greedy;
                    }
                    runs += 1;
                    let case = Case {
                        seed: best.0.seed.wrapping_add(k),
                        plan: plan.clone(),
                        input: best.0.input.clone(),
                    };
                    let ran = self.run_case(&case);
                    if let Some(v) = self.violation(&case, &ran)
                        && v.property == best.1.property
                    {
                        best = (case, v);
                        continue 'greedy;
                    }
                }
            }
            break;
        }
        let (case, _) = best;
        // The minimal case once more, twice: its trace hash, and that it is deterministic.
        let ran = self.run_case(&case);
        let again = self.run_case(&case);
        let violation = match self.violation(&case, &ran) {
            Some(v) => v,
            None => best.1,
        };
        let trace_hash = ran.outcome.trace_hash;
        let mut file = None;
        let mut replay = format!(
            "(no regression directory set: the case is seed {seed} with the plan and input above)"
        );
        if let Some(dir) = &self.regressions {
            let path = dir.join(format!("{}-seed-{seed}.json", self.name));
            let saved = RegressionFile {
                check: self.name.clone(),
                property: violation.property.clone(),
                why: violation.why.clone(),
                faults: fault_names(&case.plan),
                trace_hash: format!("{trace_hash:016x}"),
                case: case.clone(),
            };
            let written = serde_json::to_string_pretty(&saved)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    std::fs::create_dir_all(dir)
                        .and_then(|_| std::fs::write(&path, text + "\n"))
                        .map_err(|e| format!("{}: {e}", path.display()))
                });
            match written {
                Ok(()) => {
                    replay = self.replay_line(&path);
                    file = Some(path);
                }
                Err(why) => return CheckFailure::File(format!("saving the regression: {why}")),
            }
        }
        let failure = CheckFailure::Counterexample(Box::new(Counterexample {
            seed,
            faults_before,
            faults: fault_count(&case.plan),
            case,
            violation,
            shrink_runs: runs,
            trace_hash,
            deterministic: again.outcome.trace_hash == trace_hash,
            file,
            replay,
        }));
        eprintln!("check \"{}\" failed\n{failure}", self.name);
        failure
    }
}

//! The `compare` driver: starts each server in its own process in turn, runs every workload
//! against it from this process, several rounds, and renders the medians as a markdown table.

use crate::server::ServerProcess;
use crate::tls::Certificate;
use crate::workload::{self, ScaleOptions, Target};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Sizes of the workloads and the number of rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Rounds; each starts every server once.
    pub rounds: usize,
    /// MiB of the bulk echo (one connection).
    pub bulk_mib: usize,
    /// MiB of the TLS bulk echo.
    pub tls_bulk_mib: usize,
    /// Round trips of the one-connection ping-pong.
    pub round_trips: usize,
    /// Connections of the many-connection ping-pong.
    pub many_connections: usize,
    /// Round trips per connection of the many-connection ping-pong.
    pub round_trips_per_connection: usize,
    /// Concurrent clients of the churn workload.
    pub churn_clients: usize,
    /// Connections the churn workload makes in all.
    pub churn_connections: usize,
    /// Concurrent clients of the TLS churn workload.
    pub tls_churn_clients: usize,
    /// Connections the TLS churn workload makes in all.
    pub tls_churn_connections: usize,
    /// Idle connections of the memory workload.
    pub idle_connections: usize,
    /// How long the idle connections sit before the RSS is read.
    pub settle: Duration,
    /// Time allowed to each workload, and to each server to start.
    pub timeout: Duration,
    /// Connection counts of the scale workload, smallest first (a fresh server for each).
    pub scale_connections: Vec<usize>,
    /// Round trips per second all connections of the scale workload offer together.
    pub scale_rate: f64,
    /// About how long the connections of the scale workload echo, seconds.
    pub scale_seconds: f64,
    /// Rounds of the scale workload (0: left out).
    pub scale_rounds: usize,
}

impl Plan {
    /// The full benchmark.
    pub fn full() -> Plan {
        Plan {
            rounds: 5,
            bulk_mib: 256,
            tls_bulk_mib: 128,
            round_trips: 20_000,
            many_connections: 64,
            round_trips_per_connection: 500,
            churn_clients: 32,
            churn_connections: 2_000,
            tls_churn_clients: 16,
            tls_churn_connections: 1_000,
            idle_connections: 5_000,
            settle: Duration::from_secs(1),
            timeout: Duration::from_secs(120),
            scale_connections: vec![2_500, 5_000, workload::SCALE_CONNECTIONS],
            scale_rate: workload::SCALE_RATE,
            scale_seconds: workload::SCALE_SECONDS,
            scale_rounds: 3,
        }
    }

    /// Small sizes and one round, for CI: checks that every server starts and every workload
    /// runs, not how fast.
    pub fn quick() -> Plan {
        Plan {
            rounds: 1,
            bulk_mib: 4,
            tls_bulk_mib: 2,
            round_trips: 500,
            many_connections: 64,
            round_trips_per_connection: 10,
            churn_clients: 32,
            churn_connections: 200,
            tls_churn_clients: 16,
            tls_churn_connections: 50,
            idle_connections: 200,
            settle: Duration::from_millis(100),
            timeout: Duration::from_secs(60),
            scale_connections: vec![20, 50],
            scale_rate: 2_000.0,
            scale_seconds: 0.5,
            scale_rounds: 1,
        }
    }
}

impl Plan {
    /// The options of the scale workload with `connections` connections.
    pub fn scale_options(&self, connections: usize) -> ScaleOptions {
        ScaleOptions {
            connections,
            rate: self.scale_rate,
            seconds: self.scale_seconds,
            ..ScaleOptions::default()
        }
    }

    /// `Err` when the scale part cannot run (bad sizes, or more connections than this
    /// process may open), before any server starts.
    pub fn check_scale(&self) -> Result<(), String> {
        if self.scale_rounds == 0 {
            return Ok(());
        }
        let Some(&largest) = self.scale_connections.iter().max() else {
            return Err("scale: no connection count given".into());
        };
        for &n in &self.scale_connections {
            self.scale_options(n).validate()?;
        }
        crate::limits::check_room(largest, None).map_err(|e| format!("scale: {e}"))
    }
}

/// What the scale workload measures at each connection count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScaleMeasure {
    /// Growth of the server's RSS per connection, KiB.
    Memory,
    /// The server's CPU time per round trip, µs.
    Cpu,
    /// Round trips per second over the echo phase.
    Rate,
    /// Median latency, µs.
    P50,
    /// 99th percentile latency, µs.
    P99,
}

impl ScaleMeasure {
    /// Every measure, in table order.
    pub const ALL: [ScaleMeasure; 5] = [
        ScaleMeasure::Memory,
        ScaleMeasure::Cpu,
        ScaleMeasure::Rate,
        ScaleMeasure::P50,
        ScaleMeasure::P99,
    ];

    /// The row's label and unit (with ↑ when more is better, ↓ when less is).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            ScaleMeasure::Memory => ("server memory per connection", "KiB ↓"),
            ScaleMeasure::Cpu => ("server CPU per round trip", "µs ↓"),
            ScaleMeasure::Rate => ("round trips per second", "/s ↑"),
            ScaleMeasure::P50 => ("latency p50", "µs ↓"),
            ScaleMeasure::P99 => ("latency p99", "µs ↓"),
        }
    }

    /// The measure out of one run.
    pub fn of(self, run: &workload::Scale) -> Option<f64> {
        match self {
            ScaleMeasure::Memory => run.memory_kib_per_connection,
            ScaleMeasure::Cpu => run.cpu_us_per_round_trip,
            ScaleMeasure::Rate => Some(run.round_trips_per_second),
            ScaleMeasure::P50 => Some(run.p50_us),
            ScaleMeasure::P99 => Some(run.p99_us),
        }
    }
}

/// Largest ratio of a cost per connection (memory, CPU per round trip) at the largest
/// connection count to that at the smallest that still counts as growing linearly.
pub const LINEAR_LIMIT: f64 = 1.25;

/// The servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    /// `theater-tcp serve`, the built-in echo actor in active mode.
    Ours,
    /// The raw tokio echo server (`theater-tcp-loadgen echo-server`), 2 workers.
    Raw,
    /// The Erlang/OTP `gen_tcp` `{active, once}` echo server.
    Erlang,
}

impl Server {
    /// The server's name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Server::Ours => "ours",
            Server::Raw => "raw tokio",
            Server::Erlang => "Erlang",
        }
    }
}

/// What is measured, one row of the table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// Bulk echo throughput, MiB/s.
    Bulk,
    /// One-connection ping-pong, round trips/s.
    PingPong1,
    /// Its median latency, µs.
    PingPong1P50,
    /// Its 99th percentile latency, µs.
    PingPong1P99,
    /// Many-connection ping-pong, round trips/s.
    PingPongMany,
    /// Its median latency, µs.
    PingPongManyP50,
    /// Its 99th percentile latency, µs.
    PingPongManyP99,
    /// Churn, connections/s.
    Churn,
    /// Idle memory per connection, KiB.
    IdleMemory,
    /// TLS bulk echo throughput, MiB/s.
    TlsBulk,
    /// TLS churn, connections/s.
    TlsChurn,
}

impl Metric {
    /// Every metric, in table order.
    pub const ALL: [Metric; 11] = [
        Metric::Bulk,
        Metric::PingPong1,
        Metric::PingPong1P50,
        Metric::PingPong1P99,
        Metric::PingPongMany,
        Metric::PingPongManyP50,
        Metric::PingPongManyP99,
        Metric::Churn,
        Metric::IdleMemory,
        Metric::TlsBulk,
        Metric::TlsChurn,
    ];

    /// The row's label.
    pub fn label(self, plan: &Plan) -> String {
        match self {
            Metric::Bulk => format!("bulk echo, {} MiB, 1 connection", plan.bulk_mib),
            Metric::PingPong1 => format!(
                "64-byte ping-pong, 1 connection, {} round trips",
                plan.round_trips
            ),
            Metric::PingPong1P50 => "  latency p50".into(),
            Metric::PingPong1P99 => "  latency p99".into(),
            Metric::PingPongMany => format!(
                "64-byte ping-pong, {} connections, {} round trips each",
                plan.many_connections, plan.round_trips_per_connection
            ),
            Metric::PingPongManyP50 => "  latency p50".into(),
            Metric::PingPongManyP99 => "  latency p99".into(),
            Metric::Churn => format!(
                "churn: connect, echo 1 KiB, close; {} clients, {} connections",
                plan.churn_clients, plan.churn_connections
            ),
            Metric::IdleMemory => format!(
                "idle memory per connection, {} connections",
                plan.idle_connections
            ),
            Metric::TlsBulk => format!("TLS bulk echo, {} MiB, 1 connection", plan.tls_bulk_mib),
            Metric::TlsChurn => format!(
                "TLS churn: handshake, echo 1 KiB, close; {} clients, {} connections",
                plan.tls_churn_clients, plan.tls_churn_connections
            ),
        }
    }

    /// The unit of the values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Bulk | Metric::TlsBulk => "MiB/s",
            Metric::PingPong1 | Metric::PingPongMany => "round trips/s",
            Metric::PingPong1P50
            | Metric::PingPong1P99
            | Metric::PingPongManyP50
            | Metric::PingPongManyP99 => "µs",
            Metric::Churn | Metric::TlsChurn => "connections/s",
            Metric::IdleMemory => "KiB",
        }
    }

    /// Whether more is better (throughputs) or less (latency, memory).
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Metric::Bulk
                | Metric::PingPong1
                | Metric::PingPongMany
                | Metric::Churn
                | Metric::TlsBulk
                | Metric::TlsChurn
        )
    }

    /// Whether the issue sets a target on this row (latencies are reported, not targeted).
    pub fn has_target(self) -> bool {
        self.higher_is_better() || self == Metric::IdleMemory
    }

    /// Whether the row is a TLS one (raw tokio-rustls, no Erlang).
    pub fn is_tls(self) -> bool {
        matches!(self, Metric::TlsBulk | Metric::TlsChurn)
    }
}

/// Target of ours / raw tokio for throughputs (at least) and idle memory (at most).
pub const RAW_THROUGHPUT_TARGET: f64 = 0.9;
/// Target of ours / raw tokio for idle memory per connection (at most).
pub const RAW_MEMORY_TARGET: f64 = 1.0;

/// Every value measured: per metric and server, one per round (in round order).
#[derive(Debug, Default, Clone)]
pub struct Results {
    values: BTreeMap<(Metric, Server), Vec<f64>>,
    scale: BTreeMap<(usize, ScaleMeasure, Server), Vec<f64>>,
}

impl Results {
    /// Records one round's value.
    pub fn push(&mut self, metric: Metric, server: Server, value: f64) {
        self.values.entry((metric, server)).or_default().push(value);
    }

    /// The values of one metric and server.
    pub fn get(&self, metric: Metric, server: Server) -> &[f64] {
        self.values
            .get(&(metric, server))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Records one scale run of `server` (every measure it has).
    pub fn push_scale(&mut self, server: Server, run: &workload::Scale) {
        for measure in ScaleMeasure::ALL {
            if let Some(value) = measure.of(run) {
                self.scale
                    .entry((run.connections, measure, server))
                    .or_default()
                    .push(value);
            }
        }
    }

    /// The values of one scale measure at `connections` for one server.
    pub fn get_scale(&self, connections: usize, measure: ScaleMeasure, server: Server) -> &[f64] {
        self.scale
            .get(&(connections, measure, server))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Per-round ratios ours / `other` of a scale measure at `connections`.
    pub fn scale_ratios(
        &self,
        connections: usize,
        measure: ScaleMeasure,
        other: Server,
    ) -> Vec<f64> {
        self.get_scale(connections, measure, Server::Ours)
            .iter()
            .zip(self.get_scale(connections, measure, other))
            .filter(|(_, b)| **b > 0.0)
            .map(|(a, b)| a / b)
            .collect()
    }

    /// The median of a scale measure at the largest count of `sizes` divided by its median at
    /// the smallest, for `server`; `None` with fewer than two sizes or nothing to divide by.
    pub fn growth(&self, sizes: &[usize], measure: ScaleMeasure, server: Server) -> Option<f64> {
        let smallest = *sizes.iter().min()?;
        let largest = *sizes.iter().max()?;
        if smallest == largest {
            return None;
        }
        let low = summary(self.get_scale(smallest, measure, server))?.0;
        let high = summary(self.get_scale(largest, measure, server))?.0;
        (low > 0.0).then_some(high / low)
    }

    /// Per-round ratios ours / `other` of a metric.
    pub fn ratios(&self, metric: Metric, other: Server) -> Vec<f64> {
        self.get(metric, Server::Ours)
            .iter()
            .zip(self.get(metric, other))
            .filter(|(_, b)| **b > 0.0)
            .map(|(a, b)| a / b)
            .collect()
    }
}

/// Median, minimum and maximum; `None` when empty.
pub fn summary(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some((median, sorted[0], sorted[n - 1]))
}

fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn cell(values: &[f64]) -> String {
    match summary(values) {
        None => "-".into(),
        Some((median, min, max)) if values.len() == 1 || min == max => number(median),
        Some((median, min, max)) => {
            format!("{} ({}-{})", number(median), number(min), number(max))
        }
    }
}

/// Whether the targets of a row are met: `None` when the row has no target or nothing to
/// compare; otherwise the list of targets missed (empty when all are met).
pub fn missed_targets(results: &Results, metric: Metric) -> Option<Vec<String>> {
    if !metric.has_target() {
        return None;
    }
    let mut missed = Vec::new();
    let raw = summary(&results.ratios(metric, Server::Raw))?.0;
    if metric.higher_is_better() && raw < RAW_THROUGHPUT_TARGET {
        missed.push(format!("{raw:.2} × raw tokio < {RAW_THROUGHPUT_TARGET}"));
    }
    if !metric.higher_is_better() && raw > RAW_MEMORY_TARGET {
        missed.push(format!("{raw:.2} × raw tokio > {RAW_MEMORY_TARGET}"));
    }
    if let Some((erlang, _, _)) = summary(&results.ratios(metric, Server::Erlang)) {
        let behind = if metric.higher_is_better() {
            erlang < 1.0
        } else {
            erlang > 1.0
        };
        if behind {
            missed.push(format!("{erlang:.2} × Erlang, behind it"));
        }
    }
    Some(missed)
}

/// What the report says about where it was made.
#[derive(Debug, Clone)]
pub struct Context {
    /// The command line as run.
    pub command: String,
    /// CPU model and core count.
    pub machine: String,
    /// When (UTC), as `date -u` prints it.
    pub date: String,
    /// Whether the binaries are an optimised build.
    pub release: bool,
    /// Why Erlang is missing, when it is.
    pub erlang_note: Option<String>,
}

/// The machine: core count and CPU model from `/proc/cpuinfo`.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

/// The markdown report: context, the table, the verdict on the targets.
pub fn render(plan: &Plan, results: &Results, context: &Context) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "- command: `{}`", context.command);
    let _ = writeln!(out, "- machine: {}", context.machine);
    let build = if context.release {
        "release"
    } else {
        "not optimised (test profile), figures meaningless"
    };
    if plan.rounds > 0 {
        let _ = writeln!(
            out,
            "- date: {}; build: {build}; {} round{}, each server started afresh in its own process per round, servers interleaved",
            context.date,
            plan.rounds,
            if plan.rounds == 1 { "" } else { "s" }
        );
    } else {
        let _ = writeln!(out, "- date: {}; build: {build}", context.date);
    }
    let _ = writeln!(
        out,
        "- servers: ours = `theater-tcp serve` (built-in echo actor, active mode); raw tokio = `theater-tcp-loadgen echo-server` (2 workers, 64 KiB reads; tokio-rustls for TLS rows); Erlang = `gen_tcp` `{{active, once}}`, 64 KiB buffer{}",
        context
            .erlang_note
            .as_ref()
            .map(|note| format!(" ({note})"))
            .unwrap_or_default()
    );
    if plan.rounds > 0 {
        render_main(&mut out, plan, results, context);
    }
    if plan.scale_rounds > 0 {
        render_scale(&mut out, plan, results, context);
    }
    out
}

fn render_main(out: &mut String, plan: &Plan, results: &Results, context: &Context) {
    let _ = writeln!(
        out,
        "- cells: median over the rounds (minimum-maximum); ratios are medians of the per-round ratios"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| workload | unit | ours | raw tokio | Erlang | ours / raw tokio | ours / Erlang | targets |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut short = Vec::new();
    for metric in Metric::ALL {
        let verdict = match missed_targets(results, metric) {
            None => "-".to_owned(),
            Some(missed) if missed.is_empty() => "met".to_owned(),
            Some(missed) => {
                short.push(format!("{} ({})", metric.label(plan), missed.join("; ")));
                format!("**missed**: {}", missed.join("; "))
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | {} | {} | {} | {} | {} |",
            metric.label(plan).replace("  ", "&nbsp;&nbsp;"),
            metric.unit(),
            if metric.higher_is_better() {
                "↑"
            } else {
                "↓"
            },
            cell(results.get(metric, Server::Ours)),
            cell(results.get(metric, Server::Raw)),
            cell(results.get(metric, Server::Erlang)),
            cell(&results.ratios(metric, Server::Raw)),
            cell(&results.ratios(metric, Server::Erlang)),
            verdict
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Targets (issue 15): every throughput ≥ {RAW_THROUGHPUT_TARGET} × raw tokio and above Erlang; idle memory ≤ {RAW_MEMORY_TARGET} × raw tokio and below Erlang."
    );
    if !context.release || plan.rounds < 3 || *plan == Plan::quick() {
        let _ = writeln!(
            out,
            "No verdict: a verdict needs a release build, the full sizes and at least 3 rounds (the rows above only show that every server and workload ran)."
        );
    } else if short.is_empty() {
        let _ = writeln!(out, "All targets met in this run.");
    } else {
        let _ = writeln!(out, "Short of the targets in this run:");
        for row in short {
            let _ = writeln!(out, "- {row}");
        }
    }
}

/// The heading of the scale part of the report.
pub const SCALE_HEADING: &str = "### Scale: many connections open at once, all echoing";

fn render_scale(out: &mut String, plan: &Plan, results: &Results, context: &Context) {
    let sizes = &plan.scale_connections;
    let _ = writeln!(out);
    let _ = writeln!(out, "{SCALE_HEADING}");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- what: for each connection count N, a fresh server process; N connections opened (at most {} connecting at once, each echoing one byte), then all kept open while each makes 64-byte round trips one after the other, the sends of all spread evenly to offer {} round trips/s in all for about {} s; every echo checked, a lost connection fails the run",
        workload::CONNECT_CONCURRENCY,
        number(plan.scale_rate),
        plan.scale_seconds
    );
    let _ = writeln!(
        out,
        "- server memory per connection: growth of the server's VmRSS (/proc/PID/status) from after one warm-up connection to the end of the echoes, all N still open, divided by N; server CPU per round trip: its utime + stime (/proc/PID/stat, every thread) over the echo phase divided by the round trips; latency: from each write to its echo read back"
    );
    let _ = writeln!(
        out,
        "- {} round{}, each starting every server afresh for every N; cells: median over the rounds (minimum-maximum); ratios are medians of the per-round ratios",
        plan.scale_rounds,
        if plan.scale_rounds == 1 { "" } else { "s" }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| connections | measure | unit | ours | raw tokio | Erlang | ours / raw tokio | ours / Erlang |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for &n in sizes {
        for (row, measure) in ScaleMeasure::ALL.into_iter().enumerate() {
            let (label, unit) = measure.label();
            let _ = writeln!(
                out,
                "| {} | {label} | {unit} | {} | {} | {} | {} | {} |",
                if row == 0 {
                    n.to_string()
                } else {
                    String::new()
                },
                cell(results.get_scale(n, measure, Server::Ours)),
                cell(results.get_scale(n, measure, Server::Raw)),
                cell(results.get_scale(n, measure, Server::Erlang)),
                cell(&results.scale_ratios(n, measure, Server::Raw)),
                cell(&results.scale_ratios(n, measure, Server::Erlang)),
            );
        }
    }
    let (Some(&smallest), Some(&largest)) = (sizes.iter().min(), sizes.iter().max()) else {
        return;
    };
    let _ = writeln!(out);
    if smallest == largest {
        let _ = writeln!(
            out,
            "Linearity: needs at least two connection counts (--scale-connections)."
        );
        return;
    }
    let verdicts = context.release && *plan != Plan::quick();
    let _ = writeln!(
        out,
        "Linearity: cost at {largest} connections / cost at {smallest} (medians); linear when each is at most {LINEAR_LIMIT}."
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| server | memory per connection | CPU per round trip | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for server in [Server::Ours, Server::Raw, Server::Erlang] {
        if results
            .get_scale(largest, ScaleMeasure::Rate, server)
            .is_empty()
        {
            continue;
        }
        let memory = results.growth(sizes, ScaleMeasure::Memory, server);
        let cpu = results.growth(sizes, ScaleMeasure::Cpu, server);
        let show = |g: Option<f64>| g.map_or_else(|| "-".to_owned(), |g| format!("{g:.2}"));
        let verdict = if !verdicts {
            "-".to_owned()
        } else {
            let over: Vec<String> = [("memory", memory), ("CPU", cpu)]
                .into_iter()
                .filter_map(|(what, g)| {
                    g.filter(|g| *g > LINEAR_LIMIT)
                        .map(|g| format!("{what} × {g:.2}"))
                })
                .collect();
            match (memory, cpu) {
                _ if !over.is_empty() => format!("**not linear**: {}", over.join(", ")),
                (Some(_), Some(_)) => "linear".to_owned(),
                _ => "-".to_owned(),
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {verdict} |",
            server.label(),
            show(memory),
            show(cpu)
        );
    }
    if !verdicts {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "No verdict: a verdict needs a release build and the full sizes (the rows above only show that every server served every connection)."
        );
    }
}

/// The heading of the section of the report file that a run rewrites.
pub const LAST_RUN_HEADING: &str = "## Last run";

/// The report file after a run: what `previous` has up to its [`LAST_RUN_HEADING`] line kept
/// (hand-written notes), the report after it; the report alone when there is no such line.
pub fn replace_last_run(previous: &str, report: &str) -> String {
    let mut offset = 0;
    for line in previous.split_inclusive('\n') {
        if line.trim_end() == LAST_RUN_HEADING {
            return format!("{}{LAST_RUN_HEADING}\n\n{report}", &previous[..offset]);
        }
        offset += line.len();
    }
    report.to_owned()
}

/// How to start each server.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `theater-tcp` binary.
    pub theater_tcp: PathBuf,
    /// This binary (for `echo-server`).
    pub loadgen: PathBuf,
    /// Run the Erlang server.
    pub erlang: bool,
}

/// Runs the plan: every round starts each server in its own process in turn (the order
/// rotating by round), measures it from this process, then stops it. Returns the results and,
/// when Erlang was wanted but not there, why.
pub fn run(
    plan: &Plan,
    launch: &Launch,
    progress: &mut dyn FnMut(&str),
) -> Result<(Results, Option<String>), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    plan.check_scale()?;
    let dir = std::env::temp_dir().join(format!("theater-tcp-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let result = run_in(plan, launch, progress, &runtime, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(
    plan: &Plan,
    launch: &Launch,
    progress: &mut dyn FnMut(&str),
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
) -> Result<(Results, Option<String>), String> {
    let certificate = Certificate::self_signed()?;
    let (cert, key) = certificate.write_pem(dir)?;
    let connector = certificate.connector()?;
    let plain_manifest = dir.join("plain.toml");
    let tls_manifest = dir.join("tls.toml");
    write_manifests(&plain_manifest, &tls_manifest, &cert, &key)?;

    let mut erlang_note = None;
    let mut servers = vec![Server::Ours, Server::Raw];
    if launch.erlang {
        match Command::new("erl")
            .args(["-noshell", "-eval", "halt()."])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => servers.push(Server::Erlang),
            Ok(status) => erlang_note = Some(format!("skipped: `erl` failed ({status})")),
            Err(e) => {
                erlang_note = Some(format!(
                    "skipped: cannot run `erl` ({e}); scripts/setup.sh installs erlang-base"
                ))
            }
        }
    } else {
        erlang_note = Some("skipped: --no-erlang".into());
    }

    let mut results = Results::default();
    for round in 0..plan.rounds {
        let mut order = servers.clone();
        order.rotate_left(round % servers.len());
        for &server in &order {
            progress(&format!("round {}/{}: {server:?}", round + 1, plan.rounds));
            let command = match server {
                Server::Ours => ours(launch, &plain_manifest),
                Server::Raw => raw(launch, None),
                Server::Erlang => erlang(),
            };
            let mut process = ServerProcess::start(&format!("{server:?}"), command, plan.timeout)?;
            let target = Target::plain(process.address());
            let pid = process.pid();
            let measured = measure_plain(plan, runtime, &target, pid)
                .map_err(|e| format!("{server:?} server: {e}"))?;
            process.check_alive()?;
            drop(process);
            for (metric, value) in measured {
                results.push(metric, server, value);
            }
        }
        for &server in order.iter().filter(|s| **s != Server::Erlang) {
            progress(&format!(
                "round {}/{}: {server:?} TLS",
                round + 1,
                plan.rounds
            ));
            let command = match server {
                Server::Ours => ours(launch, &tls_manifest),
                _ => raw(launch, Some((&cert, &key))),
            };
            let mut process =
                ServerProcess::start(&format!("{server:?} TLS"), command, plan.timeout)?;
            let target = Target {
                address: process.address(),
                tls: Some(connector.clone()),
            };
            let measured = measure_tls(plan, runtime, &target)
                .map_err(|e| format!("{server:?} TLS server: {e}"))?;
            process.check_alive()?;
            drop(process);
            for (metric, value) in measured {
                results.push(metric, server, value);
            }
        }
    }
    for round in 0..plan.scale_rounds {
        let mut order = servers.clone();
        order.rotate_left(round % servers.len());
        for &n in &plan.scale_connections {
            for &server in &order {
                progress(&format!(
                    "scale round {}/{}: {server:?}, {n} connections",
                    round + 1,
                    plan.scale_rounds
                ));
                let command = match server {
                    Server::Ours => ours(launch, &plain_manifest),
                    Server::Raw => raw(launch, None),
                    Server::Erlang => erlang(),
                };
                let mut process =
                    ServerProcess::start(&format!("{server:?}"), command, plan.timeout)?;
                let target = Target::plain(process.address());
                let pid = process.pid();
                let run = within(
                    runtime,
                    plan.timeout,
                    "scale",
                    workload::scale(&target, &plan.scale_options(n), Some(pid)),
                )
                .map_err(|e| format!("{server:?} server, {n} connections: {e}"))?;
                process.check_alive()?;
                drop(process);
                results.push_scale(server, &run);
            }
        }
    }
    Ok((results, erlang_note))
}

fn write_manifests(plain: &Path, tls: &Path, cert: &Path, key: &Path) -> Result<(), String> {
    let handler = "[[handler]]\ntype = \"tcp\"\nlisten = \"127.0.0.1:0\"\n";
    let tls_table = format!(
        "[handler.server_tls]\nenabled = true\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    std::fs::write(plain, handler).map_err(|e| format!("writing {}: {e}", plain.display()))?;
    std::fs::write(tls, format!("{handler}{tls_table}"))
        .map_err(|e| format!("writing {}: {e}", tls.display()))
}

fn ours(launch: &Launch, manifest: &Path) -> Command {
    let mut command = Command::new(&launch.theater_tcp);
    command
        .arg("serve")
        .arg("--config")
        .arg(manifest)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn");
    command
}

fn raw(launch: &Launch, tls: Option<(&Path, &Path)>) -> Command {
    let mut command = Command::new(&launch.loadgen);
    command.args(["echo-server", "--listen", "127.0.0.1:0"]);
    if let Some((cert, key)) = tls {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    command
}

fn erlang() -> Command {
    let mut command = Command::new("erl");
    // No scheduler busy-waiting: an idle VM must not take CPU from the other servers' runs.
    command
        .args(["+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"])
        .args(["-noshell", "-eval", crate::ERLANG_ECHO])
        .stderr(Stdio::null());
    command
}

fn within<T>(
    runtime: &tokio::runtime::Runtime,
    timeout: Duration,
    what: &str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    runtime.block_on(async {
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(format!("{what}: not done within {timeout:?}")),
        }
    })
}

/// Waits (up to 10 s) until server `pid` uses no CPU: each workload starts on a quiet server.
fn quiet(runtime: &tokio::runtime::Runtime, pid: u32) -> Result<(), String> {
    runtime.block_on(workload::quiesce(pid, Duration::from_secs(10)))
}

/// The plain workloads against one server process; idle memory first, on the fresh process.
pub fn measure_plain(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    target: &Target,
    pid: u32,
) -> Result<Vec<(Metric, f64)>, String> {
    let t = plan.timeout;
    let mut out = Vec::new();
    let idle = within(
        runtime,
        t,
        "idle memory",
        workload::idle_memory(target, pid, plan.idle_connections, plan.settle),
    )?;
    out.push((Metric::IdleMemory, idle));
    quiet(runtime, pid)?;
    let bulk = within(
        runtime,
        t,
        "bulk",
        workload::bulk(target, plan.bulk_mib << 20),
    )?;
    out.push((Metric::Bulk, bulk));
    quiet(runtime, pid)?;
    let one = within(
        runtime,
        t,
        "ping-pong",
        workload::ping_pong(target, 1, plan.round_trips),
    )?;
    out.push((Metric::PingPong1, one.round_trips_per_second));
    out.push((Metric::PingPong1P50, one.p50_us));
    out.push((Metric::PingPong1P99, one.p99_us));
    quiet(runtime, pid)?;
    let many = within(
        runtime,
        t,
        "ping-pong, many connections",
        workload::ping_pong(
            target,
            plan.many_connections,
            plan.round_trips_per_connection,
        ),
    )?;
    out.push((Metric::PingPongMany, many.round_trips_per_second));
    out.push((Metric::PingPongManyP50, many.p50_us));
    out.push((Metric::PingPongManyP99, many.p99_us));
    quiet(runtime, pid)?;
    let churn = within(
        runtime,
        t,
        "churn",
        workload::churn(target, plan.churn_clients, plan.churn_connections),
    )?;
    out.push((Metric::Churn, churn));
    Ok(out)
}

/// The TLS workloads against one server process.
pub fn measure_tls(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    target: &Target,
) -> Result<Vec<(Metric, f64)>, String> {
    let t = plan.timeout;
    let bulk = within(
        runtime,
        t,
        "TLS bulk",
        workload::bulk(target, plan.tls_bulk_mib << 20),
    )?;
    let churn = within(
        runtime,
        t,
        "TLS churn",
        workload::churn(target, plan.tls_churn_clients, plan.tls_churn_connections),
    )?;
    Ok(vec![(Metric::TlsBulk, bulk), (Metric::TlsChurn, churn)])
}

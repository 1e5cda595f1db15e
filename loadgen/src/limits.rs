//! File descriptor limits: every connection is one descriptor in the client and one in the
//! server, so N connections need N of each, and the soft `RLIMIT_NOFILE` is often 1024.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept free beyond the connections, in each process: the runtime's epoll and
/// wake-up descriptors, stdio, pipes to the servers, the files of `/proc` read meanwhile, the
/// listener and the warm-up connection.
pub const SPARE_FDS: u64 = 64;

/// The soft and hard `RLIMIT_NOFILE` of this process (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit, the one that applies.
    pub soft: Option<u64>,
    /// The hard limit, up to which a process may raise its soft one.
    pub hard: Option<u64>,
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (the processes it starts
/// afterwards inherit it) and returns the limits in force after: the old ones when raising
/// fails, which the checks of [`check_room`] then report.
pub fn raise_fd_limit() -> FdLimit {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return FdLimit {
                soft: raised.current,
                hard: raised.maximum,
            };
        }
    }
    FdLimit {
        soft: limit.current,
        hard: limit.maximum,
    }
}

/// The current limits of this process.
pub fn fd_limit() -> FdLimit {
    let limit = getrlimit(Resource::Nofile);
    FdLimit {
        soft: limit.current,
        hard: limit.maximum,
    }
}

/// The soft and hard "Max open files" of process `pid`, from `/proc/PID/limits`.
pub fn fd_limit_of(pid: u32) -> Result<FdLimit, String> {
    let path = format!("/proc/{pid}/limits");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    parse_limits(&text).ok_or_else(|| format!("{path} has no readable \"Max open files\" line"))
}

/// The "Max open files" line of a `/proc/PID/limits` text.
pub fn parse_limits(text: &str) -> Option<FdLimit> {
    let rest = text
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    let mut fields = rest.split_whitespace();
    let value = |field: Option<&str>| -> Option<Option<u64>> {
        match field? {
            "unlimited" => Some(None),
            n => n.parse().ok().map(Some),
        }
    };
    let soft = value(fields.next())?;
    let hard = value(fields.next())?;
    Some(FdLimit { soft, hard })
}

/// Descriptors open in process `pid` now (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&path).map_err(|e| format!("reading {path}: {e}"))?;
    Ok(entries.count() as u64)
}

/// Whether `limit` leaves room for `connections` more descriptors beyond the `open` ones and
/// [`SPARE_FDS`]; the error says what is short, in `who` (this process or the server).
pub fn room(who: &str, limit: FdLimit, open: u64, connections: usize) -> Result<(), String> {
    let Some(soft) = limit.soft else {
        return Ok(());
    };
    let needed = open + connections as u64 + SPARE_FDS;
    if needed <= soft {
        return Ok(());
    }
    let hard = limit
        .hard
        .map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
    let most = soft.saturating_sub(open + SPARE_FDS);
    Err(format!(
        "{connections} connections need about {needed} open files in {who} ({open} open now, \
         {SPARE_FDS} spare), but its limit is {soft} (soft; hard {hard}): use at most {most} \
         connections, or raise the hard limit (`ulimit -Hn`, /etc/security/limits.conf) and \
         start again"
    ))
}

/// Checks that this process, and the server of process `server` when given, may open
/// `connections` more descriptors each.
pub fn check_room(connections: usize, server: Option<u32>) -> Result<(), String> {
    let me = std::process::id();
    room(
        "the load generator",
        fd_limit(),
        open_fds(me).unwrap_or(0),
        connections,
    )?;
    if let Some(pid) = server {
        room(
            &format!("the server (process {pid})"),
            fd_limit_of(pid)?,
            open_fds(pid).unwrap_or(0),
            connections,
        )?;
    }
    Ok(())
}

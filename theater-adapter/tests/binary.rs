//! The `theater-tcp` binary's command-line contract: `serve --listen`, the `listening on ADDR`
//! line, echo through it, graceful stop on SIGINT; `--help` documents every option.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_theater-tcp");

/// Kills the child if a test fails before it exits.
struct Running(Child);

impl Running {
    /// The first line the server printed (`listening on ADDR`, or what it printed instead).
    fn first_line(&mut self) -> String {
        let stdout = self.0.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .lines()
            .next()
            .expect("one line on stdout")
            .expect("readable stdout")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "theater-tcp did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_prints_its_address_echoes_and_stops_cleanly_on_sigint() {
    let child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn theater-tcp");
    let mut running = Running(child);
    let line = running.first_line();
    let address = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    assert!(
        !address.ends_with(":0"),
        "the real port is printed: {address}"
    );

    let mut stream = TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let message: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let mut writer = stream.try_clone().expect("clone");
    let sent = message.clone();
    let writing = std::thread::spawn(move || writer.write_all(&sent));
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).expect("echo");
    writing.join().expect("writer").expect("write");
    assert!(back == message, "echo differs");

    let pid = running.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = wait_exit(&mut running.0, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    // The connection was closed by the stop, not left hanging.
    let mut rest = Vec::new();
    if let Err(e) = stream.read_to_end(&mut rest) {
        let hanging = matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        );
        assert!(!hanging, "the connection was left open: {e}");
    }
    let mut stderr = String::new();
    if let Some(mut e) = running.0.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(!stderr.contains("ERROR"), "errors logged: {stderr}");
}

#[test]
fn help_documents_every_option() {
    let output = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--actor",
        "--config",
        "--listen",
        "listening on",
        "built-in echo",
    ] {
        assert!(
            help.contains(option),
            "serve --help lacks {option}:\n{help}"
        );
    }
    let output = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "bench", "RUST_LOG"] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
}

#[test]
fn a_bad_manifest_is_reported_with_its_key_and_a_failure_status() {
    let dir = std::env::temp_dir().join(format!("theater-tcp-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let manifest = dir.join("bad.toml");
    std::fs::write(
        &manifest,
        "[[handler]]\ntype = \"tcp\"\nlisten = \"127.0.0.1:0\"\nbacklog = 0\n",
    )
    .expect("write manifest");
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&manifest)
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("handler[0].backlog"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout when not ready");
}

#[test]
fn serve_runs_the_actors_of_a_manifest() {
    let dir = std::env::temp_dir().join(format!("theater-tcp-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let component = theater_tcp_adapter::builtin_echo_component().expect("echo builds");
    std::fs::write(dir.join("echo.wasm"), component).expect("write component");
    let manifest = dir.join("m.toml");
    std::fs::write(
        &manifest,
        "[[actor]]\nid = \"first\"\ncomponent = \"echo.wasm\"\n\
         [[handler]]\ntype = \"tcp\"\nlisten = \"127.0.0.1:0\"\nmax_connections = 4\n\
         [limits]\nfuel_per_callback = 10000000\n",
    )
    .expect("write manifest");
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&manifest)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn theater-tcp");
    let mut running = Running(child);
    let line = running.first_line();
    let _ = std::fs::remove_dir_all(&dir);
    let address = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    let mut stream = TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(b"from the manifest").expect("write");
    let mut back = [0u8; 17];
    stream.read_exact(&mut back).expect("echo");
    assert_eq!(&back, b"from the manifest");
    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = wait_exit(&mut running.0, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}

/// The soft and hard "Max open files" of a process, from `/proc/PID/limits`.
#[cfg(target_os = "linux")]
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .expect("a Max open files line");
    let mut fields = line.split_whitespace().map(str::to_owned);
    (fields.next().expect("soft"), fields.next().expect("hard"))
}

/// Every connection is a file descriptor: `serve` raises its soft limit to the hard one, so a
/// server started from a shell with the usual soft limit of 1024 can hold more connections.
#[cfg(target_os = "linux")]
#[test]
fn serve_raises_its_open_file_limit_to_the_hard_limit() {
    let (_, hard) = open_file_limits(std::process::id());
    if hard.parse::<u64>().is_ok_and(|hard| hard <= 256) {
        return; // nothing to raise from 256
    }
    // The shell lowers the soft limit, then becomes `theater-tcp serve`.
    let child = Command::new("sh")
        .args([
            "-c",
            "ulimit -Sn 256 && exec \"$0\" serve --listen 127.0.0.1:0",
            BIN,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh");
    let mut running = Running(child);
    let line = running.first_line();
    assert!(line.starts_with("listening on "), "{line:?}");
    let (soft, server_hard) = open_file_limits(running.0.id());
    assert_eq!(server_hard, hard);
    assert_eq!(soft, hard, "the soft limit was not raised from 256");
}

#[test]
fn bench_runs_both_servers_on_both_runtimes_and_reports_median_ratios() {
    let output = Command::new(BIN)
        .args([
            "bench",
            "--bytes",
            "262144",
            "--round-trips",
            "50",
            "--rounds",
            "3",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for runtime in ["multi-thread tokio runtime", "current-thread tokio runtime"] {
        assert!(stdout.contains(runtime), "no {runtime} report:\n{stdout}");
    }
    assert_eq!(
        stdout.matches("(medians of 3 rounds)").count(),
        2,
        "{stdout}"
    );
    // A verdict per target and runtime, whatever this machine measured.
    assert_eq!(stdout.matches("throughput ratio ").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("ping-pong ratio ").count(), 2, "{stdout}");
    // With Erlang/OTP installed (scripts/setup.sh installs it), its gen_tcp echo is measured
    // too; without, the report says why not.
    let erlang = Command::new("erl")
        .args(["-noshell", "-eval", "halt()."])
        .status()
        .is_ok_and(|s| s.success());
    let line = if erlang {
        "wasm echo / erlang gen_tcp: throughput "
    } else {
        "erlang gen_tcp echo: not measured (erl is not installed"
    };
    assert_eq!(stdout.matches(line).count(), 2, "{stdout}");
    let rejected = Command::new(BIN)
        .args(["bench", "--rounds", "0"])
        .output()
        .expect("run bench --rounds 0");
    assert!(!rejected.status.success());
    assert!(String::from_utf8_lossy(&rejected.stderr).contains("--rounds"));
}

//! `cargo bench -p theater-tcp-adapter`: the host's wasm echo actor against a raw tokio echo
//! server (see `theater_tcp_adapter::bench`), on a multi-thread and a current-thread tokio
//! runtime. Prints both figures and the two ratios with their targets. `-- --quick` measures
//! 8 MiB and 2000 round trips instead.

fn main() {
    let quick = std::env::args().any(|a| a == "--quick" || a == "--test");
    let mut options = theater_tcp_adapter::bench::Options::default();
    if quick {
        options.bytes = 8 * 1024 * 1024;
        options.round_trips = 2_000;
    }
    println!(
        "echo benchmark: {} MiB stream, {} round trips of 64 B, best of 3",
        options.bytes / (1024 * 1024),
        options.round_trips
    );
    match theater_tcp_adapter::bench::run_all(&options) {
        Ok(reports) => {
            for (runtime, report) in reports {
                println!("\n{runtime} tokio runtime:");
                print!("{report}");
            }
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}

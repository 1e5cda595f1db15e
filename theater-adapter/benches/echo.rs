//! `cargo bench -p theater-tcp-adapter`: the host's wasm echo actor against a raw tokio echo
//! server (see `theater_tcp_adapter::bench`), on a multi-thread and a current-thread tokio
//! runtime. Prints the median figures and the median ratios (with their range over the rounds)
//! against their targets. `-- --quick` measures 8 MiB and 2000 round trips, 3 rounds.

fn main() {
    let quick = std::env::args().any(|a| a == "--quick" || a == "--test");
    let mut options = theater_tcp_adapter::bench::Options::default();
    if quick {
        options.bytes = 8 * 1024 * 1024;
        options.round_trips = 2_000;
        options.rounds = 3;
    }
    options.erlang = !std::env::args().any(|a| a == "--no-erlang");
    println!(
        "echo benchmark: {} MiB stream, {} round trips of 64 B, {} rounds per runtime",
        options.bytes / (1024 * 1024),
        options.round_trips,
        options.rounds
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

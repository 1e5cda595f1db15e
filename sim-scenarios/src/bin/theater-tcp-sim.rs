//! `theater-tcp-sim [--scenario NAME|all] [--seeds A..B] [--jobs N] [--shard I/N] ...` and
//! `theater-tcp-sim replay FILE`: runs the simulation scenarios of the Theater TCP handler;
//! see `--help` and
//! `theater_tcp_scenarios::cli`.

#![forbid(unsafe_code)]

fn main() {
    let out = std::io::stdout();
    let err = std::io::stderr();
    let status = theater_tcp_scenarios::cli::main_with(
        std::env::args().skip(1),
        &mut out.lock(),
        &mut err.lock(),
    );
    std::process::exit(status);
}

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: allocation is a tenth of chaperone's time per request under load
/// with the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = chaperone::cli::Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let chaperone::cli::Command::Serve(args) = &cli.command
        && let Some(n) = args.worker_threads.filter(|n| *n > 0)
    {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chaperone: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(chaperone::cli::run(cli))
}

//! The chaperone binary: parses the command line and runs it on an async
//! runtime; everything else lives in the library (`cli::run`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: allocation is a tenth of chaperone's time per request under load
/// with the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = chaperone::cli::Cli::parse();
    // gRPC runs on its own threads (`--worker-threads`, see server.rs); this
    // runtime has the admin listener, reloads, signals and trace export.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(1);
    let runtime = match builder.enable_all().thread_name("chaperone-main").build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chaperone: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(chaperone::cli::run(cli))
}

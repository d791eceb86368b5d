//! The `lcia` command line: parse, run, map errors to an exit code.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = cli::Cli::parse();
    // before any tensor operation: the product thread pool is sized at the first product
    let threads = cli
        .threads
        .map_or_else(lcia_backends::cpu_threads, |n| n as usize);
    lcia_backends::set_cpu_threads(threads);
    match cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

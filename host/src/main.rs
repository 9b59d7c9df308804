//! The `kubestellar` command: parses arguments and dispatches to `cli`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = kubestellar::cli::Cli::parse();
    kubestellar::cli::init_tracing(cli.log_level.as_deref(), cli.default_log_level());
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, like kubectl: the error and its causes.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! The `kubestellar` command: parses arguments and dispatches to `cli`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    exit_quietly_on_broken_pipe();
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

/// Output into a closed pipe (`kubestellar status | head -3`) ends the process quietly with the
/// status a shell reports for SIGPIPE, as for kubectl; `println!` would otherwise panic with a
/// message. Every other panic is reported as usual.
fn exit_quietly_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(141); // 128 + SIGPIPE
        }
        report(info);
    }));
}

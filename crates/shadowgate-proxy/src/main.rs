//! The `shadowgate` binary: parse, validate (exit 64 with every problem), init tracing, build the
//! runtime and the app (exit 64 when a file the settings name is bad, such as the admin users
//! file or the state file; exit 1 on a runtime failure, for example an address in use), run
//! until SIGTERM or SIGINT (exit 0).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::Parser;
use shadowgate_proxy::cli::{Cli, Command};
use shadowgate_proxy::{App, AppError, Settings, Signals};

/// Bad flags or config (sysexits' EX_USAGE).
const EXIT_USAGE: u8 = 64;
/// A runtime failure.
const EXIT_FAILURE: u8 = 1;
/// How long tasks still running after the app stopped get before the process exits.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout, errors to stderr.
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    if cli.command == Some(Command::Demo) {
        return demo();
    }
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("\nFor more information, try '--help'.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = shadowgate_proxy::log::init(settings.log_format) {
        eprintln!("warning: logging is not set up: {e}");
    }
    exit(run(settings))
}

fn run(settings: Settings) -> anyhow::Result<()> {
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let signals = Signals::install().context("cannot install the signal handlers")?;
        let app = App::build(settings).await?;
        app.run(signals.shutdown()).await?;
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    result
}

fn demo() -> ExitCode {
    // DEMO: `src/demo/` (another engineer's) sets up its own output.
    exit(runtime().and_then(|rt| rt.block_on(shadowgate_proxy::demo::run())))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the Tokio runtime")
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // A bad file named by the settings (users file, state file) is a config error.
            let config = e
                .downcast_ref::<AppError>()
                .is_some_and(AppError::is_config_error);
            ExitCode::from(if config { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}

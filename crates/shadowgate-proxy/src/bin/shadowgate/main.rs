//! The `shadowgate` binary: parse, validate (exit 64 with every problem), init tracing, build the
//! runtime and the app (exit 64 when a file the settings name is bad, such as the admin users
//! file or the state file; exit 1 on a runtime failure, for example an address in use), run
//! until SIGTERM or SIGINT (exit 0); SIGHUP reloads. `shadowgate check -c FILE` validates and
//! prints the effective config; `shadowgate demo` runs the demo.
//!
//! The demo (`demo/`) and the tracing set-up (`log.rs`) are modules of this binary, not of the
//! engine library: they use only the library's public API, and `anyhow` stays out of it.

mod demo;
mod log;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::Parser;
use shadowgate_proxy::cli::{Cli, Command, Options};
use shadowgate_proxy::config::ConfigError;
use shadowgate_proxy::{App, AppError, Reloader, Settings, Signals};

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
    match &cli.command {
        Some(Command::Demo) => return demo(),
        Some(Command::Check(options)) => return check(options),
        None => {}
    }
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(errors) => return usage(&errors),
    };
    if let Err(e) = log::init(settings.log_format) {
        eprintln!("warning: logging is not set up: {e}");
    }
    exit(run(cli, settings))
}

/// Prints every problem and returns the usage exit code.
fn usage(errors: &[ConfigError]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!("\nFor more information, try '--help'.");
    ExitCode::from(EXIT_USAGE)
}

/// `shadowgate check -c FILE`: the effective config on stdout (exit 0), or every problem (64).
fn check(options: &Options) -> ExitCode {
    if options.config.is_none() {
        return usage(&[ConfigError::new(
            "check",
            "needs the config file to check: shadowgate check -c FILE",
        )]);
    }
    let settings = match options.settings() {
        Ok(settings) => settings,
        Err(errors) => return usage(&errors),
    };
    match shadowgate_proxy::config::to_toml(&settings) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot print the effective config: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let signals = Signals::install().context("cannot install the signal handlers")?;
        let app = App::build(settings).await?;
        let reloader = app.reloader();
        app.run(signals.shutdown(move || reload(&cli, &reloader)))
            .await?;
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    result
}

/// SIGHUP: the flags and the config file again, validated as at start-up, then applied; any
/// problem is logged and the running config keeps serving.
fn reload(cli: &Cli, reloader: &Reloader) {
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(errors) => {
            for e in &errors {
                tracing::error!("reload refused: {e}");
            }
            tracing::error!(
                problems = errors.len(),
                "the new config is invalid; the running one keeps serving"
            );
            return;
        }
    };
    match reloader.reload(&settings) {
        Ok(report) => {
            tracing::info!(
                added = ?report.added,
                replaced = ?report.replaced,
                removed = ?report.removed,
                "config reloaded"
            );
            if !report.need_restart.is_empty() {
                tracing::warn!(
                    settings = ?report.need_restart,
                    "these settings changed but take effect only after a restart"
                );
            }
        }
        Err(e) => tracing::error!("reload refused: {e}; the running config keeps serving"),
    }
}

fn demo() -> ExitCode {
    // The demo prints its own report and sets up no logging.
    exit(runtime().and_then(|rt| rt.block_on(demo::run())))
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

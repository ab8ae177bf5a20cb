//! The command line (the flags in README.md): clap reads every flag as text, then
//! [`Options::settings`] reads the config file (`-c`), lays the flags over it and checks
//! everything, reporting every problem at once: `--flag: message` for a flag, `key.path: message`
//! for the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::raw::{RawBackend, RawConfig, RawUpstream};
use crate::config::{self, ConfigError};
use crate::settings::{BackendUrl, LogFormat, Settings, DEFAULT_UPSTREAM_NAME};

/// shadowgate: a reverse proxy that returns the primary's answer untouched and tees copies of
/// sampled requests to shadow targets.
#[derive(Debug, Clone, Parser)]
#[command(name = "shadowgate", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// The config file and the flags that override it.
    #[command(flatten)]
    pub options: Options,
    /// What to run instead of the proxy.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The config file and the flags that override it (the proxy's and `check`'s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct Options {
    /// TOML config file; the flags below override it
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Proxy listener address [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Primary upstream URL (http://HOST:PORT); repeat for a round-robin pool. With -c, replaces
    /// the backends of the file's only upstream
    #[arg(long = "upstream", value_name = "URL")]
    pub upstreams: Vec<String>,
    /// Shadow target URL (copies of all traffic, with the [mirror_defaults] settings); repeatable
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
    /// Share of requests mirrored to each --mirror target, 0..=1 [default: 1]
    #[arg(long, value_name = "RATIO")]
    pub sample: Option<String>,
    /// Compare the --mirror targets' answers with the primary's, with [mirror_defaults.compare]
    /// or else the comparison defaults
    #[arg(long)]
    pub compare: bool,
    /// Admin API listener address, or "off" [default: 127.0.0.1:9901]
    #[arg(long, value_name = "ADDR|off")]
    pub admin: Option<String>,
    /// htpasswd-style users for the admin API (lines user:password)
    #[arg(long = "admin-auth", value_name = "FILE")]
    pub admin_auth: Option<PathBuf>,
    /// Log format: text or json [default: text]
    #[arg(long = "log-format", value_name = "text|json")]
    pub log_format: Option<String>,
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Validate the config (-c FILE, plus any override flags), print the effective config with
    /// secrets redacted, exit 0; or print every problem and exit 64
    Check(Options),
    /// Self-contained demo on loopback: a primary, a canary, the proxy and a traffic generator
    Demo,
}

impl Cli {
    /// The settings of the proxy's own flags and config file: [`Options::settings`]. It reads
    /// the file again on every call (a reload calls it again).
    pub fn settings(&self) -> Result<Settings, Vec<ConfigError>> {
        self.options.settings()
    }

    /// The log format asked for, or text when the flag is absent or bad.
    pub fn log_format(&self) -> LogFormat {
        (self.options.log_format.as_deref())
            .and_then(LogFormat::parse)
            .unwrap_or_default()
    }
}

/// The flags, checked; `None` where a flag is absent or bad.
#[derive(Debug, Default)]
struct Flags {
    listen: Option<SocketAddr>,
    upstreams: Vec<BackendUrl>,
    sample: Option<f64>,
    admin: Option<Option<SocketAddr>>,
    log_format: Option<LogFormat>,
}

impl Options {
    /// The settings the config file (if any) and the flags describe, or every problem with them.
    /// Reads the file on every call, so a reload (SIGHUP) calls it again.
    pub fn settings(&self) -> Result<Settings, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let flags = self.flags(&mut errors);
        let mut settings = match &self.config {
            None => {
                if self.upstreams.is_empty() {
                    fail(&mut errors, "--upstream", "at least one upstream URL is required (for example --upstream http://127.0.0.1:3000), or a config file with -c FILE".to_owned());
                }
                Settings::new(flags.upstreams)
            }
            Some(path) => match config::read(path) {
                Err(e) => {
                    let template = shadowgate::TargetConfig::builder("");
                    self.mirror_flags(&template, flags.sample, &mut errors);
                    errors.push(e);
                    return Err(errors);
                }
                Ok(mut raw) => {
                    let replaced = self.override_upstreams(&mut raw, &flags.upstreams, &mut errors);
                    match config::validate(&raw, config::base_dir(path)) {
                        Ok(settings) => settings,
                        Err(file_errors) => {
                            // The --mirror URLs are still checked, so all is reported at once.
                            let template = shadowgate::TargetConfig::builder("");
                            self.mirror_flags(&template, flags.sample, &mut errors);
                            // A bad --upstream is reported once, as a flag; not again as a
                            // file with no upstream.
                            errors.extend(
                                file_errors
                                    .into_iter()
                                    .filter(|e| !(replaced && e.key == "upstreams")),
                            );
                            return Err(errors);
                        }
                    }
                }
            },
        };
        if let Some(listen) = flags.listen {
            settings.listen = listen;
        }
        if let Some(admin) = flags.admin {
            settings.admin = admin;
        }
        if let Some(file) = &self.admin_auth {
            settings.admin_auth = Some(file.clone());
        }
        if let Some(format) = flags.log_format {
            settings.log_format = format;
        }
        if flags.listen.is_some() || flags.admin.is_some() {
            // The file's targets were checked against the file's listeners; the flags moved them.
            for (key, message) in config::self_target_errors(&settings) {
                errors.push(ConfigError::new(key, message));
            }
        }
        let mirrors = self.mirror_flags(&settings.mirror_defaults, flags.sample, &mut errors);
        let listeners = settings.listeners();
        for t in &mirrors {
            if let Some(at) = crate::settings::self_target(t.url(), &listeners) {
                fail(
                    &mut errors,
                    "--mirror",
                    crate::settings::self_target_message(t.url(), at),
                );
            }
        }
        settings.mirrors.extend(mirrors);
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    /// The `--mirror` targets: unrouted, named by URL, built from `template` with `--sample`,
    /// and with `--compare`, compared (as `template` says, or with the defaults).
    fn mirror_flags(
        &self,
        template: &shadowgate::TargetBuilder,
        sample: Option<f64>,
        errors: &mut Vec<ConfigError>,
    ) -> Vec<shadowgate::TargetConfig> {
        let mut template = template.clone();
        if self.compare && !compares(&template) {
            template = template.compare(shadowgate::CompareConfig::new());
        }
        let mut out = Vec::with_capacity(self.mirrors.len());
        for url in &self.mirrors {
            let mut target = template.clone().url(url.clone());
            if let Some(sample) = sample {
                target = target.sample(sample);
            }
            match target.build() {
                Ok(target) => out.push(target),
                Err(e) => {
                    for p in e.problems {
                        let message = match p.field {
                            shadowgate::Field::Url => p.error.to_string(),
                            _ => format!("{url:?}: {p}"),
                        };
                        fail(errors, "--mirror", message);
                    }
                }
            }
        }
        // Flag targets are named by their URL, so a URL given twice is a repeated name.
        if let Some(url) = shadowgate::duplicate_name(out.iter().map(|t| t.name())) {
            fail(
                errors,
                "--mirror",
                format!("{url:?} is given more than once"),
            );
        }
        out
    }

    /// `--upstream` URLs over the file: they replace the backends of its only upstream, or form
    /// the `default` upstream when it has none. Returns whether the flags were meant to supply the
    /// upstream (so that the file's "no upstream" is not reported as well).
    fn override_upstreams(
        &self,
        raw: &mut RawConfig,
        valid: &[BackendUrl],
        errors: &mut Vec<ConfigError>,
    ) -> bool {
        if self.upstreams.is_empty() {
            return false;
        }
        let backends: Vec<RawBackend> = valid
            .iter()
            .map(|u| RawBackend::Url(u.to_string()))
            .collect();
        match raw.upstreams.len() {
            0 if backends.is_empty() => {}
            0 => {
                raw.upstreams.insert(
                    DEFAULT_UPSTREAM_NAME.to_owned(),
                    RawUpstream {
                        backends,
                        ..RawUpstream::default()
                    },
                );
            }
            1 => {
                if let Some(only) = raw.upstreams.values_mut().next() {
                    if !backends.is_empty() {
                        only.backends = backends;
                    }
                }
            }
            _ => {
                let names: Vec<&str> = raw.upstreams.keys().map(String::as_str).collect();
                fail(
                    errors,
                    "--upstream",
                    format!(
                        "the config file has {} upstreams ({}); --upstream replaces the backends of a single one, so set them in the file instead",
                        names.len(),
                        names.join(", ")
                    ),
                );
            }
        }
        true
    }

    /// Checks each flag's value on its own.
    fn flags(&self, errors: &mut Vec<ConfigError>) -> Flags {
        let mut flags = Flags::default();
        if let Some(s) = &self.listen {
            match config::address(s) {
                Ok(addr) => flags.listen = Some(addr),
                Err(e) => fail(errors, "--listen", e),
            }
        }
        for s in &self.upstreams {
            match BackendUrl::parse(s) {
                Ok(url) => flags.upstreams.push(url),
                Err(e) => fail(errors, "--upstream", e.to_string()),
            }
        }
        if let Some(s) = &self.sample {
            match shadowgate::SampleRatio::parse(s.trim()) {
                Ok(r) => flags.sample = Some(r.get()),
                Err(e) => fail(errors, "--sample", e.to_string()),
            }
        }
        if self.compare && self.mirrors.is_empty() {
            fail(
                errors,
                "--compare",
                "compares the --mirror targets, and there is none (give --mirror URL; a \
                 [mirrors.NAME] target is compared by its own compare table)"
                    .to_owned(),
            );
        }
        if let Some(s) = &self.admin {
            match config::admin_address(s) {
                Ok(addr) => flags.admin = Some(addr),
                Err(e) => fail(errors, "--admin", e),
            }
        }
        if let Some(s) = &self.log_format {
            flags.log_format = LogFormat::parse(s);
            if flags.log_format.is_none() {
                fail(errors, "--log-format", format!("{s:?} is not text or json"));
            }
        }
        flags
    }
}

/// Whether targets built from `template` are compared.
fn compares(template: &shadowgate::TargetBuilder) -> bool {
    (template.clone().url(config::PLACEHOLDER_URL).build()).is_ok_and(|t| t.compare().is_some())
}

fn fail(errors: &mut Vec<ConfigError>, flag: &str, message: String) {
    errors.push(ConfigError::new(flag, message));
}

#[cfg(test)]
mod tests;

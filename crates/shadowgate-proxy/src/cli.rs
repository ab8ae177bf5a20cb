//! The command line (DESIGN §2): clap reads every flag as text, then [`Cli::settings`] checks
//! them all and reports every problem at once, each naming its flag and value.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::{LogFormat, Settings, DEFAULT_ADMIN, DEFAULT_LISTEN};
use crate::upstream::check_backend_url;

/// shadowgate: a reverse proxy that returns the primary's answer untouched and tees copies of
/// sampled requests to shadow targets.
#[derive(Debug, Parser)]
#[command(name = "shadowgate", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Proxy listener address [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Primary upstream URL (http://HOST:PORT); repeat for a round-robin pool
    #[arg(long = "upstream", value_name = "URL")]
    pub upstreams: Vec<String>,
    /// Shadow target URL; repeatable
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
    /// Share of requests mirrored to each --mirror target, 0..=1 [default: 1]
    #[arg(long, value_name = "RATIO")]
    pub sample: Option<String>,
    /// Admin API listener address, or "off" [default: 127.0.0.1:9901]
    #[arg(long, value_name = "ADDR|off")]
    pub admin: Option<String>,
    /// htpasswd-style users for the admin API: user:password lines, plain or bcrypt
    #[arg(long = "admin-auth", value_name = "FILE")]
    pub admin_auth: Option<PathBuf>,
    /// Log format: text or json [default: text]
    #[arg(long = "log-format", value_name = "text|json")]
    pub log_format: Option<String>,
    /// What to run instead of the proxy.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Self-contained demo on loopback: a primary, a canary, the proxy and a traffic generator
    Demo,
}

/// One bad flag: the flag and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    /// The flag, with its dashes (`--sample`).
    pub flag: &'static str,
    /// What is wrong, naming the value.
    pub message: String,
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.flag, self.message)
    }
}

impl std::error::Error for FlagError {}

impl Cli {
    /// The settings the flags describe, or every problem with them.
    pub fn settings(&self) -> Result<Settings, Vec<FlagError>> {
        let mut errors = Vec::new();
        let mut fail = |flag, message: String| errors.push(FlagError { flag, message });

        let listen = match &self.listen {
            None => Some(DEFAULT_LISTEN),
            Some(s) => parse_addr(s).or_else(|| {
                fail(
                    "--listen",
                    format!(
                        "{s:?} is not an address (expected IP:PORT, for example 127.0.0.1:8080)"
                    ),
                );
                None
            }),
        };

        let mut upstreams = Vec::with_capacity(self.upstreams.len());
        if self.upstreams.is_empty() {
            fail("--upstream", "at least one upstream URL is required (for example --upstream http://127.0.0.1:3000)".to_owned());
        }
        for s in &self.upstreams {
            match s.parse::<http::Uri>() {
                Err(_) => fail("--upstream", format!("{s:?} is not a URL")),
                Ok(uri) => match check_backend_url(&uri) {
                    Ok(()) => upstreams.push(uri),
                    Err(reason) => fail("--upstream", format!("{s:?} {reason}")),
                },
            }
        }

        let sample = match &self.sample {
            None => Some(1.0),
            Some(s) => match s.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Some(r),
                Ok(_) => {
                    fail("--sample", format!("{s} is outside 0..=1"));
                    None
                }
                Err(_) => {
                    fail(
                        "--sample",
                        format!("{s:?} is not a number (expected a ratio in 0..=1)"),
                    );
                    None
                }
            },
        };

        let mut mirrors = Vec::with_capacity(self.mirrors.len());
        let mut seen = HashSet::new();
        for url in &self.mirrors {
            if !seen.insert(url.as_str()) {
                fail("--mirror", format!("{url:?} is given more than once"));
                continue;
            }
            // A bad --sample is reported once, above; the URL is still checked.
            match shadowgate::TargetConfig::builder(url.clone())
                .sample(sample.unwrap_or(1.0))
                .build()
            {
                Ok(target) => mirrors.push(target),
                Err(e) => fail("--mirror", e.to_string()),
            }
        }

        let admin = match self.admin.as_deref() {
            None => Some(Some(DEFAULT_ADMIN)),
            Some("off") => Some(None),
            Some(s) => match parse_addr(s) {
                Some(addr) => Some(Some(addr)),
                None => {
                    fail(
                        "--admin",
                        format!("{s:?} is not an address (IP:PORT) or \"off\""),
                    );
                    None
                }
            },
        };

        let log_format = match self.log_format.as_deref() {
            None | Some("text") => Some(LogFormat::Text),
            Some("json") => Some(LogFormat::Json),
            Some(s) => {
                fail("--log-format", format!("{s:?} is not text or json"));
                None
            }
        };

        match (listen, admin, log_format, sample) {
            (Some(listen), Some(admin), Some(log_format), Some(_)) if errors.is_empty() => {
                let mut settings = Settings::new(upstreams);
                settings.listen = listen;
                settings.admin = admin;
                // Read and checked by `App::build` (a bad file exits 64, naming the line).
                settings.admin_auth = self.admin_auth.clone();
                settings.mirrors = mirrors;
                settings.log_format = log_format;
                Ok(settings)
            }
            _ => Err(errors),
        }
    }

    /// The log format asked for, or text when the flag is absent or bad.
    pub fn log_format(&self) -> LogFormat {
        match self.log_format.as_deref() {
            Some("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

fn parse_addr(s: &str) -> Option<SocketAddr> {
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("shadowgate").chain(args.iter().copied())).unwrap()
    }

    fn errors(args: &[&str]) -> Vec<String> {
        parse(args)
            .settings()
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn defaults_with_one_upstream() {
        let s = parse(&["--upstream", "http://127.0.0.1:3000"])
            .settings()
            .unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN);
        assert_eq!(s.admin, Some(DEFAULT_ADMIN));
        assert_eq!(s.upstreams.len(), 1);
        assert!(s.mirrors.is_empty());
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn mirrors_are_named_by_url_and_sampled() {
        let s = parse(&[
            "--upstream",
            "http://a:1",
            "--upstream",
            "http://b:2",
            "--mirror",
            "http://m:3",
            "--sample",
            "0.25",
            "--admin",
            "off",
            "--log-format",
            "json",
        ])
        .settings()
        .unwrap();
        assert_eq!(
            s.upstreams[0].backends.len(),
            2,
            "one pool of both upstreams"
        );
        assert_eq!(s.mirrors[0].name(), "http://m:3");
        assert_eq!(s.mirrors[0].sample(), 0.25);
        assert_eq!(s.admin, None);
        assert_eq!(s.log_format, LogFormat::Json);
    }

    #[test]
    fn every_problem_is_reported_with_its_flag_and_value() {
        let e = errors(&[
            "--listen",
            "nope",
            "--upstream",
            "ftp://x",
            "--sample",
            "1.5",
            "--admin",
            "x",
            "--log-format",
            "xml",
            "--mirror",
            "notaurl",
        ]);
        let all = e.join("\n");
        for want in [
            "--listen: \"nope\" is not an address",
            "--upstream: \"ftp://x\" is not an http:// URL",
            "--sample: 1.5 is outside 0..=1",
            "--admin: \"x\" is not an address",
            "--log-format: \"xml\" is not text or json",
            "--mirror: invalid target URL \"notaurl\"",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
        assert_eq!(e.len(), 6, "{all}");
    }

    #[test]
    fn missing_upstream_and_duplicate_mirror() {
        let e = errors(&["--mirror", "http://m:1", "--mirror", "http://m:1"]).join("\n");
        assert!(
            e.contains("--upstream: at least one upstream URL is required"),
            "{e}"
        );
        assert!(
            e.contains("--mirror: \"http://m:1\" is given more than once"),
            "{e}"
        );
    }

    #[test]
    fn sample_that_is_not_a_number() {
        let e = errors(&["--upstream", "http://a:1", "--sample", "lots"]).join("\n");
        assert!(e.contains("--sample: \"lots\" is not a number"), "{e}");
    }

    #[test]
    fn demo_subcommand_parses_alone() {
        assert_eq!(parse(&["demo"]).command, Some(Command::Demo));
        assert!(Cli::try_parse_from(["shadowgate", "--upstream", "http://a:1", "demo"]).is_err());
    }
}

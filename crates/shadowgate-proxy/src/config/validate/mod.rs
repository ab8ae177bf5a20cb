//! Raw file → [`crate::Settings`]: every key checked, every default filled in, and **all**
//! problems collected, each with its key path and the bad value.

mod check;
mod mirror;
mod route;
mod upstream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use check::Errors;

use super::raw::{RawConfig, RawLimits, RawTls};
use super::ConfigError;
use crate::settings::{
    Limits, Settings, TlsSettings, DEFAULT_ADMIN, DEFAULT_LISTEN, DEFAULT_MAX_RUNTIME_TARGETS,
    MAX_MAX_HEADER_BYTES, MAX_MAX_RUNTIME_TARGETS, MAX_MIRROR_MEMORY_BYTES, MIN_MAX_HEADER_BYTES,
    MIN_MIRROR_MEMORY_BYTES,
};
use crate::tls::TlsError;

pub(crate) use mirror::PLACEHOLDER_URL;

/// Checks the whole file and builds the settings, or returns every problem found. Relative file
/// paths are resolved against `base_dir` (the config file's directory).
pub fn validate(raw: &RawConfig, base_dir: &Path) -> Result<Settings, Vec<ConfigError>> {
    let mut errs = Errors::default();
    let mut settings = Settings::new(Vec::new());

    if let Some(s) = &raw.listen {
        settings.listen = match address(s) {
            Ok(addr) => addr,
            Err(e) => {
                errs.push("listen", e);
                DEFAULT_LISTEN
            }
        };
    }
    if let Some(tls) = &raw.tls {
        settings.tls = tls_settings(&mut errs, tls, base_dir);
    }
    if let Some(admin) = &raw.admin {
        settings.admin = match admin.listen.as_deref().map(admin_address) {
            None => Some(DEFAULT_ADMIN),
            Some(Ok(addr)) => addr,
            Some(Err(e)) => {
                errs.push("admin.listen", e);
                Some(DEFAULT_ADMIN)
            }
        };
        settings.admin_auth = admin.auth_file.as_deref().map(|f| resolve(base_dir, f));
        settings.state_file = admin.state_file.as_deref().map(|f| resolve(base_dir, f));
        for (key, file) in [
            ("admin.auth_file", &admin.auth_file),
            ("admin.state_file", &admin.state_file),
        ] {
            if file.as_deref() == Some("") {
                errs.push(key, "\"\" is not a file name (leave the key out instead)");
            }
        }
        for (i, host) in admin.allowed_hosts.iter().flatten().enumerate() {
            match crate::admin::check_allowed_host(host) {
                Ok(()) => settings.admin_allowed_hosts.push(host.clone()),
                Err(e) => errs.push(format!("admin.allowed_hosts[{i}]"), e),
            }
        }
        settings.max_runtime_targets = max_runtime_targets(&mut errs, admin.max_runtime_targets);
    }
    if let Some(limits) = &raw.limits {
        settings.limits = limits_settings(&mut errs, limits);
    }

    settings.upstreams = upstream::upstreams(&mut errs, &raw.upstreams);
    let (defaults, remove_after, compare) =
        mirror::defaults(&mut errs, raw.mirror_defaults.as_ref(), &raw.mirrors);
    settings.mirrors = mirror::mirrors(&mut errs, &raw.mirrors, &defaults);
    check_self_targets(&mut errs, &settings);
    // `[mirror_defaults.compare]` is for `--mirror` and runtime targets, not `[mirrors.NAME]`.
    settings.mirror_defaults = match compare {
        Some(c) => defaults.compare(c),
        None => defaults,
    };
    settings.trust_mirror_marks = raw
        .mirror_defaults
        .as_ref()
        .and_then(|d| d.trust_mirror_marks)
        .unwrap_or(false);
    settings.remove_after = remove_after;
    settings.routes = route::routes(&mut errs, raw, &settings.upstreams);

    errs.finish(settings)
}

/// No `[mirrors.NAME]` target points at one of the proxy's own listeners (a loop).
fn check_self_targets(errs: &mut Errors, settings: &Settings) {
    for (key, message) in self_target_errors(settings) {
        errs.push(key, message);
    }
}

/// `(key, message)` for every `[mirrors.NAME]` target of `settings` that points at one of its
/// listeners (`crate::settings::self_target`); also run by the flags, over the final listeners.
pub(crate) fn self_target_errors(settings: &Settings) -> Vec<(String, String)> {
    let listeners = settings.listeners();
    settings
        .mirrors
        .iter()
        .filter_map(|t| {
            let at = crate::settings::self_target(t.url(), &listeners)?;
            Some((
                format!("mirrors.{}.url", check::key_name(t.name())),
                crate::settings::self_target_message(t.url(), at),
            ))
        })
        .collect()
}

/// `admin.max_runtime_targets`: `0..=MAX_MAX_RUNTIME_TARGETS` (0: the admin API adds none).
fn max_runtime_targets(errs: &mut Errors, value: Option<i64>) -> usize {
    errs.count(
        "admin.max_runtime_targets",
        value,
        DEFAULT_MAX_RUNTIME_TARGETS,
        (0, MAX_MAX_RUNTIME_TARGETS),
    )
}

/// A listener address (`IP:PORT`, surrounding spaces ignored): `listen` and `--listen`.
pub(crate) fn address(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        format!("{s:?} is not an address (expected IP:PORT, for example 127.0.0.1:8080)")
    })
}

/// The admin listener: an address, or `off` (`None`): `admin.listen` and `--admin`.
pub(crate) fn admin_address(s: &str) -> Result<Option<SocketAddr>, String> {
    match s {
        "off" => Ok(None),
        s => address(s).map(Some).map_err(|e| format!("{e} or \"off\"")),
    }
}

/// `file` relative to the config file's directory, made absolute so that the printed config
/// means the same from any working directory.
fn resolve(base_dir: &Path, file: &str) -> PathBuf {
    let joined = base_dir.join(file);
    std::path::absolute(&joined).unwrap_or(joined)
}

fn tls_settings(errs: &mut Errors, tls: &RawTls, base_dir: &Path) -> Option<TlsSettings> {
    let cert = errs.required("tls.cert", tls.cert.as_deref());
    let key = errs.required("tls.key", tls.key.as_deref());
    let (cert, key) = (resolve(base_dir, cert?), resolve(base_dir, key?));
    match crate::tls::load_server_config(&cert, &key) {
        Ok(server_config) => Some(TlsSettings {
            cert,
            key,
            server_config,
        }),
        Err(e) => {
            let at = match &e {
                TlsError::Read { path, .. } | TlsError::Pem { path, .. } if *path == key => {
                    "tls.key"
                }
                // A certificate error, or a key that does not fit the certificate.
                _ => "tls.cert",
            };
            errs.push(at, e.to_string());
            None
        }
    }
}

fn limits_settings(errs: &mut Errors, raw: &RawLimits) -> Limits {
    let d = Limits::default();
    Limits {
        header_read_timeout: errs.positive_duration(
            "limits.header_read_timeout",
            raw.header_read_timeout.as_deref(),
            d.header_read_timeout,
        ),
        idle_timeout: errs.positive_duration(
            "limits.idle_timeout",
            raw.idle_timeout.as_deref(),
            d.idle_timeout,
        ),
        max_header_bytes: errs.count(
            "limits.max_header_bytes",
            raw.max_header_bytes,
            d.max_header_bytes,
            (MIN_MAX_HEADER_BYTES, MAX_MAX_HEADER_BYTES),
        ),
        mirror_memory_bytes: errs.count(
            "limits.mirror_memory_bytes",
            raw.mirror_memory_bytes,
            d.mirror_memory_bytes,
            (MIN_MIRROR_MEMORY_BYTES, MAX_MIRROR_MEMORY_BYTES),
        ),
        shutdown_timeout: errs.positive_duration(
            "limits.shutdown_timeout",
            raw.shutdown_timeout.as_deref(),
            d.shutdown_timeout,
        ),
        send_timeout: errs.positive_duration(
            "limits.send_timeout",
            raw.send_timeout.as_deref(),
            d.send_timeout,
        ),
    }
}

//! The config file as written: serde structs that mirror the TOML of docs/configuration.md key for
//! key. Unknown keys are errors (`deny_unknown_fields`); every key is optional here, and
//! [`super::validate`] fills in the defaults and checks the values. Counts are `i64` (TOML's
//! integer) so that a negative value is reported by key path like any other bad value.
//!
//! The same structs, filled in from [`crate::Settings`], are what `shadowgate check` prints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `listen`: the proxy listener address.
    pub listen: Option<String>,
    /// `[tls]`.
    pub tls: Option<RawTls>,
    /// `[admin]`.
    pub admin: Option<RawAdmin>,
    /// `[limits]`.
    pub limits: Option<RawLimits>,
    /// `[upstreams.NAME]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, RawUpstream>,
    /// `[mirror_defaults]`: a mirrors table without `url`.
    pub mirror_defaults: Option<RawMirror>,
    /// `[mirrors.NAME]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mirrors: BTreeMap<String, RawMirror>,
    /// `[[routes]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RawRoute>,
}

/// `[tls]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain file.
    pub cert: Option<String>,
    /// PEM private key file.
    pub key: Option<String>,
}

/// `[admin]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Address, or `"off"`.
    pub listen: Option<String>,
    /// htpasswd-style users file.
    pub auth_file: Option<String>,
    /// Where runtime-added targets are kept.
    pub state_file: Option<String>,
    /// Host names (with or without `:PORT`) the admin API answers to besides its own address
    /// and `localhost`.
    pub allowed_hosts: Option<Vec<String>>,
    /// How many targets the admin API may add.
    pub max_runtime_targets: Option<i64>,
}

/// `[limits]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Duration.
    pub header_read_timeout: Option<String>,
    /// Duration.
    pub idle_timeout: Option<String>,
    /// Bytes.
    pub max_header_bytes: Option<i64>,
    /// Bytes.
    pub mirror_memory_bytes: Option<i64>,
    /// Duration.
    pub shutdown_timeout: Option<String>,
    /// Duration.
    pub send_timeout: Option<String>,
}

/// `[upstreams.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// URLs or `{ url, weight }` tables.
    #[serde(default)]
    pub backends: Vec<RawBackend>,
    /// A [`crate::Balance`] name.
    pub balance: Option<String>,
    /// Duration.
    pub connect_timeout: Option<String>,
    /// Duration.
    pub timeout: Option<String>,
    /// Per backend; 0 is unlimited.
    pub max_connections: Option<i64>,
    /// Accept any certificate from https backends.
    pub tls_skip_verify: Option<bool>,
    /// Duration a failed backend stays out without an active health check (an addition to §3).
    pub eject_for: Option<String>,
    /// `[upstreams.NAME.health_check]`.
    pub health_check: Option<RawHealthCheck>,
}

/// One backend: a URL, or a `{ url, weight }` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RawBackend {
    /// `"http://10.0.0.1:8080"`.
    Url(String),
    /// `{ url = "http://10.0.0.2:8080", weight = 3 }`.
    Weighted(RawWeighted),
}

/// `{ url, weight }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeighted {
    /// The URL.
    pub url: String,
    /// At least 1 (default 1).
    pub weight: Option<i64>,
}

/// `[upstreams.NAME.health_check]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    /// Path asked for.
    pub path: Option<String>,
    /// Duration.
    pub interval: Option<String>,
    /// Duration.
    pub timeout: Option<String>,
    /// Count.
    pub healthy_threshold: Option<i64>,
    /// Count.
    pub unhealthy_threshold: Option<i64>,
}

/// `[mirrors.NAME]`, and `[mirror_defaults]` (which has no `url`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMirror {
    /// Target URL (not allowed in `[mirror_defaults]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Ratio in 0..=1.
    pub sample: Option<f64>,
    /// `header:NAME` | `cookie:NAME` | `query:NAME` | `client_ip`.
    pub sample_by: Option<String>,
    /// Copies per second; 0 is unlimited.
    pub rate_limit: Option<i64>,
    /// Copies in flight.
    pub workers: Option<i64>,
    /// Copies waiting.
    pub queue: Option<i64>,
    /// Duration.
    pub timeout: Option<String>,
    /// Bytes.
    pub max_body_bytes: Option<i64>,
    /// Whether copies carry the body.
    pub body: Option<bool>,
    /// `original` | `target` | a literal host.
    pub host: Option<String>,
    /// `{ add = {..}, remove = [..] }`.
    pub headers: Option<RawMirrorHeaders>,
    /// Methods copied; empty is all.
    pub methods: Option<Vec<String>>,
    /// `[mirrors.NAME.circuit]`.
    pub circuit: Option<RawCircuit>,
    /// `[mirrors.NAME.compare]`: comparing the target's answers with the primary's. In
    /// `[mirror_defaults]`, it is for `--mirror` and runtime targets only, never the base of a
    /// `[mirrors.NAME]` table's.
    pub compare: Option<RawCompare>,
    /// Whether a client's `X-Mirror` and `X-Mirrored-From` reach the primary (only in
    /// `[mirror_defaults]`: a proxy-wide switch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_mirror_marks: Option<bool>,
}

/// `headers = { add = {..}, remove = [..] }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMirrorHeaders {
    /// Set on copies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Removed from copies.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `[mirrors.NAME.circuit]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCircuit {
    /// Count; 0 turns the breaker off.
    pub failures: Option<i64>,
    /// Duration.
    pub retry_after: Option<String>,
    /// Duration; only runtime-added targets are removed.
    pub remove_after: Option<String>,
}

/// `[mirrors.NAME.compare]` and `[mirror_defaults.compare]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompare {
    /// Ratio in 0..=1 of the target's copies that are compared.
    pub sample: Option<f64>,
    /// Methods compared; empty is all (default GET and HEAD).
    pub methods: Option<Vec<String>>,
    /// Bytes, per side.
    pub max_body_bytes: Option<i64>,
    /// A `[mirrors.NAME]` target running the primary's version.
    pub control: Option<String>,
    /// Pointer globs of fields not compared.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// How the arrays at a glob are compared.
    #[serde(default)]
    pub arrays: Vec<RawArrayRule>,
    /// Tolerances of the numbers at a glob.
    #[serde(default)]
    pub numbers: Vec<RawNumberRule>,
    /// Endpoint templates (`/api/users/{id}`).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Comparisons per second; 0 is unlimited.
    pub max_per_second: Option<i64>,
}

/// `arrays = [{ path, mode, key }]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawArrayRule {
    /// Pointer glob.
    pub path: Option<String>,
    /// `ordered` (default) | `set` | `keyed`.
    pub mode: Option<String>,
    /// A pointer inside each element (`keyed` only).
    pub key: Option<String>,
}

/// `numbers = [{ path, abs, rel }]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawNumberRule {
    /// Pointer glob.
    pub path: Option<String>,
    /// Absolute difference allowed.
    pub abs: Option<f64>,
    /// Difference allowed relative to the larger magnitude.
    pub rel: Option<f64>,
}

/// `[[routes]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// The `route` metric label (default `route0`, `route1`, … by position).
    pub name: Option<String>,
    /// Exact path.
    pub path: Option<String>,
    /// Path prefix.
    pub path_prefix: Option<String>,
    /// Path regex.
    pub path_regex: Option<String>,
    /// Host (`*.example.com` for subdomains).
    pub host: Option<String>,
    /// Methods matched; empty is all.
    pub methods: Option<Vec<String>>,
    /// Headers that must be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The upstream's name.
    pub upstream: Option<String>,
    /// `[mirrors.NAME]` names.
    pub mirrors: Option<Vec<String>>,
    /// Remove the matched prefix from the primary's path.
    pub strip_prefix: Option<bool>,
    /// Replace the matched part of the primary's path; `""` is no rewrite.
    pub rewrite: Option<String>,
    /// `{ to, status }`.
    pub redirect: Option<RawRedirect>,
}

/// `redirect = { to, status }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedirect {
    /// The `Location`.
    pub to: Option<String>,
    /// 301, 302, 303, 307 or 308.
    pub status: Option<i64>,
}

impl<'de> Deserialize<'de> for RawBackend {
    // By hand rather than `untagged`, so that a bad table says which key is wrong.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawBackend;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a backend URL or a { url, weight } table")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawBackend, E> {
                Ok(RawBackend::Url(v.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawBackend, A::Error> {
                RawWeighted::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawBackend::Weighted)
            }
        }

        d.deserialize_any(Visitor)
    }
}

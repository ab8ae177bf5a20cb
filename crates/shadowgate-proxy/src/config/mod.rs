//! The TOML config file (every key in docs/configuration.md), in two steps: [`raw`] mirrors the
//! file (unknown keys are errors), then [`validate()`] turns it into [`crate::Settings`],
//! collecting every problem with its key path and value (`mirrors.canary.sample: 1.5 is outside
//! 0..=1`). [`print`] writes settings back as a file `shadowgate -c` accepts, secrets redacted
//! (`shadowgate check`).

pub mod duration;
mod print;
pub mod raw;
mod validate;

use std::fmt;
use std::path::Path;

pub use print::{is_secret_header, to_toml, REDACTED};
pub use raw::RawConfig;
pub use validate::validate;
pub(crate) use validate::{address, admin_address, self_target_errors, PLACEHOLDER_URL};

use crate::Settings;

/// One problem with the configuration: where it is (a key path such as
/// `mirrors.canary.sample`, a flag such as `--listen`, or the file for a syntax error) and what
/// is wrong, naming the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key path, flag or file.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// A problem at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Reads and parses the file (no validation). A syntax error or an unknown key is reported with
/// its line, column and key, under the file's name.
pub fn read(path: &Path) -> Result<RawConfig, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&origin, format!("cannot read: {e}")))?;
    parse(&text, &origin)
}

/// Parses config text; `origin` names it in the error (usually the file's path).
pub fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::new(origin, e.to_string().trim_end()))
}

/// Reads, parses and validates the file. Relative paths in it (`tls.cert`, `tls.key`,
/// `admin.auth_file`, `admin.state_file`) are relative to the file's directory.
pub fn load(path: &Path) -> Result<Settings, Vec<ConfigError>> {
    let raw = read(path).map_err(|e| vec![e])?;
    validate(&raw, base_dir(path))
}

/// The directory relative paths in the file at `path` are resolved against.
pub fn base_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

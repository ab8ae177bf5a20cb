//! The state file: the runtime-added targets, as JSON, written atomically (a temporary file in the
//! same directory, fsync, rename, fsync of the directory) on every change and read at startup.
//! A file that cannot be read or parsed refuses startup and is never overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format version written in the file.
const VERSION: u32 = 1;

/// One runtime-added target as kept in the state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedTarget {
    pub(crate) url: String,
    #[serde(default)]
    pub(crate) persistent: bool,
    /// The sample asked for; absent follows `[mirror_defaults]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sample: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDocument {
    version: u32,
    targets: Vec<SavedTarget>,
}

/// Why the state file could not be loaded (startup is refused; the file is left as it is).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateFileError {
    /// The file exists but could not be read.
    #[error("state file {path:?} cannot be read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The file is not a state file this version understands; it is left untouched.
    #[error("state file {path:?} is corrupt (line {line}, column {column}): {reason}; it was left untouched: fix it or move it away")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the problem is (1-based; 0 when the problem is not at one place).
        line: usize,
        /// Where the problem is on the line.
        column: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The state file's path and its reading and writing.
#[derive(Debug, Clone)]
pub(crate) struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The saved targets; none when the file does not exist yet.
    pub(crate) fn load(&self) -> Result<Vec<SavedTarget>, StateFileError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateFileError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let corrupt = |line, column, reason| StateFileError::Corrupt {
            path: self.path.clone(),
            line,
            column,
            reason,
        };
        let doc: StateDocument = serde_json::from_str(&text)
            .map_err(|e| corrupt(e.line(), e.column(), e.to_string()))?;
        if doc.version != VERSION {
            return Err(corrupt(
                0,
                0,
                format!("version {} is not {VERSION}", doc.version),
            ));
        }
        Ok(doc.targets)
    }

    /// Replaces the file with these targets, atomically. Blocking: call it off the runtime.
    pub(crate) fn save(&self, targets: Vec<SavedTarget>) -> io::Result<()> {
        let doc = StateDocument {
            version: VERSION,
            targets,
        };
        let mut bytes = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
        bytes.push(b'\n');
        write_atomically(&self.path, &bytes)
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path` and syncs
/// the directory, so `path` holds either the old content or the new, never a mix.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{path:?} is not a file path")))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the write's.
        let _ = fs::remove_file(&tmp);
        return written;
    }
    File::open(&dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "shadowgate-state-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn saved_targets_load_back_and_no_temp_file_is_left() {
        let dir = temp_dir("roundtrip");
        let file = StateFile::new(dir.join("state.json"));
        assert!(file.load().unwrap().is_empty(), "a missing file is empty");
        let targets = vec![SavedTarget {
            url: "http://127.0.0.1:1".into(),
            persistent: true,
            sample: Some(0.5),
        }];
        file.save(targets.clone()).unwrap();
        assert_eq!(file.load().unwrap(), targets);
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_file_is_named_with_its_line() {
        let dir = temp_dir("corrupt");
        let path = dir.join("state.json");
        fs::write(&path, "{\"version\": 1,\n \"targets\": [oops]}").unwrap();
        let err = StateFile::new(path.clone()).load().unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("line 2"),
            "{err}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}

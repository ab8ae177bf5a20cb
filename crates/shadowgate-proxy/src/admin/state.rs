//! The state file: the runtime-added targets, as JSON, written atomically (a fresh temporary file
//! with an unpredictable name in the same directory, fsync, rename, fsync of the directory) on
//! every change and read at startup.
//! A file that cannot be read or parsed refuses startup and is never overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shadowgate::IgnoreRule;

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
    /// Run-time comparison ignore rules by target name (`PUT /compare/rules`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    compare_rules: BTreeMap<String, Vec<IgnoreRule>>,
}

/// What the state file holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Saved {
    pub(crate) targets: Vec<SavedTarget>,
    pub(crate) compare_rules: BTreeMap<String, Vec<IgnoreRule>>,
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
    /// A target the file holds cannot be added: its URL is not valid any more, or it points at
    /// one of the proxy's own listeners (a loop). The file is left untouched.
    #[error("state file {path:?}: target {url:?} cannot be added: {reason}; the file was left untouched: remove the target from it or move it away")]
    Target {
        /// The file.
        path: PathBuf,
        /// The target's URL as the file holds it.
        url: String,
        /// Why it cannot be added.
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

    /// What the file holds; nothing when it does not exist yet.
    pub(crate) fn load(&self) -> Result<Saved, StateFileError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Saved::default()),
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
        Ok(Saved {
            targets: doc.targets,
            compare_rules: doc.compare_rules,
        })
    }

    /// Replaces the file with `saved`, atomically. Blocking: call it off the runtime.
    pub(crate) fn save(&self, saved: Saved) -> io::Result<()> {
        let doc = StateDocument {
            version: VERSION,
            targets: saved.targets,
            compare_rules: saved.compare_rules,
        };
        let mut bytes = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
        bytes.push(b'\n');
        write_atomically(&self.path, &bytes)
    }
}

/// Writes `bytes` to a fresh temporary file beside `path`, syncs it, renames it over `path` and
/// syncs the directory, so `path` holds either the old content or the new, never a mix.
///
/// The temporary file has an unpredictable name and is created new (`O_EXCL`, mode 0600): a
/// file or symlink planted beside the state file is never written through.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{path:?} is not a file path")))?;
    let (tmp, mut file) = create_temporary(&dir, name, &mut || fastrand::u64(..))?;
    let written = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the write's. The name is ours (created new).
        let _ = fs::remove_file(&tmp);
        return written;
    }
    File::open(&dir)?.sync_all()
}

/// How many fresh names are tried before giving up (a clash of 64 random bits is not expected
/// even once; several mean something is wrong).
const TEMPORARY_TRIES: usize = 8;

/// Creates `.NAME.tmp.RANDOM` in `dir`, new (never an existing file or a symlink), owner-only;
/// `random` draws each try's RANDOM.
fn create_temporary(
    dir: &Path,
    name: &std::ffi::OsStr,
    random: &mut dyn FnMut() -> u64,
) -> io::Result<(PathBuf, File)> {
    let mut last = None;
    for _ in 0..TEMPORARY_TRIES {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp.{:016x}", random()));
        let tmp = dir.join(tmp_name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temporary file name was free")))
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
        assert_eq!(
            file.load().unwrap(),
            Saved::default(),
            "a missing file is empty"
        );
        let saved = Saved {
            targets: vec![SavedTarget {
                url: "http://127.0.0.1:1".into(),
                persistent: true,
                sample: Some(0.5),
            }],
            compare_rules: BTreeMap::from([(
                "canary".to_owned(),
                vec![IgnoreRule {
                    ignore: "/body/at".into(),
                    endpoint: Some("/api/{}".into()),
                }],
            )]),
        };
        file.save(saved.clone()).unwrap();
        assert_eq!(file.load().unwrap(), saved);
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_never_followed_and_the_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("symlink");
        let victim = dir.join("victim");
        fs::write(&victim, "precious").unwrap();
        // The name the temporary file used to have, and a few random-looking ones.
        let planted = [
            format!(".state.json.tmp.{}", std::process::id()),
            ".state.json.tmp".to_owned(),
            ".state.json.tmp.0000000000000000".to_owned(),
        ];
        for name in &planted {
            std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
        }
        let file = StateFile::new(dir.join("state.json"));
        let targets = Saved {
            targets: vec![SavedTarget {
                url: "http://127.0.0.1:1".into(),
                persistent: false,
                sample: None,
            }],
            compare_rules: BTreeMap::new(),
        };
        file.save(targets.clone()).unwrap();
        file.save(targets.clone()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(file.load().unwrap(), targets);
        let mode = fs::metadata(dir.join("state.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        for name in &planted {
            assert!(fs::symlink_metadata(dir.join(name)).unwrap().is_symlink());
        }
        fs::remove_dir_all(dir).unwrap();
    }

    /// A symlink planted at the very name drawn for the temporary file is not written through:
    /// the file is created new (`O_EXCL`), so that name is refused and the next one is drawn.
    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_drawn_name_is_refused_and_another_name_is_drawn() {
        let dir = temp_dir("drawn");
        let victim = dir.join("victim");
        fs::write(&victim, "precious").unwrap();
        let planted = dir.join(format!(".state.json.tmp.{:016x}", 7));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let mut draws = [7u64, 8].into_iter();
        let (tmp, mut file) = create_temporary(&dir, "state.json".as_ref(), &mut || {
            draws.next().unwrap_or(9)
        })
        .unwrap();
        file.write_all(b"new").unwrap();
        assert_eq!(tmp, dir.join(format!(".state.json.tmp.{:016x}", 8)));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(fs::symlink_metadata(&planted).unwrap().is_symlink());
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

//! HTTP Basic auth for the admin API: the users file (`user:password` lines, the password plain
//! or a bcrypt hash `$2a$`/`$2b$`/`$2y$`; blank lines and `#` comments ignored) and the check of a
//! request's `Authorization` header, in constant time.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use http::HeaderValue;
use subtle::ConstantTimeEq;

/// The `WWW-Authenticate` value of a 401.
pub(crate) const CHALLENGE: &str = "Basic realm=\"shadowgate\"";

/// Why the users file was refused (startup is refused).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFileError {
    /// The file could not be read.
    #[error("admin auth file {path:?} cannot be read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `user:password`, or its bcrypt hash is malformed.
    #[error("admin auth file {path:?} line {line}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong (never the password itself).
        reason: String,
    },
    /// The file has no user at all, so nobody could log in.
    #[error("admin auth file {path:?} has no users (want user:password lines)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

#[derive(Clone)]
enum Secret {
    Plain(Vec<u8>),
    Bcrypt(String),
}

/// The admin users, loaded from the users file.
#[derive(Clone)]
pub(crate) struct Users {
    users: Vec<(Vec<u8>, Secret)>,
    /// bcrypt verifications run (shared by clones): what a check cost, for the tests.
    verifies: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("count", &self.users.len())
            .finish_non_exhaustive()
    }
}

/// Why a request was refused; the label of `shadowgate_admin_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `Authorization` header.
    Missing,
    /// Not `Basic` with base64 of `user:password`.
    Malformed,
    /// No such user.
    UnknownUser,
    /// The password does not match.
    WrongPassword,
}

impl Refusal {
    pub(crate) const ALL: [Refusal; 4] = [
        Refusal::Missing,
        Refusal::Malformed,
        Refusal::UnknownUser,
        Refusal::WrongPassword,
    ];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::UnknownUser => "unknown_user",
            Refusal::WrongPassword => "wrong_password",
        }
    }
}

/// The outcome of a check: the user name (for the log) and whether it passed.
pub(crate) type Checked = Result<String, (Refusal, Option<String>)>;

impl Users {
    /// Reads and checks the users file; errors name the file and the line.
    pub(crate) fn load(path: &Path) -> Result<Users, AuthFileError> {
        let text = fs::read_to_string(path).map_err(|source| AuthFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|(line, reason)| match line {
            0 => AuthFileError::Empty {
                path: path.to_path_buf(),
            },
            line => AuthFileError::Malformed {
                path: path.to_path_buf(),
                line,
                reason,
            },
        })
    }

    /// Parses the file's text; an error is `(line, reason)`, line 0 meaning no users.
    fn parse(text: &str) -> Result<Users, (usize, String)> {
        let mut users: Vec<(Vec<u8>, Secret)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let entry = raw.trim_end_matches(['\r', '\n']);
            let trimmed = entry.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            // Only line ends are trimmed: spaces may be part of a password.
            let Some((user, password)) = entry.split_once(':') else {
                return Err((line, "not user:password (no ':')".into()));
            };
            if user.is_empty() {
                return Err((line, "the user name is empty".into()));
            }
            if password.is_empty() {
                return Err((line, format!("user {user:?} has an empty password")));
            }
            if users.iter().any(|(u, _)| u.as_slice() == user.as_bytes()) {
                return Err((line, format!("user {user:?} is listed twice")));
            }
            let secret = if is_bcrypt_prefix(password) {
                check_bcrypt(password).map_err(|reason| {
                    (
                        line,
                        format!("user {user:?}: malformed bcrypt hash: {reason}"),
                    )
                })?;
                Secret::Bcrypt(password.to_owned())
            } else {
                Secret::Plain(password.as_bytes().to_vec())
            };
            users.push((user.as_bytes().to_vec(), secret));
        }
        if users.is_empty() {
            return Err((0, String::new()));
        }
        Ok(Users {
            users,
            verifies: Default::default(),
        })
    }

    /// Checks an `Authorization` header. Blocking for bcrypt users (tens of milliseconds): call it
    /// off the runtime's workers.
    pub(crate) fn check(&self, header: Option<&HeaderValue>) -> Checked {
        let Some(header) = header else {
            return Err((Refusal::Missing, None));
        };
        let Some((user, password)) = decode_basic(header) else {
            return Err((Refusal::Malformed, None));
        };
        let user_name = String::from_utf8_lossy(&user).into_owned();
        // Every entry is compared, so the time does not say where (or whether) the user is.
        let mut found: Option<&Secret> = None;
        for (name, secret) in &self.users {
            if bool::from(name.as_slice().ct_eq(&user)) {
                found = Some(secret);
            }
        }
        // Every check of a file with bcrypt hashes runs exactly one bcrypt verify, whoever the
        // user (bcrypt, plain or unknown), so the time says nothing of the user or the password;
        // without hashes, every check is one constant-time compare.
        let matched = match found {
            Some(Secret::Bcrypt(hash)) => self.verify(&password, hash),
            Some(Secret::Plain(expected)) => {
                self.same_cost(&password);
                bool::from(expected.as_slice().ct_eq(&password))
            }
            None => {
                self.same_cost(&password);
                return Err((Refusal::UnknownUser, Some(user_name)));
            }
        };
        if matched {
            Ok(user_name)
        } else {
            Err((Refusal::WrongPassword, Some(user_name)))
        }
    }

    /// bcrypt's verify, counted (bcrypt compares its digests in constant time itself).
    fn verify(&self, password: &[u8], hash: &str) -> bool {
        self.verifies
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bcrypt::verify(password, hash).unwrap_or(false)
    }

    /// The work of a bcrypt user's check, for a plain or unknown user: a verify against one of
    /// the file's hashes when it has any, a constant-time compare otherwise.
    fn same_cost(&self, password: &[u8]) {
        let hash = self.users.iter().find_map(|(_, s)| match s {
            Secret::Bcrypt(hash) => Some(hash),
            Secret::Plain(_) => None,
        });
        match hash {
            Some(hash) => {
                let _ = self.verify(password, hash);
            }
            None => {
                let _ = bool::from(password.ct_eq(password));
            }
        }
    }

    /// How many bcrypt verifications checks have run.
    #[cfg(test)]
    pub(crate) fn bcrypt_verifies(&self) -> u64 {
        self.verifies.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether checking may take long (some user has a bcrypt hash).
    pub(crate) fn has_bcrypt(&self) -> bool {
        self.users
            .iter()
            .any(|(_, s)| matches!(s, Secret::Bcrypt(_)))
    }
}

fn is_bcrypt_prefix(password: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| password.starts_with(p))
}

/// `$2b$NN$` + 53 characters of bcrypt's base64 (22 of salt, 31 of digest), cost 4 to 31.
fn check_bcrypt(hash: &str) -> Result<(), String> {
    let rest = &hash[4..];
    let Some((cost, tail)) = rest.split_once('$') else {
        return Err("no '$' after the cost".into());
    };
    match cost.parse::<u32>() {
        Ok(c) if (4..=31).contains(&c) && cost.len() == 2 => {}
        _ => return Err(format!("cost {cost:?} is not 04 to 31")),
    }
    if tail.len() != 53 {
        return Err(format!("{} characters after the cost, want 53", tail.len()));
    }
    if !tail
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    {
        return Err("characters outside bcrypt's alphabet".into());
    }
    Ok(())
}

/// `Basic base64(user:password)` → `(user, password)`.
fn decode_basic(header: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = header.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let (user, password) = decoded.split_at(colon);
    Some((user.to_vec(), password[1..].to_vec()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[test]
    fn plain_and_bcrypt_users_with_comments_and_blank_lines() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let text = format!("# admins\n\nalice:plainpw\nbob:{hash}\n\n\n");
        let users = Users::parse(&text).unwrap();
        assert_eq!(
            users.check(Some(&basic("alice", "plainpw"))),
            Ok("alice".into())
        );
        assert_eq!(users.check(Some(&basic("bob", "s3cret"))), Ok("bob".into()));
        assert_eq!(
            users.check(Some(&basic("bob", "plainpw"))).unwrap_err().0,
            Refusal::WrongPassword
        );
        assert_eq!(
            users.check(Some(&basic("carol", "x"))).unwrap_err().0,
            Refusal::UnknownUser
        );
        assert_eq!(users.check(None).unwrap_err().0, Refusal::Missing);
        let bad = HeaderValue::from_static("Bearer abc");
        assert_eq!(users.check(Some(&bad)).unwrap_err().0, Refusal::Malformed);
    }

    #[test]
    fn hash_made_by_another_tool_verifies() {
        // The example of docs/operations.md (made by crypt(3), password "secret").
        let users =
            Users::parse("alice:$2b$10$n1JRk2JGrxXXgUIQaIzJeOHHQedTMRUtLYbwGkhTyKe/p9jKrQTIi\n")
                .unwrap();
        assert_eq!(
            users.check(Some(&basic("alice", "secret"))),
            Ok("alice".into())
        );
        for prefix in ["$2a$", "$2y$"] {
            let text = format!(
                "alice:{prefix}{}",
                &"$2b$10$n1JRk2JGrxXXgUIQaIzJeOHHQedTMRUtLYbwGkhTyKe/p9jKrQTIi"[4..]
            );
            let users = Users::parse(&text).unwrap();
            assert_eq!(
                users.check(Some(&basic("alice", "secret"))),
                Ok("alice".into())
            );
        }
    }

    #[test]
    fn every_user_known_or_not_plain_or_bcrypt_costs_one_bcrypt_verify() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = Users::parse(&format!("alice:plainpw\nbob:{hash}\n")).unwrap();
        for (user, password, refusal) in [
            ("alice", "wrong", Some(Refusal::WrongPassword)),
            ("alice", "plainpw", None),
            ("carol", "x", Some(Refusal::UnknownUser)),
            ("bob", "wrong", Some(Refusal::WrongPassword)),
            ("bob", "s3cret", None),
        ] {
            let before = users.bcrypt_verifies();
            let checked = users.check(Some(&basic(user, password)));
            assert_eq!(checked.err().map(|e| e.0), refusal, "{user}:{password}");
            assert_eq!(users.bcrypt_verifies() - before, 1, "{user}:{password}");
        }
        // Without hashes, nobody pays for bcrypt.
        let plain = Users::parse("alice:plainpw\n").unwrap();
        let _ = plain.check(Some(&basic("carol", "x")));
        let _ = plain.check(Some(&basic("alice", "x")));
        assert_eq!(plain.bcrypt_verifies(), 0);
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(Users::parse("a:b\nnocolon\n").unwrap_err().0, 2);
        assert_eq!(Users::parse(":pw").unwrap_err().0, 1);
        assert_eq!(Users::parse("a:").unwrap_err().0, 1);
        assert_eq!(Users::parse("a:x\na:y").unwrap_err().0, 2);
        let (line, reason) = Users::parse("# c\nbob:$2b$10$short").unwrap_err();
        assert_eq!(line, 2);
        assert!(reason.contains("bcrypt"), "{reason}");
        assert_eq!(Users::parse("# only\n\n").unwrap_err().0, 0);
    }
}

//! [`RuntimeTargets`]: the shadow targets added through the admin API. It knows which of the
//! layer's targets are runtime ones (the others come from the config file or the flags), keeps
//! them in the state file, and removes the failing non-persistent ones after `remove_after`.
//!
//! Changes are serialised by one async mutex (the admin path, never the request path), and the
//! state file is written under it, so the file always matches the layer.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use http::StatusCode;
use shadowgate::{IgnoreRule, MirrorLayer, TargetBuilder, TargetConfig, TargetStats};

use super::state::{Saved, SavedTarget, StateFile, StateFileError};

mod remover;

/// What the admin API knows of one runtime target (its name in the layer is its URL).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    persistent: bool,
    /// The sample asked for; `None` follows `[mirror_defaults]`.
    sample: Option<f64>,
}

/// A refused change: the status to answer and a message naming the bad value. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Refused {
    fn new(status: StatusCode, message: String) -> Self {
        Self { status, message }
    }

    fn bad_request(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn internal(message: String) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// One target as `GET /targets` lists it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) stats: TargetStats,
    pub(crate) runtime: bool,
    pub(crate) persistent: bool,
}

/// The runtime-added targets, shared by the app and the admin service.
#[derive(Debug)]
pub(crate) struct RuntimeTargets {
    mirror: MirrorLayer,
    template: TargetBuilder,
    state: Option<StateFile>,
    remove_after: Option<Duration>,
    /// `admin.max_runtime_targets`: how many the admin API may add.
    max: usize,
    /// The proxy's own listeners (bound addresses once bound), which no target may point at.
    listeners: Mutex<Vec<SocketAddr>>,
    /// Runtime targets by URL. Locked only for moments, never across an await.
    book: Mutex<BTreeMap<String, Entry>>,
    /// Serialises changes (and the state file writes that go with them).
    changes: tokio::sync::Mutex<()>,
}

impl RuntimeTargets {
    /// Runtime targets of `mirror`, built from `template` (`[mirror_defaults]`), kept in `state`.
    pub(crate) fn new(
        mirror: MirrorLayer,
        template: TargetBuilder,
        state: Option<StateFile>,
        remove_after: Option<Duration>,
        max: usize,
        listeners: Vec<SocketAddr>,
    ) -> Self {
        Self {
            mirror,
            template,
            state,
            remove_after,
            max,
            listeners: Mutex::new(listeners),
            book: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// Adds the targets saved in the state file (startup). A file that cannot be read, or that
    /// holds a target that cannot be built, refuses startup; the file is not touched.
    pub(crate) fn load(&self) -> Result<usize, StateFileError> {
        let Some(state) = &self.state else {
            return Ok(0);
        };
        let Saved {
            targets: mut saved,
            compare_rules,
        } = state.load()?;
        for (target, rules) in compare_rules {
            for rule in rules {
                self.mirror
                    .compare_ignore(&target, rule.clone())
                    .map_err(|e| StateFileError::Target {
                        path: state.path().to_path_buf(),
                        url: target.clone(),
                        reason: format!("compare rule {:?}: {e}", rule.ignore),
                    })?;
            }
        }
        // A file written before URLs were canonical may hold other forms.
        for t in &mut saved {
            t.url = canonical(&t.url);
        }
        let refused = |url: &str, reason: String| StateFileError::Target {
            path: state.path().to_path_buf(),
            url: url.to_owned(),
            reason,
        };
        let listeners = self.listeners();
        let mut configs = Vec::with_capacity(saved.len());
        for t in &saved {
            // A listener may have moved onto a saved target's address since it was saved.
            if let Some(at) = crate::settings::self_target(&t.url, &listeners) {
                return Err(refused(
                    &t.url,
                    crate::settings::self_target_message(&t.url, at),
                ));
            }
            let config = self
                .config(&t.url, t.sample)
                .map_err(|e| refused(&t.url, e.to_string()))?;
            configs.push((config, t));
        }
        let mut added = 0;
        for (config, t) in configs {
            if self.exists(&t.url) {
                tracing::warn!(url = %t.url, "state file target is configured already; the runtime copy is dropped");
                continue;
            }
            self.mirror
                .add_target(config)
                .map_err(|e| refused(&t.url, e.to_string()))?;
            self.book().insert(
                t.url.clone(),
                Entry {
                    persistent: t.persistent,
                    sample: t.sample,
                },
            );
            added += 1;
        }
        if added > self.max {
            tracing::warn!(
                loaded = added,
                max_runtime_targets = self.max,
                "the state file holds more runtime targets than admin.max_runtime_targets; all are kept, none can be added until some are removed"
            );
        }
        Ok(added)
    }

    /// The listeners as bound (with their real ports), once they are.
    pub(crate) fn set_listeners(&self, listeners: Vec<SocketAddr>) {
        *self
            .listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = listeners;
    }

    /// The listeners a target must not point at: as configured until they are bound.
    fn listeners(&self) -> Vec<SocketAddr> {
        self.listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether the layer's target named `name` was added at run time (the admin API or the
    /// state file) rather than by the config file or a flag.
    pub(crate) fn is_runtime(&self, name: &str) -> bool {
        self.book().contains_key(name)
    }

    /// Every target of the layer, config and runtime, with what the listing shows.
    pub(crate) fn listing(&self) -> Vec<Listed> {
        let book = self.book().clone();
        self.mirror
            .stats()
            .into_iter()
            .map(|stats| {
                let entry = book.get(&stats.name);
                Listed {
                    runtime: entry.is_some(),
                    // Config and flag targets are never removed.
                    persistent: !matches!(entry, Some(e) if !e.persistent),
                    stats,
                }
            })
            .collect()
    }

    /// Adds every URL or none, each in its canonical form ([`canonical`]). A URL the layer has
    /// already (as a name or a URL, compared canonically) is left as it is. Returns each URL
    /// asked for, canonical and once, with whether it was added.
    pub(crate) async fn add(
        &self,
        urls: &[String],
        persistent: bool,
        sample: Option<f64>,
    ) -> Result<Vec<(String, bool)>, Refused> {
        let urls = canonical_set(urls);
        let listeners = self.listeners();
        for url in &urls {
            if let Some(at) = crate::settings::self_target(url, &listeners) {
                return Err(Refused::new(
                    StatusCode::BAD_REQUEST,
                    crate::settings::self_target_message(url, at),
                ));
            }
        }
        let _changing = self.changes.lock().await;
        // What the layer has, read once: the cap is checked before any work per URL, so a
        // call with thousands of URLs costs a set lookup each before it is refused.
        let known = self.known();
        let fresh: Vec<&String> = urls.iter().filter(|u| !known.contains(*u)).collect();
        let now = self.book().len();
        if !fresh.is_empty() && now + fresh.len() > self.max {
            return Err(Refused::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "admin.max_runtime_targets is {}: {now} runtime targets and {} new would be more",
                    self.max,
                    fresh.len()
                ),
            ));
        }
        let mut configs = Vec::with_capacity(fresh.len());
        for url in fresh {
            let config = self
                .config(url, sample)
                .map_err(|e| Refused::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            configs.push(config);
        }
        let mut added: Vec<String> = Vec::new();
        for config in configs {
            let url = config.url().to_owned();
            if let Err(e) = self.mirror.add_target(config) {
                self.undo_adds(&added);
                return Err(Refused::new(StatusCode::CONFLICT, e.to_string()));
            }
            self.book()
                .insert(url.clone(), Entry { persistent, sample });
            added.push(url);
        }
        let answer = |added: &[String]| {
            urls.iter()
                .map(|u| (u.clone(), added.contains(u)))
                .collect::<Vec<_>>()
        };
        if added.is_empty() {
            return Ok(answer(&added));
        }
        if let Err(message) = self.save().await {
            self.undo_adds(&added);
            return Err(Refused::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{message}; nothing was added"),
            ));
        }
        for url in &added {
            tracing::info!(%url, persistent, "runtime target added");
        }
        Ok(answer(&added))
    }

    /// Removes every URL or none: each must be a runtime target (compared canonically). Returns
    /// the URLs removed, canonical.
    pub(crate) async fn remove(&self, urls: &[String]) -> Result<Vec<String>, Refused> {
        let urls = canonical_set(urls);
        let _changing = self.changes.lock().await;
        for url in &urls {
            if self.is_runtime(url) {
                continue;
            }
            return Err(if self.exists(url) {
                Refused::new(
                    StatusCode::CONFLICT,
                    format!("{url:?} is a config or flag target; remove it from the configuration instead; nothing was removed"),
                )
            } else {
                Refused::new(
                    StatusCode::NOT_FOUND,
                    format!("{url:?} is not a target; nothing was removed"),
                )
            });
        }
        self.remove_locked(&urls).await.map_err(|message| {
            Refused::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{message}; nothing was removed"),
            )
        })?;
        for url in &urls {
            tracing::info!(%url, "runtime target removed");
        }
        Ok(urls)
    }

    /// Saves the book without `urls`, then takes them out of the layer. Hold `changes`.
    async fn remove_locked(&self, urls: &[String]) -> Result<(), String> {
        let before = self.book().clone();
        {
            let mut book = self.book();
            for url in urls {
                book.remove(url);
            }
        }
        if let Err(message) = self.save().await {
            *self.book() = before;
            return Err(message);
        }
        for url in urls {
            self.mirror.remove_target(url);
        }
        Ok(())
    }

    fn undo_adds(&self, added: &[String]) {
        let mut book = self.book();
        for url in added {
            book.remove(url);
            self.mirror.remove_target(url);
        }
    }

    /// The layer.
    pub(crate) fn mirror(&self) -> &MirrorLayer {
        &self.mirror
    }

    /// Adds (`add`) or removes a run-time comparison ignore rule of `target` and saves the
    /// state file; all or nothing: a rule the file could not take is taken back.
    pub(crate) async fn compare_rule(
        &self,
        target: &str,
        rule: IgnoreRule,
        add: bool,
    ) -> Result<bool, Refused> {
        let _changing = self.changes.lock().await;
        let changed = if add {
            (self.mirror.compare_ignore(target, rule.clone()))
                .map_err(|e| Refused::bad_request(format!("ignore={e}")))?
        } else {
            self.mirror.compare_unignore(target, &rule)
        };
        if !changed {
            return Ok(false);
        }
        if let Err(message) = self.save().await {
            // Taken back, so the layer matches the file.
            if add {
                self.mirror.compare_unignore(target, &rule);
            } else {
                let _ = self.mirror.compare_ignore(target, rule);
            }
            return Err(Refused::internal(message));
        }
        Ok(true)
    }

    /// Writes the book to the state file (off the runtime's workers). Hold `changes`.
    async fn save(&self) -> Result<(), String> {
        let Some(state) = self.state.clone() else {
            return Ok(());
        };
        let targets: Vec<SavedTarget> = self
            .book()
            .iter()
            .map(|(url, e)| SavedTarget {
                url: url.clone(),
                persistent: e.persistent,
                sample: e.sample,
            })
            .collect();
        let saved = Saved {
            targets,
            compare_rules: self.mirror.compare_rules(),
        };
        let path = state.path().to_path_buf();
        let written = tokio::task::spawn_blocking(move || state.save(saved)).await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("state file {path:?} cannot be written: {e}")),
            Err(e) => Err(format!("state file {path:?} was not written: {e}")),
        }
    }

    /// Whether the layer has a target named `url` or at `url` (a canonical URL).
    fn exists(&self, url: &str) -> bool {
        self.known().contains(url)
    }

    /// Every name and canonical URL of the layer's targets.
    fn known(&self) -> HashSet<String> {
        (self.mirror.stats().into_iter())
            .flat_map(|t| [canonical(&t.url), t.name])
            .collect()
    }

    fn config(
        &self,
        url: &str,
        sample: Option<f64>,
    ) -> Result<TargetConfig, shadowgate::TargetError> {
        let mut builder = self.template.clone().url(url).name(url).routed(false);
        if let Some(sample) = sample {
            builder = builder.sample(sample);
        }
        builder.build()
    }

    fn book(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic while holding it cannot leave the map half-changed (each change is one call).
        self.book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `url` in its one form ([`shadowgate::TargetUrl::canonical`]): `HTTP://H:80/` and `http://h`
/// are one target. A URL that does not parse is kept as given, for its build to refuse it.
fn canonical(url: &str) -> String {
    shadowgate::TargetUrl::parse(url).map_or_else(|_| url.to_owned(), |u| u.canonical().to_string())
}

/// The canonical forms of `urls`, each once, in the order asked.
fn canonical_set(urls: &[String]) -> Vec<String> {
    let mut seen = HashSet::with_capacity(urls.len());
    (urls.iter().map(|u| canonical(u)))
        .filter(|u| seen.insert(u.clone()))
        .collect()
}

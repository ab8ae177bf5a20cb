//! Ignore rules added at run time (the admin API's `PUT /compare/rules`), per target and
//! optionally per endpoint. They are kept by the layer, not by a target, so a reloaded target
//! keeps them; the proxy saves them in its state file.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::config::{check_glob, MAX_COMPARE_RULES};
use super::diff::Kind;
use super::pointer::Glob;
use crate::error::InvalidValue;

/// One run-time ignore rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    /// The pointer glob of the fields ignored.
    pub ignore: String,
    /// The endpoint it applies to; `None` is every endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Every target's run-time ignore rules.
#[derive(Debug, Default)]
pub(crate) struct RuntimeRules {
    rules: Mutex<BTreeMap<String, Vec<(IgnoreRule, Glob)>>>,
    /// How many rules there are, read without the lock: most layers have none.
    count: AtomicUsize,
}

impl RuntimeRules {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<(IgnoreRule, Glob)>>> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The globs that apply to `target` at `endpoint`.
    pub(crate) fn ignores_for(&self, target: &str, endpoint: &str) -> Vec<Glob> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        let rules = self.lock();
        let Some(list) = rules.get(target) else {
            return Vec::new();
        };
        (list.iter())
            .filter(|(r, _)| r.endpoint.as_deref().map_or(true, |e| e == endpoint))
            .map(|(_, g)| g.clone())
            .collect()
    }

    /// Whether a rule of `target` ignores `field` at `endpoint` (counted before the rule came).
    pub(crate) fn ignored(&self, target: &str, endpoint: &str, field: &str, _kind: Kind) -> bool {
        if self.count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let rules = self.lock();
        rules.get(target).is_some_and(|list| {
            list.iter().any(|(r, g)| {
                r.endpoint.as_deref().map_or(true, |e| e == endpoint) && g.matches(field)
            })
        })
    }

    /// Adds `rule` to `target`; false when it is there already. An error names a bad glob or
    /// a full list, and changes nothing.
    pub(crate) fn add(&self, target: &str, rule: IgnoreRule) -> Result<bool, InvalidValue> {
        let glob = check_glob(&rule.ignore)?;
        if let Some(e) = &rule.endpoint {
            if !e.starts_with('/') || e.len() > super::config::MAX_RULE_LEN {
                return Err(InvalidValue::quoted(
                    e,
                    "is not an endpoint (it starts with '/')",
                ));
            }
        }
        let mut rules = self.lock();
        let list = rules.entry(target.to_owned()).or_default();
        if list.iter().any(|(r, _)| *r == rule) {
            return Ok(false);
        }
        if list.len() >= MAX_COMPARE_RULES {
            let why = format!(
                "would be more than the most rules allowed per target, {MAX_COMPARE_RULES}"
            );
            return Err(InvalidValue::quoted(&rule.ignore, why));
        }
        list.push((rule, glob));
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Removes `rule` from `target`; false when it was not there.
    pub(crate) fn remove(&self, target: &str, rule: &IgnoreRule) -> bool {
        let mut rules = self.lock();
        let Some(list) = rules.get_mut(target) else {
            return false;
        };
        let before = list.len();
        list.retain(|(r, _)| r != rule);
        let removed = list.len() < before;
        if removed {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        if list.is_empty() {
            rules.remove(target);
        }
        removed
    }

    /// Every target's rules.
    pub(crate) fn all(&self) -> BTreeMap<String, Vec<IgnoreRule>> {
        (self.lock().iter())
            .map(|(t, list)| (t.clone(), list.iter().map(|(r, _)| r.clone()).collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(ignore: &str, endpoint: Option<&str>) -> IgnoreRule {
        IgnoreRule {
            ignore: ignore.into(),
            endpoint: endpoint.map(Into::into),
        }
    }

    #[test]
    fn rules_apply_by_target_and_endpoint() {
        let r = RuntimeRules::default();
        assert_eq!(r.add("t", rule("/body/at", None)), Ok(true));
        assert_eq!(r.add("t", rule("/body/at", None)), Ok(false));
        assert_eq!(r.add("t", rule("/body/x", Some("/a"))), Ok(true));
        assert_eq!(r.ignores_for("t", "/a").len(), 2);
        assert_eq!(r.ignores_for("t", "/b").len(), 1);
        assert!(r.ignores_for("u", "/a").is_empty());
        assert!(r.ignored("t", "/b", "/body/at", Kind::Value));
        assert!(!r.ignored("t", "/b", "/body/x", Kind::Value));
        assert!(r.add("t", rule("body", None)).is_err());
        assert!(r.remove("t", &rule("/body/at", None)));
        assert!(!r.remove("t", &rule("/body/at", None)));
        assert_eq!(r.all()["t"], [rule("/body/x", Some("/a"))]);
    }
}

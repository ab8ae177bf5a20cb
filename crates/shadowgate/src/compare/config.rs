//! [`CompareConfig`]: a target's comparison settings as given (docs/verdicts.md,
//! "Configuration"), checked with the rest of the target in [`crate::TargetBuilder::build`] into
//! the [`Comparison`] the layer runs on.

use std::sync::Arc;

use http::Method;

use super::diff::{ArrayMode, Rules, Tolerance};
use super::endpoint::Template;
use super::pointer::Glob;
use crate::error::{Field, InvalidValue, Problem};

/// Default largest body compared, per side (256 KiB).
pub const DEFAULT_COMPARE_BODY_BYTES: usize = 256 * 1024;
/// The largest `max_body_bytes` of a comparison (64 MiB).
pub const MAX_COMPARE_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Default comparisons per second per target.
pub const DEFAULT_COMPARE_PER_SECOND: u32 = 10_000;
/// The most rules of each list (`ignore`, `arrays`, `numbers`, `endpoints`).
pub const MAX_COMPARE_RULES: usize = 1024;
/// The longest pointer glob or template, in bytes.
pub const MAX_RULE_LEN: usize = 1024;

/// Where a comparison's noise evidence comes from besides the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Another target of the layer, by name, running the primary's version: it gets every
    /// compared request too.
    Target(String),
    /// The compared request sent to the primary again (GET and HEAD only): a live A/A test.
    /// Needs a [`crate::MirrorLayerBuilder::primary_replay`].
    Primary,
}

impl Control {
    /// The config form: `"primary"`, or a target's name.
    pub fn parse(text: &str) -> Self {
        match text {
            "primary" => Control::Primary,
            name => Control::Target(name.to_owned()),
        }
    }
}

/// A target's comparison settings, checked when the target is built. Absent (the default), the
/// target's answers are read and thrown away.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareConfig {
    sample: f64,
    methods: Vec<Method>,
    max_body_bytes: usize,
    control: Option<Control>,
    ignore: Vec<String>,
    arrays: Vec<(String, String)>,
    numbers: Vec<(String, f64, f64)>,
    endpoints: Vec<String>,
    max_per_second: u32,
    shapes: bool,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            sample: 1.0,
            methods: vec![Method::GET, Method::HEAD],
            max_body_bytes: DEFAULT_COMPARE_BODY_BYTES,
            control: None,
            ignore: Vec::new(),
            arrays: Vec::new(),
            numbers: Vec::new(),
            endpoints: Vec::new(),
            max_per_second: DEFAULT_COMPARE_PER_SECOND,
            shapes: true,
        }
    }
}

impl CompareConfig {
    /// The defaults: every copy of a GET or HEAD compared, bodies up to 256 KiB, no control.
    pub fn new() -> Self {
        Self::default()
    }

    /// The share of the target's copies that are compared (0 to 1).
    pub fn sample(mut self, ratio: f64) -> Self {
        self.sample = ratio;
        self
    }

    /// The methods compared (default GET and HEAD: a write compares meaningfully only against
    /// state of its own). Empty is every method.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The largest body compared, per side; a larger one is `skipped_body_too_large`.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The control.
    pub fn control(mut self, control: Control) -> Self {
        self.control = Some(control);
        self
    }

    /// A field not compared: a pointer glob (`*` one token, `**` any number).
    pub fn ignore(mut self, glob: impl Into<String>) -> Self {
        self.ignore.push(glob.into());
        self
    }

    /// How the arrays at `glob` are compared: `ordered`, `set`, or `keyed` by the member at
    /// `key` (a pointer inside each element).
    pub fn array(mut self, glob: impl Into<String>, mode: &str, key: Option<&str>) -> Self {
        let mode = match (mode, key) {
            ("keyed", Some(key)) => format!("keyed:{key}"),
            (mode, _) => mode.to_owned(),
        };
        self.arrays.push((glob.into(), mode));
        self
    }

    /// Numbers at `glob` are equal within `abs`, or within `rel` of the larger magnitude.
    pub fn number(mut self, glob: impl Into<String>, abs: f64, rel: f64) -> Self {
        self.numbers.push((glob.into(), abs, rel));
        self
    }

    /// An endpoint template (`/api/users/{id}`).
    pub fn endpoint(mut self, template: impl Into<String>) -> Self {
        self.endpoints.push(template.into());
        self
    }

    /// The most comparisons a second for the target (0: no limit); past it a pair is
    /// `skipped_budget`.
    pub fn max_per_second(mut self, n: u32) -> Self {
        self.max_per_second = n;
        self
    }

    /// Whether two values of one recognisable shape count as masked (the default, see
    /// docs/verdicts.md, "Masking"). Off, every difference counts: the detection benchmark's
    /// "rules only" mode. Not a key of the config file.
    pub fn shapes(mut self, on: bool) -> Self {
        self.shapes = on;
        self
    }

    /// Checks every setting, adding each bad one to `problems`.
    pub(crate) fn check(&self, problems: &mut Vec<Problem>) -> Option<Arc<Comparison>> {
        let before = problems.len();
        let mut bad = |key: &str, error: InvalidValue| {
            problems.push(Problem {
                field: Field::Compare(key.to_owned()),
                error,
            })
        };
        if !(0.0..=1.0).contains(&self.sample) {
            bad(
                "sample",
                InvalidValue::new(self.sample.to_string(), "is outside 0..=1"),
            );
        }
        if self.max_body_bytes > MAX_COMPARE_BODY_BYTES {
            let why = format!("is more than the largest allowed, {MAX_COMPARE_BODY_BYTES}");
            bad(
                "max_body_bytes",
                InvalidValue::new(self.max_body_bytes.to_string(), why),
            );
        }
        let replays = |m: &Method| *m == Method::GET || *m == Method::HEAD;
        if self.control == Some(Control::Primary)
            && (self.methods.is_empty() || !self.methods.iter().all(replays))
        {
            let methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
            let shown = match methods.is_empty() {
                true => "every method".to_owned(),
                false => format!("{methods:?}"),
            };
            bad(
                "control",
                InvalidValue::new(
                    "\"primary\"",
                    format!("replays only GET and HEAD, but methods is {shown}"),
                ),
            );
        }
        if let Some(Control::Target(name)) = &self.control {
            if name.is_empty() {
                bad(
                    "control",
                    InvalidValue::quoted(name, "is not a target name or \"primary\""),
                );
            }
        }
        let lists = [
            ("ignore", self.ignore.len()),
            ("arrays", self.arrays.len()),
            ("numbers", self.numbers.len()),
            ("endpoints", self.endpoints.len()),
        ];
        for (key, n) in lists {
            if n > MAX_COMPARE_RULES {
                let why = format!("rules are more than the most allowed, {MAX_COMPARE_RULES}");
                bad(key, InvalidValue::new(n.to_string(), why));
            }
        }
        let mut rules = Rules::default();
        for (i, glob) in self.ignore.iter().enumerate() {
            match check_glob(glob) {
                Ok(g) => rules.ignore.push(g),
                Err(e) => bad(&format!("ignore[{i}]"), e),
            }
        }
        for (i, (glob, mode)) in self.arrays.iter().enumerate() {
            let mode = match mode.as_str() {
                "ordered" => Ok(ArrayMode::Ordered),
                "set" => Ok(ArrayMode::Set),
                m => match m.strip_prefix("keyed:") {
                    Some(key) if key.starts_with('/') && key.len() <= MAX_RULE_LEN => {
                        Ok(ArrayMode::Keyed(key.to_owned()))
                    }
                    Some(key) => Err(InvalidValue::quoted(
                        key,
                        "is not a key pointer (it starts with '/')",
                    )),
                    None if m == "keyed" => Err(InvalidValue::quoted(
                        m,
                        "needs a key (a pointer inside each element, such as \"/id\")",
                    )),
                    None => Err(InvalidValue::quoted(
                        m,
                        "is not an array mode (ordered, set or keyed)",
                    )),
                },
            };
            match (check_glob(glob), mode) {
                (Ok(g), Ok(m)) => rules.arrays.push((g, m)),
                (Err(e), _) | (_, Err(e)) => bad(&format!("arrays[{i}]"), e),
            }
        }
        for (i, (glob, abs, rel)) in self.numbers.iter().enumerate() {
            let tolerance = [("abs", *abs), ("rel", *rel)]
                .into_iter()
                .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
                .map_or(Ok(()), |(k, v)| {
                    Err(InvalidValue::new(
                        format!("{k} = {v}"),
                        "is not a finite number of at least 0",
                    ))
                });
            match (check_glob(glob), tolerance) {
                (Ok(g), Ok(())) => rules.numbers.push((
                    g,
                    Tolerance {
                        abs: *abs,
                        rel: *rel,
                    },
                )),
                (Err(e), _) | (_, Err(e)) => bad(&format!("numbers[{i}]"), e),
            }
        }
        let mut templates = Vec::new();
        for (i, t) in self.endpoints.iter().enumerate() {
            if !t.starts_with('/') || t.len() > MAX_RULE_LEN || t.contains(['?', '#']) {
                let why = "is not a path template (it starts with '/', has no query, and is at most 1024 bytes)";
                bad(&format!("endpoints[{i}]"), InvalidValue::quoted(t, why));
            } else {
                templates.push(Template::new(t));
            }
        }
        if problems.len() > before {
            return None;
        }
        Some(Arc::new(Comparison {
            sample: self.sample,
            methods: self.methods.clone(),
            max_body_bytes: self.max_body_bytes,
            control: self.control.clone(),
            rules,
            templates,
            max_per_second: self.max_per_second,
            shapes: self.shapes,
            given: self.clone(),
        }))
    }
}

/// A pointer glob, checked: `""` (the whole document) or text starting with `/`, at most
/// [`MAX_RULE_LEN`] bytes.
pub fn check_glob(text: &str) -> Result<Glob, InvalidValue> {
    if !(text.is_empty() || text.starts_with('/')) {
        return Err(InvalidValue::quoted(
            text,
            "is not a pointer glob (it starts with '/', as /body/**/id does)",
        ));
    }
    if text.len() > MAX_RULE_LEN {
        let why = format!("is longer than the most allowed, {MAX_RULE_LEN} bytes");
        return Err(InvalidValue::new(
            format!("a glob of {} bytes", text.len()),
            why,
        ));
    }
    Ok(Glob::new(text))
}

/// A target's comparison, checked: what the layer runs on.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub(crate) sample: f64,
    pub(crate) methods: Vec<Method>,
    pub(crate) max_body_bytes: usize,
    pub(crate) control: Option<Control>,
    pub(crate) rules: Rules,
    pub(crate) templates: Vec<Template>,
    pub(crate) max_per_second: u32,
    pub(crate) shapes: bool,
    given: CompareConfig,
}

impl PartialEq for Comparison {
    fn eq(&self, other: &Self) -> bool {
        self.given == other.given
    }
}

impl Comparison {
    /// The settings as given.
    pub fn config(&self) -> &CompareConfig {
        &self.given
    }

    /// The share of copies compared.
    pub fn sample(&self) -> f64 {
        self.sample
    }

    /// The methods compared; empty is every method.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The largest body compared, per side.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The control, if any.
    pub fn control(&self) -> Option<&Control> {
        self.control.as_ref()
    }

    /// Comparisons a second at most (0: no limit).
    pub fn max_per_second(&self) -> u32 {
        self.max_per_second
    }

    /// Whether a copy of a request with this method is compared (before the sample).
    pub(crate) fn compares(&self, method: &Method) -> bool {
        self.methods.is_empty() || self.methods.contains(method)
    }

    /// Draws the comparison's own sample.
    pub(crate) fn sampled(&self) -> bool {
        self.sample >= 1.0 || (self.sample > 0.0 && fastrand::f64() < self.sample)
    }
}

impl CompareConfig {
    /// The ignore globs as given.
    pub fn ignores(&self) -> &[String] {
        &self.ignore
    }

    /// The array rules as given: (glob, mode, key for `keyed`).
    pub fn array_rules(&self) -> Vec<(&str, &str, Option<&str>)> {
        (self.arrays.iter())
            .map(|(glob, mode)| match mode.strip_prefix("keyed:") {
                Some(key) => (glob.as_str(), "keyed", Some(key)),
                None => (glob.as_str(), mode.as_str(), None),
            })
            .collect()
    }

    /// The number rules as given: (glob, abs, rel).
    pub fn number_rules(&self) -> &[(String, f64, f64)] {
        &self.numbers
    }

    /// The endpoint templates as given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(c: CompareConfig) -> Vec<String> {
        let mut p = Vec::new();
        assert!(c.check(&mut p).is_none());
        p.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_bad_setting_is_named_with_its_value() {
        let c = CompareConfig::new()
            .sample(1.5)
            .max_body_bytes(MAX_COMPARE_BODY_BYTES + 1)
            .control(Control::Target(String::new()))
            .ignore("body/x")
            .array("/body/items", "sorted", None)
            .array("/body/rows", "keyed", None)
            .number("/body/price", -1.0, 0.0)
            .number("/body/cost", 0.0, f64::NAN)
            .endpoint("api/users");
        assert_eq!(
            problems(c),
            [
                "compare sample: 1.5 is outside 0..=1",
                "compare max_body_bytes: 67108865 is more than the largest allowed, 67108864",
                "compare control: \"\" is not a target name or \"primary\"",
                "compare ignore[0]: \"body/x\" is not a pointer glob (it starts with '/', as /body/**/id does)",
                "compare arrays[0]: \"sorted\" is not an array mode (ordered, set or keyed)",
                "compare arrays[1]: \"keyed\" needs a key (a pointer inside each element, such as \"/id\")",
                "compare numbers[0]: abs = -1 is not a finite number of at least 0",
                "compare numbers[1]: rel = NaN is not a finite number of at least 0",
                "compare endpoints[0]: \"api/users\" is not a path template (it starts with '/', has no query, and is at most 1024 bytes)",
            ]
        );
    }

    #[test]
    fn good_settings_become_rules() {
        let c = CompareConfig::new()
            .ignore("/headers/x-served-by")
            .array("/body/items", "keyed", Some("/id"))
            .array("/body/tags", "set", None)
            .number("/body/**/price", 0.005, 0.0)
            .endpoint("/api/users/{id}")
            .control(Control::parse("primary"));
        let mut p = Vec::new();
        let k = c.check(&mut p).unwrap();
        assert!(p.is_empty());
        assert_eq!(k.rules.ignore.len(), 1);
        assert_eq!(k.rules.arrays[0].1, ArrayMode::Keyed("/id".into()));
        assert_eq!(k.rules.arrays[1].1, ArrayMode::Set);
        assert_eq!(k.templates[0].as_str(), "/api/users/{id}");
        assert_eq!(k.control, Some(Control::Primary));
        assert!(k.compares(&Method::GET) && !k.compares(&Method::POST));
    }
}

//! Differences between two JSON documents, each named by a JSON Pointer and a kind
//! (docs/verdicts.md, "What is compared"). A response is read as the document
//! `{status, headers, body}`; this module compares two such values whatever they hold.
//!
//! - Objects: a member only on the primary's side is `missing`, only on the shadow's `extra`.
//! - Numbers by value (`1` equals `1.0`), within a tolerance where one is configured.
//! - Arrays `ordered` (the default): element by element; the same elements in another order is
//!   one `order` difference at the array; another length is one `length` difference at the
//!   array, and the common prefix is compared. As a `set`: elements matched whatever their
//!   order, each unmatched one `missing` or `extra` at `ARRAY/*`. `keyed` by a member: elements
//!   matched by that member's value and compared member by member.
//! - Different JSON types: `type`.
//!
//! Each difference carries its exact pointer (array indices as numbers) and its field, the
//! pointer with every index written `*`, which is what verdicts are kept by.

use serde_json::Value;

use super::pointer::{escape, Glob};

/// What kind of difference a field shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// Same type, another value.
    Value,
    /// Another JSON type (a number became a string).
    Type,
    /// On the primary's side only.
    Missing,
    /// On the shadow's side only.
    Extra,
    /// An array of another length.
    Length,
    /// An ordered array with the same elements in another order.
    Order,
    /// A text body with other lines.
    Text,
    /// A body that is neither JSON nor text, of another length or hash.
    Bytes,
    /// Noticeably slower than the primary (the field `/latency`).
    Slower,
}

impl Kind {
    /// The name used by the admin API: `value`, `type`, `missing`, `extra`, `length`, `order`,
    /// `text`, `bytes`, `slower`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Value => "value",
            Kind::Type => "type",
            Kind::Missing => "missing",
            Kind::Extra => "extra",
            Kind::Length => "length",
            Kind::Order => "order",
            Kind::Text => "text",
            Kind::Bytes => "bytes",
            Kind::Slower => "slower",
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The exact JSON Pointer (`/body/items/3/price`).
    pub pointer: String,
    /// The field: the pointer with array indices as `*` (`/body/items/*/price`).
    pub field: String,
    /// What differs.
    pub kind: Kind,
    /// The primary's value there, if it has one.
    pub primary: Option<Value>,
    /// The shadow's value there, if it has one.
    pub shadow: Option<Value>,
}

/// How an array is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayMode {
    /// Element by element (the default).
    Ordered,
    /// Whatever the order.
    Set,
    /// Elements matched by the value at this pointer inside each (`/id`).
    Keyed(String),
}

/// A tolerance for numbers: equal when within `abs`, or within `rel` of the larger magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tolerance {
    /// Absolute difference allowed.
    pub abs: f64,
    /// Relative difference allowed.
    pub rel: f64,
}

impl Tolerance {
    fn allows(self, a: f64, b: f64) -> bool {
        let d = (a - b).abs();
        d <= self.abs || d <= self.rel * a.abs().max(b.abs())
    }
}

/// The per-field rules of a comparison: which fields are ignored, how arrays are compared, and
/// the tolerances for numbers; each by a pointer glob (`*` one segment, `**` any number).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Fields not compared (nor anything under them).
    pub ignore: Vec<Glob>,
    /// Array modes; the first matching glob wins, else `ordered`.
    pub arrays: Vec<(Glob, ArrayMode)>,
    /// Number tolerances; the first matching glob wins, else exact.
    pub numbers: Vec<(Glob, Tolerance)>,
}

impl Rules {
    fn ignored(&self, field: &str) -> bool {
        self.ignore.iter().any(|g| g.matches(field))
    }

    fn array_mode(&self, field: &str) -> &ArrayMode {
        const ORDERED: &ArrayMode = &ArrayMode::Ordered;
        (self.arrays.iter())
            .find(|(g, _)| g.matches(field))
            .map_or(ORDERED, |(_, m)| m)
    }

    fn tolerance(&self, field: &str) -> Tolerance {
        (self.numbers.iter())
            .find(|(g, _)| g.matches(field))
            .map_or(Tolerance::default(), |(_, t)| *t)
    }
}

/// Compares `primary` with `shadow` under `rules`, appending each difference to `out`.
/// `pointer` and `field` name where the two values sit (`""` for the whole document).
pub fn diff(
    primary: &Value,
    shadow: &Value,
    rules: &Rules,
    pointer: &str,
    field: &str,
    out: &mut Vec<Difference>,
) {
    if rules.ignored(field) {
        return;
    }
    let differ = |kind, out: &mut Vec<Difference>| {
        out.push(Difference {
            pointer: pointer.to_owned(),
            field: field.to_owned(),
            kind,
            primary: Some(primary.clone()),
            shadow: Some(shadow.clone()),
        })
    };
    match (primary, shadow) {
        (Value::Object(p), Value::Object(s)) => {
            for (key, pv) in p {
                let (ptr, fld) = (child(pointer, key), child(field, key));
                match s.get(key) {
                    Some(sv) => diff(pv, sv, rules, &ptr, &fld, out),
                    None if !rules.ignored(&fld) => out.push(Difference {
                        pointer: ptr,
                        field: fld,
                        kind: Kind::Missing,
                        primary: Some(pv.clone()),
                        shadow: None,
                    }),
                    None => {}
                }
            }
            for (key, sv) in s.iter().filter(|(k, _)| !p.contains_key(*k)) {
                let (ptr, fld) = (child(pointer, key), child(field, key));
                if !rules.ignored(&fld) {
                    out.push(Difference {
                        pointer: ptr,
                        field: fld,
                        kind: Kind::Extra,
                        primary: None,
                        shadow: Some(sv.clone()),
                    });
                }
            }
        }
        (Value::Array(p), Value::Array(s)) => match rules.array_mode(field) {
            ArrayMode::Ordered => ordered(p, s, rules, pointer, field, out, primary, shadow),
            ArrayMode::Set => as_set(p, s, rules, pointer, field, out),
            ArrayMode::Keyed(key) => keyed(p, s, key, rules, pointer, field, out),
        },
        (Value::Number(p), Value::Number(s)) => {
            let equal = match (p.as_f64(), s.as_f64()) {
                // Integers beyond f64's exact range compare exactly.
                _ if p == s => true,
                (Some(a), Some(b)) => a == b || rules.tolerance(field).allows(a, b),
                _ => false,
            };
            if !equal {
                differ(Kind::Value, out);
            }
        }
        (p, s) if std::mem::discriminant(p) != std::mem::discriminant(s) => differ(Kind::Type, out),
        (p, s) => {
            if p != s {
                differ(Kind::Value, out);
            }
        }
    }
}

/// Element by element; another length is one `length` difference (the common prefix is still
/// compared), the same elements in another order one `order` difference.
#[allow(clippy::too_many_arguments)]
fn ordered(
    p: &[Value],
    s: &[Value],
    rules: &Rules,
    pointer: &str,
    field: &str,
    out: &mut Vec<Difference>,
    primary: &Value,
    shadow: &Value,
) {
    let whole = |kind| Difference {
        pointer: pointer.to_owned(),
        field: field.to_owned(),
        kind,
        primary: Some(primary.clone()),
        shadow: Some(shadow.clone()),
    };
    let element = child(field, "*");
    let mut inner = Vec::new();
    for (i, (pv, sv)) in p.iter().zip(s).enumerate() {
        diff(
            pv,
            sv,
            rules,
            &child(pointer, &i.to_string()),
            &element,
            &mut inner,
        );
    }
    if p.len() == s.len() && !inner.is_empty() && unmatched_both(p, s).0.is_empty() {
        // The same elements, another order: one difference, not one per element.
        out.push(whole(Kind::Order));
        return;
    }
    if p.len() != s.len() {
        out.push(whole(Kind::Length));
    }
    out.append(&mut inner);
}

/// Whatever the order: each element of one side matched to an equal one of the other; the rest
/// are `missing` (the primary's) or `extra` (the shadow's) at `ARRAY/*`.
fn as_set(
    p: &[Value],
    s: &[Value],
    rules: &Rules,
    pointer: &str,
    field: &str,
    out: &mut Vec<Difference>,
) {
    let element = child(field, "*");
    if rules.ignored(&element) {
        return;
    }
    let (only_primary, only_shadow) = unmatched_both(p, s);
    for (i, v) in only_primary {
        out.push(Difference {
            pointer: child(pointer, &i.to_string()),
            field: element.clone(),
            kind: Kind::Missing,
            primary: Some(v.clone()),
            shadow: None,
        });
    }
    for (i, v) in only_shadow {
        out.push(Difference {
            pointer: child(pointer, &i.to_string()),
            field: element.clone(),
            kind: Kind::Extra,
            primary: None,
            shadow: Some(v.clone()),
        });
    }
}

/// Elements matched by the value at `key` inside each; an element without the key, or whose
/// key is repeated, is matched by position among its like.
fn keyed(
    p: &[Value],
    s: &[Value],
    key: &str,
    rules: &Rules,
    pointer: &str,
    field: &str,
    out: &mut Vec<Difference>,
) {
    let element = child(field, "*");
    let key_of = |v: &Value| v.pointer(key).cloned();
    let mut shadow_taken = vec![false; s.len()];
    for (i, pv) in p.iter().enumerate() {
        let k = key_of(pv);
        let found = s
            .iter()
            .enumerate()
            .position(|(j, sv)| !shadow_taken[j] && k.is_some() && key_of(sv) == k);
        match found {
            Some(j) => {
                shadow_taken[j] = true;
                diff(
                    pv,
                    &s[j],
                    rules,
                    &child(pointer, &i.to_string()),
                    &element,
                    out,
                );
            }
            None => out.push(Difference {
                pointer: child(pointer, &i.to_string()),
                field: element.clone(),
                kind: Kind::Missing,
                primary: Some(pv.clone()),
                shadow: None,
            }),
        }
    }
    for (j, sv) in s.iter().enumerate().filter(|(j, _)| !shadow_taken[*j]) {
        out.push(Difference {
            pointer: child(pointer, &j.to_string()),
            field: element.clone(),
            kind: Kind::Extra,
            primary: None,
            shadow: Some(sv.clone()),
        });
    }
}

/// The unmatched elements of each side, with their indices.
#[allow(clippy::type_complexity)]
fn unmatched_both<'a, 'b>(
    p: &'a [Value],
    s: &'b [Value],
) -> (Vec<(usize, &'a Value)>, Vec<(usize, &'b Value)>) {
    let mut taken = vec![false; s.len()];
    // Elements equal at the same place are matched to each other first: any matching may pair
    // them, and it leaves only the changed places to search (one changed element of a long
    // array costs one search, not one per later element).
    let mut placed = vec![false; p.len()];
    for (i, (pv, sv)) in p.iter().zip(s).enumerate() {
        if pv == sv {
            placed[i] = true;
            taken[i] = true;
        }
    }
    let mut only_primary = Vec::new();
    for (i, pv) in p.iter().enumerate().filter(|(i, _)| !placed[*i]) {
        match (0..s.len()).find(|&j| !taken[j] && (*pv == s[j] || same(pv, &s[j]))) {
            Some(j) => taken[j] = true,
            None => only_primary.push((i, pv)),
        }
    }
    let only_shadow = (s.iter().enumerate()).filter(|(j, _)| !taken[*j]).collect();
    (only_primary, only_shadow)
}

/// Equal as compared here: numbers by value.
fn same(a: &Value, b: &Value) -> bool {
    let mut out = Vec::new();
    diff(a, b, &Rules::default(), "", "", &mut out);
    out.is_empty()
}

/// `parent` with one more reference token, escaped (`~` as `~0`, `/` as `~1`).
fn child(parent: &str, token: &str) -> String {
    let mut out = String::with_capacity(parent.len() + token.len() + 1);
    out.push_str(parent);
    out.push('/');
    out.push_str(&escape(token));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The differences as (pointer, field, kind), sorted.
    fn diffs(p: Value, s: Value, rules: &Rules) -> Vec<(String, String, Kind)> {
        let mut out = Vec::new();
        diff(&p, &s, rules, "/body", "/body", &mut out);
        sorted(
            out.into_iter()
                .map(|d| (d.pointer, d.field, d.kind))
                .collect(),
        )
    }

    fn sorted(mut want: Vec<(String, String, Kind)>) -> Vec<(String, String, Kind)> {
        want.sort();
        want
    }

    fn one(pointer: &str, field: &str, kind: Kind) -> (String, String, Kind) {
        (pointer.to_owned(), field.to_owned(), kind)
    }

    #[test]
    fn members_values_types_and_numbers_by_value() {
        let p = json!({"a": 1, "b": "x", "c": true, "gone": 1, "n": 2, "t": 3});
        let s = json!({"a": 1.0, "b": "y", "c": true, "new": 1, "n": 3, "t": "3"});
        let got = diffs(p, s, &Rules::default());
        let want = sorted(vec![
            one("/body/b", "/body/b", Kind::Value),
            one("/body/gone", "/body/gone", Kind::Missing),
            one("/body/n", "/body/n", Kind::Value),
            one("/body/t", "/body/t", Kind::Type),
            one("/body/new", "/body/new", Kind::Extra),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn one_changed_element_of_a_long_array_is_one_value_difference() {
        let rules = Rules::default();
        let p: Vec<Value> = (0..2_000).map(|i| json!({"id": i, "n": i})).collect();
        let mut s = p.clone();
        s[7] = json!({"id": 7, "n": 8});
        assert_eq!(
            diffs(Value::Array(p.clone()), Value::Array(s), &rules),
            [one("/body/7/n", "/body/*/n", Kind::Value)]
        );
        // Equal places are matched first; the rest still finds its match anywhere.
        let mut swapped = p.clone();
        swapped.swap(3, 1_500);
        assert_eq!(
            diffs(Value::Array(p), Value::Array(swapped), &rules),
            [one("/body", "/body", Kind::Order)]
        );
        assert_eq!(
            diffs(json!([1, 1, 2]), json!([1, 2, 1.0]), &rules),
            [one("/body", "/body", Kind::Order)]
        );
    }

    #[test]
    fn ordered_arrays_report_order_and_length_once() {
        let rules = Rules::default();
        assert_eq!(
            diffs(json!([1, 2, 3]), json!([3, 1, 2]), &rules),
            [one("/body", "/body", Kind::Order)]
        );
        assert_eq!(
            diffs(
                json!([{"p": 1}, {"p": 2}]),
                json!([{"p": 1}, {"p": 5}, {"p": 9}]),
                &rules
            ),
            [
                one("/body", "/body", Kind::Length),
                one("/body/1/p", "/body/*/p", Kind::Value)
            ]
        );
        assert!(diffs(json!([1, 2]), json!([1.0, 2]), &rules).is_empty());
    }

    #[test]
    fn sets_and_keyed_arrays() {
        let rules = Rules {
            arrays: vec![
                (Glob::new("/body/tags"), ArrayMode::Set),
                (Glob::new("/body/items"), ArrayMode::Keyed("/id".into())),
            ],
            ..Rules::default()
        };
        let p = json!({"tags": ["a", "b", "c"], "items": [{"id": 1, "v": 1}, {"id": 2, "v": 2}, {"id": 3}]});
        let s = json!({"tags": ["c", "a", "d"], "items": [{"id": 2, "v": 7}, {"id": 1, "v": 1}, {"id": 4}]});
        let got = diffs(p, s, &rules);
        let want = sorted(vec![
            one("/body/tags/1", "/body/tags/*", Kind::Missing),
            one("/body/tags/2", "/body/tags/*", Kind::Extra),
            one("/body/items/1/v", "/body/items/*/v", Kind::Value),
            one("/body/items/2", "/body/items/*", Kind::Missing),
            one("/body/items/2", "/body/items/*", Kind::Extra),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn ignore_rules_and_tolerances() {
        let rules = Rules {
            ignore: vec![Glob::new("/body/**/generatedAt"), Glob::new("/body/debug")],
            numbers: vec![(
                Glob::new("/body/**/price"),
                Tolerance {
                    abs: 0.005,
                    rel: 0.0,
                },
            )],
            ..Rules::default()
        };
        let p = json!({"debug": 1, "x": {"generatedAt": "t1", "price": 1.00}, "items": [{"price": 2.0}]});
        let s = json!({"x": {"generatedAt": "t2", "price": 1.004}, "items": [{"price": 2.01}]});
        assert_eq!(
            diffs(p, s, &rules),
            [one(
                "/body/items/0/price",
                "/body/items/*/price",
                Kind::Value
            )]
        );
    }

    #[test]
    fn members_with_slashes_and_tildes_are_escaped() {
        let got = diffs(
            json!({"a/b": 1, "c~d": 1}),
            json!({"a/b": 2, "c~d": 2}),
            &Rules::default(),
        );
        let fields: Vec<_> = got.into_iter().map(|(p, _, _)| p).collect();
        assert!(fields.contains(&"/body/a~1b".to_owned()), "{fields:?}");
        assert!(fields.contains(&"/body/c~0d".to_owned()), "{fields:?}");
    }
}

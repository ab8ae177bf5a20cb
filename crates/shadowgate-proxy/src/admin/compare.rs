//! The `/compare` endpoints (docs/admin-api.md, "Comparison"): the per-target reports, the
//! fields of an endpoint, kept sample pairs, run-time ignore rules (kept in the state file), a
//! reset, and an NDJSON export of the samples. Every bad parameter is refused by name and
//! changes nothing.

use bytes::Bytes;
use http::request::Parts;
use http::{Method, StatusCode};
use shadowgate::IgnoreRule;

use super::targets::RuntimeTargets;
use super::{not_allowed, only_get};
use crate::answer::Answer;

const NDJSON: &str = "application/x-ndjson";

/// The parameters of a `/compare` call, by name.
#[derive(Debug, Default, PartialEq)]
struct CompareQuery {
    target: Option<String>,
    endpoint: Option<String>,
    ignore: Option<String>,
}

impl CompareQuery {
    /// Parses the query, allowing only `allowed` parameters, each at most once.
    fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, String> {
        let mut out = CompareQuery::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let place = match &*key {
                "target" if allowed.contains(&"target") => &mut out.target,
                "endpoint" if allowed.contains(&"endpoint") => &mut out.endpoint,
                "ignore" if allowed.contains(&"ignore") => &mut out.ignore,
                other => {
                    return Err(format!(
                        "unknown parameter {other:?} (want {})",
                        allowed.join(", ")
                    ))
                }
            };
            if place.is_some() {
                return Err(format!("{key}= is given twice"));
            }
            *place = Some(value.into_owned());
        }
        Ok(out)
    }

    fn required(value: Option<String>, name: &str) -> Result<String, String> {
        match value {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("no {name} parameter: give {name}=...")),
        }
    }
}

fn bad(message: impl std::fmt::Display) -> Answer {
    Answer::text(
        StatusCode::BAD_REQUEST,
        format!("{message}; nothing changed\n"),
    )
}

fn not_comparing(target: &str) -> Answer {
    Answer::text(
        StatusCode::NOT_FOUND,
        format!("no target {target:?} compares its answers\n"),
    )
}

fn json(value: &impl serde::Serialize) -> Answer {
    match serde_json::to_value(value) {
        Ok(v) => Answer::json(StatusCode::OK, &v),
        Err(e) => Answer::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the report could not be encoded: {e}\n"),
        ),
    }
}

/// Answers a request whose path starts with `/compare`.
pub(super) async fn answer(targets: &RuntimeTargets, req: &Parts) -> Answer {
    let mirror = targets.mirror();
    let path = req.uri.path();
    let query = req.uri.query();
    match path {
        "/compare" => only_get(req).unwrap_or_else(|| {
            if let Err(e) = CompareQuery::parse(query, &[]) {
                return bad(e);
            }
            json(&mirror.compare_reports())
        }),
        "/compare/fields" => only_get(req).unwrap_or_else(|| {
            let q = match CompareQuery::parse(query, &["target", "endpoint"]) {
                Ok(q) => q,
                Err(e) => return bad(e),
            };
            let (target, endpoint) = match (
                CompareQuery::required(q.target, "target"),
                CompareQuery::required(q.endpoint, "endpoint"),
            ) {
                (Ok(t), Ok(e)) => (t, e),
                (Err(e), _) | (_, Err(e)) => return bad(e),
            };
            if !mirror.compare_reports().iter().any(|r| r.target == target) {
                return not_comparing(&target);
            }
            match mirror.compare_fields(&target, &endpoint) {
                Some(fields) => json(&serde_json::json!({ "fields": fields })),
                None => Answer::text(
                    StatusCode::NOT_FOUND,
                    format!("target {target:?} has no compared pairs at endpoint {endpoint:?}\n"),
                ),
            }
        }),
        "/compare/rules" => rules(targets, req).await,
        "/compare/reset" => {
            if req.method != Method::POST {
                return not_allowed("POST");
            }
            let q = match CompareQuery::parse(query, &["target"])
                .and_then(|q| CompareQuery::required(q.target, "target"))
            {
                Ok(t) => t,
                Err(e) => return bad(e),
            };
            match mirror.compare_reset(&q) {
                true => Answer::text(StatusCode::OK, format!("reset {q}\n")),
                false => not_comparing(&q),
            }
        }
        "/compare/export" => only_get(req).unwrap_or_else(|| {
            let target = match CompareQuery::parse(query, &["target"])
                .and_then(|q| CompareQuery::required(q.target, "target"))
            {
                Ok(t) => t,
                Err(e) => return bad(e),
            };
            let Some(samples) = mirror.compare_samples(&target) else {
                return not_comparing(&target);
            };
            let mut body = Vec::new();
            for sample in samples {
                if serde_json::to_writer(&mut body, &*sample).is_ok() {
                    body.push(b'\n');
                }
            }
            Answer::typed(StatusCode::OK, NDJSON, Bytes::from(body))
        }),
        _ => match path.strip_prefix("/compare/samples/") {
            Some(id) => only_get(req).unwrap_or_else(|| {
                let Ok(id) = id.parse::<u64>() else {
                    return Answer::text(
                        StatusCode::NOT_FOUND,
                        format!("{id:?} is not a sample id (a number)\n"),
                    );
                };
                match mirror.compare_sample(id) {
                    Some(sample) => json(&*sample),
                    None => Answer::text(
                        StatusCode::NOT_FOUND,
                        format!("no sample {id} (it may have been let go for newer ones)\n"),
                    ),
                }
            }),
            None => Answer::text(StatusCode::NOT_FOUND, "not found\n"),
        },
    }
}

/// `GET` lists the run-time rules; `PUT` adds one, `DELETE` removes one, kept in the state file.
async fn rules(targets: &RuntimeTargets, req: &Parts) -> Answer {
    if matches!(req.method, Method::GET | Method::HEAD) {
        return json(&targets.mirror().compare_rules());
    }
    let add = match req.method {
        Method::PUT => true,
        Method::DELETE => false,
        _ => return not_allowed("GET, HEAD, PUT, DELETE"),
    };
    let q = match CompareQuery::parse(req.uri.query(), &["target", "ignore", "endpoint"]) {
        Ok(q) => q,
        Err(e) => return bad(e),
    };
    let target = match CompareQuery::required(q.target, "target") {
        Ok(t) => t,
        Err(e) => return bad(e),
    };
    let ignore = match CompareQuery::required(q.ignore, "ignore") {
        Ok(i) => i,
        Err(e) => return bad(e),
    };
    let rule = IgnoreRule {
        ignore,
        endpoint: q.endpoint,
    };
    let shown = match &rule.endpoint {
        Some(e) => format!("{} at {e}", rule.ignore),
        None => rule.ignore.clone(),
    };
    match targets.compare_rule(&target, rule, add).await {
        Ok(true) if add => Answer::text(StatusCode::OK, format!("added {shown} for {target}\n")),
        Ok(true) => Answer::text(StatusCode::OK, format!("removed {shown} for {target}\n")),
        Ok(false) if add => Answer::text(
            StatusCode::OK,
            format!("unchanged {shown} for {target} (already a rule)\n"),
        ),
        Ok(false) => Answer::text(
            StatusCode::NOT_FOUND,
            format!("no rule {shown} for {target}; nothing changed\n"),
        ),
        Err(refused) if refused.status == StatusCode::BAD_REQUEST => bad(refused.message),
        Err(refused) => Answer::text(refused.status, format!("{}\n", refused.message)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parameters_are_checked_by_name() {
        let q = CompareQuery::parse(
            Some("target=canary&endpoint=%2Fapi%2Fusers%2F%7B%7D"),
            &["target", "endpoint"],
        )
        .unwrap();
        assert_eq!(q.target.as_deref(), Some("canary"));
        assert_eq!(q.endpoint.as_deref(), Some("/api/users/{}"));
        assert_eq!(
            CompareQuery::parse(Some("target=a&target=b"), &["target"]).unwrap_err(),
            "target= is given twice"
        );
        assert_eq!(
            CompareQuery::parse(Some("tagret=a"), &["target"]).unwrap_err(),
            "unknown parameter \"tagret\" (want target)"
        );
        assert_eq!(
            CompareQuery::required(None, "target").unwrap_err(),
            "no target parameter: give target=..."
        );
    }
}

//! The bodies of `POST` / `PATCH /v1/endpoints` and `POST .../keys`, checked
//! field by field: upstream's rules (slug pattern, target union, auth mode,
//! the coupling of `runRetentionMode` and `runRetentionDays`, label length),
//! each error naming its field.

use serde_json::{Map, Value};

use super::error::{DeployError, DeployResult};
use super::model::{AuthMode, Retention, Target};

/// Slug length bounds (upstream: 2-50).
pub(crate) const SLUG_MIN: usize = 2;
/// See [`SLUG_MIN`].
pub(crate) const SLUG_MAX: usize = 50;
/// Key label length bounds after trimming (upstream: 1-80).
const LABEL_MAX: usize = 80;
/// A day count far beyond any real retention, to keep date arithmetic sane.
const RETENTION_DAYS_MAX: u64 = 36_500;

/// Labels a deployment may not take: names the hosted service keeps for
/// itself (upstream refuses `www`, `api`, `admin` and others), refused here
/// too so a slug that works locally also works there.
const RESERVED_SLUGS: &[&str] =
    &["www", "api", "admin", "app", "auth", "login", "dashboard", "studio", "docs", "status", "mail", "cdn", "static", "assets"];

/// Fields of a create body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateInput {
    pub(crate) slug: String,
    pub(crate) target: Target,
    pub(crate) auth: AuthMode,
    pub(crate) retention: Retention,
}

/// Fields of an update body; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct UpdateInput {
    pub(crate) target: Option<Target>,
    pub(crate) auth: Option<AuthMode>,
    pub(crate) enabled: Option<bool>,
    pub(crate) retention: Option<Retention>,
}

fn invalid(field: &str, message: impl Into<String>) -> DeployError {
    DeployError::invalid(field, message)
}

/// The body's fields, with a 400 for anything not in `known`, so a typo
/// is not silently ignored.
fn object<'a>(body: &'a Value, expected: &str, known: &[&str]) -> DeployResult<&'a Map<String, Value>> {
    let Value::Object(m) = body else {
        return Err(DeployError::invalid("body", format!("must be a JSON object {expected}")));
    };
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        let hint = if k == "slug" { "; the slug is the URL and cannot change: create a new deployment instead".to_owned() } else { String::new() };
        return Err(invalid(k, format!("is not a field here; send only {}{hint}", known.join(", "))));
    }
    Ok(m)
}

/// A present, non-null field.
fn field<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    m.get(k).filter(|v| !v.is_null())
}

/// Checks a slug: 2-50 of `[a-z0-9-]`, starting and ending with a letter or
/// digit, not reserved.
pub(crate) fn slug(v: Option<&Value>) -> DeployResult<String> {
    let rule = format!("must be {SLUG_MIN}-{SLUG_MAX} characters of a-z, 0-9 and -, starting and ending with a letter or digit (e.g. \"support-bot\")");
    let s = match v {
        Some(Value::String(s)) => s,
        None => return Err(invalid("slug", format!("is required: it {rule}"))),
        Some(_) => return Err(invalid("slug", format!("must be a string that {}", &rule[5..]))),
    };
    let chars_ok = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends_ok = !s.starts_with('-') && !s.ends_with('-');
    if !(SLUG_MIN..=SLUG_MAX).contains(&s.len()) || !chars_ok || !ends_ok {
        return Err(invalid("slug", format!("{:?} is not allowed: it {rule}", s.chars().take(60).collect::<String>())));
    }
    if RESERVED_SLUGS.contains(&s.as_str()) {
        return Err(invalid("slug", format!("\"{s}\" is reserved; pick another")));
    }
    Ok(s.clone())
}

/// A `DeploymentTarget`.
pub(crate) fn target(v: &Value) -> DeployResult<Target> {
    let shape = "{ kind: \"adapter\", adapter: { kind: \"final\" | \"checkpoint\", jobId, step? } } or { kind: \"base_model\", baseModel }";
    let Value::Object(m) = v else { return Err(invalid("target", format!("must be an object: {shape}"))) };
    match m.get("kind").and_then(Value::as_str) {
        Some("adapter") => {
            let Some(Value::Object(a)) = m.get("adapter") else {
                return Err(invalid("target.adapter", "must be an object { kind: \"final\" | \"checkpoint\", jobId, step? }"));
            };
            let job_id = match a.get("jobId") {
                Some(Value::String(j)) if !j.is_empty() => j.clone(),
                _ => return Err(invalid("target.adapter.jobId", "must be the id of one of your jobs (a non-empty string)")),
            };
            match a.get("kind").and_then(Value::as_str) {
                Some("final") => Ok(Target::Final { job_id }),
                Some("checkpoint") => {
                    let step = a
                        .get("step")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| invalid("target.adapter.step", "must be a whole number >= 0: the step a checkpoint was saved at"))?;
                    Ok(Target::Checkpoint { job_id, step })
                }
                _ => Err(invalid("target.adapter.kind", "must be \"final\" or \"checkpoint\"")),
            }
        }
        Some("base_model") => match m.get("baseModel") {
            Some(Value::String(b)) if crate::config::is_local_model(b) => Ok(Target::Base(b.clone())),
            Some(Value::String(b)) => Err(invalid(
                "target.baseModel",
                format!("{:?} is not served here; use one of {}", b.chars().take(80).collect::<String>(), crate::config::local_models()),
            )),
            _ => Err(invalid("target.baseModel", "must be a model name string")),
        },
        _ => Err(invalid("target.kind", format!("must be \"adapter\" or \"base_model\": {shape}"))),
    }
}

fn auth_mode(v: &Value) -> DeployResult<AuthMode> {
    v.as_str().and_then(AuthMode::parse).ok_or_else(|| invalid("authMode", "must be \"none\" or \"fixed_api_key\""))
}

/// `runRetentionMode` and `runRetentionDays` together; `None` when both are absent.
fn retention(m: &Map<String, Value>) -> DeployResult<Option<Retention>> {
    let days = match field(m, "runRetentionDays") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(d) if (1..=RETENTION_DAYS_MAX).contains(&d) => Some(d as u32),
            _ => return Err(invalid("runRetentionDays", format!("must be a whole number of days, 1-{RETENTION_DAYS_MAX}"))),
        },
    };
    let mode = match field(m, "runRetentionMode") {
        None => None,
        Some(Value::String(s)) if matches!(s.as_str(), "unlimited" | "disabled" | "days") => Some(s.as_str()),
        Some(_) => return Err(invalid("runRetentionMode", "must be \"unlimited\", \"disabled\" or \"days\"")),
    };
    match (mode, days) {
        (None, None) => Ok(None),
        (Some("days"), Some(d)) => Ok(Some(Retention::Days(d))),
        (Some("days"), None) => Err(invalid("runRetentionDays", "is required when runRetentionMode is \"days\"")),
        (_, Some(_)) => Err(invalid("runRetentionDays", "is only valid when runRetentionMode is \"days\"")),
        (Some("disabled"), None) => Ok(Some(Retention::Disabled)),
        (Some(_), None) => Ok(Some(Retention::Unlimited)),
    }
}

/// A `CreateDeploymentInput`.
pub(crate) fn create(body: Option<&Value>) -> DeployResult<CreateInput> {
    let expected = "{ slug, target, authMode, runRetentionMode?, runRetentionDays? }";
    let body = body.ok_or_else(|| DeployError::invalid("body", format!("must be a JSON object {expected}")))?;
    let m = object(body, expected, &["slug", "target", "authMode", "runRetentionMode", "runRetentionDays"])?;
    let slug = slug(m.get("slug"))?;
    let target = target(field(m, "target").ok_or_else(|| invalid("target", "is required: what to serve"))?)?;
    let auth = auth_mode(field(m, "authMode").ok_or_else(|| invalid("authMode", "is required: \"none\" or \"fixed_api_key\""))?)?;
    let retention = retention(m)?.unwrap_or(super::model::DEFAULT_RETENTION);
    Ok(CreateInput { slug, target, auth, retention })
}

/// An `UpdateDeploymentInput`.
pub(crate) fn update(body: Option<&Value>) -> DeployResult<UpdateInput> {
    let expected = "{ target?, authMode?, enabled?, runRetentionMode?, runRetentionDays? }";
    let body = body.ok_or_else(|| DeployError::invalid("body", format!("must be a JSON object {expected}")))?;
    let m = object(body, expected, &["target", "authMode", "enabled", "runRetentionMode", "runRetentionDays"])?;
    let enabled = match field(m, "enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("enabled", "must be true or false")),
    };
    Ok(UpdateInput {
        target: field(m, "target").map(target).transpose()?,
        auth: field(m, "authMode").map(auth_mode).transpose()?,
        enabled,
        retention: retention(m)?,
    })
}

/// A `CreateDeploymentKeyInput`'s label, trimmed.
pub(crate) fn key_label(body: Option<&Value>) -> DeployResult<String> {
    let rule = format!("must be a string of 1-{LABEL_MAX} characters, e.g. \"production\"");
    let body = body.ok_or_else(|| DeployError::invalid("body", "must be a JSON object { label }"))?;
    let m = object(body, "{ label }", &["label"])?;
    let label = m.get("label").and_then(Value::as_str).map(str::trim).ok_or_else(|| invalid("label", rule.clone()))?;
    if label.is_empty() || label.chars().count() > LABEL_MAX {
        return Err(invalid("label", rule));
    }
    Ok(label.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err_field(r: DeployResult<impl std::fmt::Debug>) -> String {
        match r.unwrap_err() {
            DeployError::Invalid { field, .. } => field,
            e => panic!("{e}"),
        }
    }

    #[test]
    fn slugs_follow_upstreams_pattern() {
        for ok in ["ab", "support-bot", "a1-2b", &"x".repeat(50)] {
            assert_eq!(slug(Some(&json!(ok))).unwrap(), ok);
        }
        for bad in [json!("a"), json!("-ab"), json!("ab-"), json!("Ab"), json!("a_b"), json!("x".repeat(51)), json!("www"), json!(3)] {
            assert_eq!(err_field(slug(Some(&bad))), "slug", "{bad}");
        }
        assert_eq!(err_field(slug(None)), "slug");
    }

    #[test]
    fn retention_modes_and_days_go_together() {
        let base = json!({"slug": "ab", "target": {"kind": "base_model", "baseModel": "arkor/tiny-gemma3"}, "authMode": "none"});
        let with = |extra: Value| {
            let mut b = base.clone();
            b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            create(Some(&b))
        };
        assert_eq!(with(json!({})).unwrap().retention, Retention::Days(7));
        assert_eq!(with(json!({"runRetentionMode": "days", "runRetentionDays": 3})).unwrap().retention, Retention::Days(3));
        assert_eq!(with(json!({"runRetentionMode": "disabled"})).unwrap().retention, Retention::Disabled);
        assert_eq!(with(json!({"runRetentionMode": "unlimited"})).unwrap().retention, Retention::Unlimited);
        assert_eq!(err_field(with(json!({"runRetentionMode": "days"}))), "runRetentionDays");
        assert_eq!(err_field(with(json!({"runRetentionDays": 3}))), "runRetentionDays");
        assert_eq!(err_field(with(json!({"runRetentionMode": "unlimited", "runRetentionDays": 3}))), "runRetentionDays");
        assert_eq!(err_field(with(json!({"runRetentionMode": "days", "runRetentionDays": 0}))), "runRetentionDays");
        assert_eq!(err_field(with(json!({"runRetentionMode": "hours"}))), "runRetentionMode");
    }

    #[test]
    fn targets_name_the_wrong_field() {
        let cases = [
            (json!({"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": "j"}}), "target.adapter.step"),
            (json!({"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": "j", "step": -1}}), "target.adapter.step"),
            (json!({"kind": "adapter", "adapter": {"kind": "best", "jobId": "j"}}), "target.adapter.kind"),
            (json!({"kind": "adapter", "adapter": {"kind": "final"}}), "target.adapter.jobId"),
            (json!({"kind": "adapter"}), "target.adapter"),
            (json!({"kind": "base_model", "baseModel": "gpt-9"}), "target.baseModel"),
            (json!({"kind": "lora"}), "target.kind"),
            (json!("final"), "target"),
        ];
        for (t, f) in cases {
            assert_eq!(err_field(target(&t)), f, "{t}");
        }
        assert_eq!(
            target(&json!({"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": "j", "step": 4}})).unwrap(),
            Target::Checkpoint { job_id: "j".into(), step: 4 }
        );
    }

    #[test]
    fn updates_refuse_unknown_fields_and_the_slug() {
        assert_eq!(update(Some(&json!({"enabled": false}))).unwrap(), UpdateInput { enabled: Some(false), ..Default::default() });
        let e = update(Some(&json!({"slug": "new"}))).unwrap_err().to_string();
        assert!(e.contains("`slug`") && e.contains("cannot change"), "{e}");
        assert_eq!(err_field(update(Some(&json!({"authmode": "none"})))), "authmode");
        assert_eq!(err_field(update(Some(&json!({"enabled": "yes"})))), "enabled");
        assert_eq!(err_field(update(None)), "body");
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(key_label(Some(&json!({"label": "  prod "}))).unwrap(), "prod");
        assert_eq!(err_field(key_label(Some(&json!({"label": "  "})))), "label");
        assert_eq!(err_field(key_label(Some(&json!({"label": "x".repeat(81)})))), "label");
        assert_eq!(err_field(key_label(Some(&json!({})))), "label");
    }
}

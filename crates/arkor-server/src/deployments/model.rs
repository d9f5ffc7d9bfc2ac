//! A deployment as the server holds it, and its wire shapes (upstream's
//! `DeploymentDto`, `DeploymentKeyDto`, `CreateDeploymentKeyResult`).

use serde_json::{json, Value};

/// What a deployment serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A job's final adapter.
    Final { job_id: String },
    /// A job's checkpoint saved at `step` (upstream cannot serve these; we can).
    Checkpoint { job_id: String, step: u64 },
    /// A base model by name.
    Base(String),
}

impl Target {
    /// `DeploymentTarget` on the wire.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Target::Final { job_id } => json!({ "kind": "adapter", "adapter": { "kind": "final", "jobId": job_id } }),
            Target::Checkpoint { job_id, step } => {
                json!({ "kind": "adapter", "adapter": { "kind": "checkpoint", "jobId": job_id, "step": step } })
            }
            Target::Base(model) => json!({ "kind": "base_model", "baseModel": model }),
        }
    }

    /// The same target as the inference path names it.
    pub(crate) fn to_inference(&self) -> crate::inference::Target {
        use crate::inference::Target as T;
        match self {
            Target::Final { job_id } => T::Adapter { job_id: job_id.clone(), step: None },
            Target::Checkpoint { job_id, step } => T::Adapter { job_id: job_id.clone(), step: Some(*step) },
            Target::Base(model) => T::Base(model.clone()),
        }
    }
}

/// Who may call a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMode {
    /// Anyone who reaches the URL.
    None,
    /// Only with an enabled key of the deployment.
    FixedApiKey,
}

impl AuthMode {
    /// The wire name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::FixedApiKey => "fixed_api_key",
        }
    }

    /// Parses a wire name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(AuthMode::None),
            "fixed_api_key" => Some(AuthMode::FixedApiKey),
            _ => None,
        }
    }
}

/// How long a deployment's runs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retention {
    /// Forever.
    Unlimited,
    /// Never recorded.
    Disabled,
    /// Deleted once older than this many days.
    Days(u32),
}

/// Upstream's default when a create names no retention: `days` / 7.
pub(crate) const DEFAULT_RETENTION: Retention = Retention::Days(7);

impl Retention {
    /// `runRetentionMode` on the wire.
    pub(crate) fn mode(self) -> &'static str {
        match self {
            Retention::Unlimited => "unlimited",
            Retention::Disabled => "disabled",
            Retention::Days(_) => "days",
        }
    }

    /// `runRetentionDays`, only meaningful with `days`.
    pub(crate) fn days(self) -> Option<u32> {
        match self {
            Retention::Days(d) => Some(d),
            _ => None,
        }
    }

    /// From the stored `(mode, days)`; an unreadable row keeps runs rather
    /// than losing them.
    pub(crate) fn from_columns(mode: &str, days: Option<u32>) -> Self {
        match (mode, days) {
            ("disabled", _) => Retention::Disabled,
            ("days", Some(d)) => Retention::Days(d),
            _ => Retention::Unlimited,
        }
    }
}

/// A deployment row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deployment {
    pub(crate) id: String,
    pub(crate) slug: String,
    pub(crate) org_id: String,
    pub(crate) project_id: String,
    pub(crate) target: Target,
    pub(crate) auth: AuthMode,
    pub(crate) enabled: bool,
    pub(crate) retention: Retention,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl Deployment {
    /// `DeploymentDto`.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "slug": self.slug, "orgId": self.org_id, "projectId": self.project_id,
            "target": self.target.to_json(), "authMode": self.auth.as_str(), "urlFormat": "openai_compat",
            "enabled": self.enabled, "customDomain": null, "runRetentionMode": self.retention.mode(),
            "createdAt": self.created_at, "updatedAt": self.updated_at,
        });
        if let Some(d) = self.retention.days() {
            v["runRetentionDays"] = json!(d);
        }
        v
    }
}

/// A key row (never its plaintext, which is not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) prefix: String,
    pub(crate) enabled: bool,
    pub(crate) created_at: String,
    pub(crate) last_used_at: Option<String>,
}

impl Key {
    /// `DeploymentKeyDto`.
    pub(crate) fn to_json(&self) -> Value {
        json!({ "id": self.id, "label": self.label, "prefix": self.prefix, "enabled": self.enabled,
                "createdAt": self.created_at, "lastUsedAt": self.last_used_at })
    }
}

/// One recorded call of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Run {
    /// The HTTP status the call was answered with.
    pub(crate) status: u16,
    /// OpenAI's `finish_reason` when generation ended normally.
    pub(crate) finish_reason: Option<String>,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    /// From the request's arrival to its last byte.
    pub(crate) latency_ms: u64,
    pub(crate) stream: bool,
    /// The key the call authenticated with.
    pub(crate) key_id: Option<String>,
    /// Why it failed, when it did.
    pub(crate) error: Option<String>,
}

/// A run as stored, with its id and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRun {
    pub(crate) id: i64,
    pub(crate) created_at: String,
    pub(crate) run: Run,
}

impl StoredRun {
    /// The run's wire shape (ours: upstream has no runs route).
    pub(crate) fn to_json(&self) -> Value {
        let r = &self.run;
        json!({
            "id": format!("run_{}", self.id), "createdAt": self.created_at, "status": r.status,
            "finishReason": r.finish_reason, "promptTokens": r.prompt_tokens, "completionTokens": r.completion_tokens,
            "totalTokens": r.prompt_tokens + r.completion_tokens, "latencyMs": r.latency_ms, "stream": r.stream,
            "keyId": r.key_id, "error": r.error,
        })
    }
}

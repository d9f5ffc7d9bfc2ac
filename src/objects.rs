//! The plain JS objects that cross the boundary as they are: scope,
//! credentials, project state, an anonymous identity, retry options. Each
//! mirrors a type of `arkor-client` field for field (camelCase in JS).
//! A `TrainerInput` is read field by field from the schema instead
//! ([`trainer_input`]).

use std::time::Duration;

use arkor_client::{Credentials, ProjectState, RetryPolicy, Scope};
use arkor_protocol::TrainerInput;
use napi::bindgen_prelude::{Env, Function, JsObjectValue, JsValue, Object, Unknown};
use napi::ValueType;
use napi_derive::napi;
use serde_json::{Map, Value};

use crate::errors::bad_arg;

/// `v` as upstream puts it in a request body: through the page's own
/// `JSON.stringify` (`toJSON`, `NaN` and `Infinity` as `null`, functions
/// and symbols dropped, a `BigInt` or a cycle throws its `TypeError`).
/// `None` where JSON has no value for it (`undefined`, a function).
pub(crate) fn json_of(env: &Env, v: Unknown) -> napi::Result<Option<Value>> {
    if v.get_type()? == ValueType::Undefined {
        return Ok(None);
    }
    let json: Object = env.get_global()?.get_named_property_unchecked("JSON")?;
    let stringify: Function<Unknown, Option<String>> = json.get_named_property_unchecked("stringify")?;
    let Some(text) = stringify.call(v)? else { return Ok(None) };
    serde_json::from_str(&text).map(Some).map_err(|e| bad_arg("value", e))
}

/// A `TrainerInput` as upstream's `buildJobConfig` reads it: the keys of
/// [`TrainerInput::reads`] by property access (inherited ones too), each
/// value through [`json_of`]. Nothing else of the object is read, so
/// callbacks, signals or anything else kept there never meet JSON. (A
/// `#[napi(object)]` struct would turn `null` into absent, and refuse a
/// mistyped value before the backend can name it.)
pub(crate) fn trainer_input(env: &Env, input: Unknown) -> napi::Result<Value> {
    let input = input.coerce_to_object()?;
    let mut out = Map::new();
    for (key, inner) in TrainerInput::reads() {
        let v: Unknown = input.get_named_property_unchecked(key)?;
        match inner {
            None => {
                if let Some(j) = json_of(env, v)? {
                    out.insert(key.to_owned(), j);
                }
            }
            // `if (input.lora)`, then `input.lora.r` and so on.
            Some(keys) if matches!(v.get_type()?, ValueType::Object | ValueType::Function) => {
                let obj = v.coerce_to_object()?;
                let mut fields = Map::new();
                for k in keys {
                    if let Some(j) = json_of(env, obj.get_named_property_unchecked(k)?)? {
                        fields.insert(k.to_owned(), j);
                    }
                }
                out.insert(key.to_owned(), Value::Object(fields));
            }
            Some(_) => {}
        }
    }
    Ok(Value::Object(out))
}

/// `{ orgSlug, projectSlug }`.
#[napi(object)]
pub struct ScopeObject {
    /// Org slug.
    pub org_slug: String,
    /// Project slug.
    pub project_slug: String,
}

impl From<ScopeObject> for Scope {
    fn from(s: ScopeObject) -> Self {
        Scope { org_slug: s.org_slug, project_slug: s.project_slug }
    }
}

/// `.arkor/state.json`: `{ orgSlug, projectSlug, projectId }`.
#[napi(object)]
pub struct ProjectStateObject {
    /// Org slug.
    pub org_slug: String,
    /// Project slug.
    pub project_slug: String,
    /// Project id.
    pub project_id: String,
}

impl From<ProjectStateObject> for ProjectState {
    fn from(s: ProjectStateObject) -> Self {
        ProjectState { org_slug: s.org_slug, project_slug: s.project_slug, project_id: s.project_id }
    }
}

impl From<ProjectState> for ProjectStateObject {
    fn from(s: ProjectState) -> Self {
        ProjectStateObject { org_slug: s.org_slug, project_slug: s.project_slug, project_id: s.project_id }
    }
}

/// `Credentials` as JS holds it: `mode` says which of the other fields
/// belong (`"anon"`: token, anonymousId, arkorCloudApiUrl, orgSlug;
/// `"oauth"`: accessToken, refreshToken, expiresAt, auth0Domain, audience,
/// clientId, arkorCloudApiUrl?).
#[napi(object)]
pub struct CredentialsObject {
    /// `"anon"` or `"oauth"`.
    pub mode: String,
    /// Anonymous bearer token.
    pub token: Option<String>,
    /// Anonymous identity id.
    pub anonymous_id: Option<String>,
    /// The backend the credentials belong to.
    pub arkor_cloud_api_url: Option<String>,
    /// The anonymous identity's org.
    pub org_slug: Option<String>,
    /// OAuth access token.
    pub access_token: Option<String>,
    /// OAuth refresh token.
    pub refresh_token: Option<String>,
    /// OAuth expiry.
    pub expires_at: Option<f64>,
    /// Auth0 tenant.
    pub auth0_domain: Option<String>,
    /// OAuth audience.
    pub audience: Option<String>,
    /// OAuth client id.
    pub client_id: Option<String>,
}

impl TryFrom<CredentialsObject> for Credentials {
    type Error = napi::Error;

    fn try_from(c: CredentialsObject) -> napi::Result<Self> {
        let mode = c.mode.clone();
        let need = |v: Option<String>, field: &str| {
            v.ok_or_else(|| bad_arg(&format!("credentials.{field}"), format!("required when mode is \"{mode}\"")))
        };
        match c.mode.as_str() {
            "anon" => Ok(Credentials::Anonymous {
                token: need(c.token, "token")?,
                anonymous_id: need(c.anonymous_id, "anonymousId")?,
                arkor_cloud_api_url: need(c.arkor_cloud_api_url, "arkorCloudApiUrl")?,
                org_slug: need(c.org_slug, "orgSlug")?,
            }),
            "oauth" => Ok(Credentials::OAuth {
                access_token: need(c.access_token, "accessToken")?,
                refresh_token: need(c.refresh_token, "refreshToken")?,
                expires_at: c.expires_at.ok_or_else(|| bad_arg("credentials.expiresAt", "required when mode is \"oauth\""))?,
                auth0_domain: need(c.auth0_domain, "auth0Domain")?,
                audience: need(c.audience, "audience")?,
                client_id: need(c.client_id, "clientId")?,
                arkor_cloud_api_url: c.arkor_cloud_api_url,
            }),
            other => Err(bad_arg("credentials.mode", format!("must be \"anon\" or \"oauth\", not {other:?}"))),
        }
    }
}

impl From<Credentials> for CredentialsObject {
    fn from(c: Credentials) -> Self {
        let empty = CredentialsObject {
            mode: String::new(),
            token: None,
            anonymous_id: None,
            arkor_cloud_api_url: None,
            org_slug: None,
            access_token: None,
            refresh_token: None,
            expires_at: None,
            auth0_domain: None,
            audience: None,
            client_id: None,
        };
        match c {
            Credentials::Anonymous { token, anonymous_id, arkor_cloud_api_url, org_slug } => CredentialsObject {
                mode: "anon".into(),
                token: Some(token),
                anonymous_id: Some(anonymous_id),
                arkor_cloud_api_url: Some(arkor_cloud_api_url),
                org_slug: Some(org_slug),
                ..empty
            },
            Credentials::OAuth { access_token, refresh_token, expires_at, auth0_domain, audience, client_id, arkor_cloud_api_url } => {
                CredentialsObject {
                    mode: "oauth".into(),
                    access_token: Some(access_token),
                    refresh_token: Some(refresh_token),
                    expires_at: Some(expires_at),
                    auth0_domain: Some(auth0_domain),
                    audience: Some(audience),
                    client_id: Some(client_id),
                    arkor_cloud_api_url,
                    ..empty
                }
            }
        }
    }
}

/// Any credentials-like object, read only for the backend it names.
#[napi(object)]
pub struct CloudApiUrlObject {
    /// The backend the credentials belong to.
    pub arkor_cloud_api_url: Option<String>,
}

/// What `requestAnonymousToken` resolves: `{ token, anonymousId, kind, orgSlug }`.
#[napi(object)]
pub struct AnonymousTokenObject {
    /// Bearer token.
    pub token: String,
    /// The backend's id for this identity.
    pub anonymous_id: String,
    /// `cli` or `web`.
    pub kind: String,
    /// Slug of the personal org.
    pub org_slug: String,
}

impl From<arkor_client::credentials::AnonymousToken> for AnonymousTokenObject {
    fn from(t: arkor_client::credentials::AnonymousToken) -> Self {
        AnonymousTokenObject { token: t.token, anonymous_id: t.anonymous_id, kind: t.kind, org_slug: t.org_slug }
    }
}

/// How a `CloudApiClient` retries control requests; every field falls back
/// to the default policy (2 retries, 500 ms doubling up to 8 s).
#[napi(object)]
pub struct RetryOptions {
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// Wait before the first retry, in milliseconds.
    pub retry_delay_ms: Option<f64>,
    /// Cap of the computed wait, in milliseconds.
    pub max_retry_delay_ms: Option<f64>,
}

impl From<RetryOptions> for RetryPolicy {
    fn from(o: RetryOptions) -> Self {
        let d = RetryPolicy::default();
        RetryPolicy {
            max_retries: o.max_retries.unwrap_or(d.max_retries),
            initial_delay: millis(o.retry_delay_ms, d.initial_delay),
            max_delay: millis(o.max_retry_delay_ms, d.max_delay),
        }
    }
}

/// A JS millisecond option as a duration; `default` when absent, negative
/// or not finite.
pub(crate) fn millis(v: Option<f64>, default: Duration) -> Duration {
    v.filter(|x| x.is_finite() && *x >= 0.0).map_or(default, |x| Duration::from_secs_f64(x / 1000.0))
}

/// What `fetchCliConfig` resolves: a deployment's OAuth settings (all null: anonymous only).
#[napi(object)]
pub struct CliConfigObject {
    /// The Auth0 tenant's domain.
    pub auth0_domain: Option<String>,
    /// The CLI's OAuth client id.
    pub client_id: Option<String>,
    /// The audience of issued tokens.
    pub audience: Option<String>,
    /// Loopback ports for the OAuth callback.
    pub callback_ports: Vec<u32>,
}

impl From<arkor_client::credentials::CliConfig> for CliConfigObject {
    fn from(c: arkor_client::credentials::CliConfig) -> Self {
        CliConfigObject {
            auth0_domain: c.auth0_domain,
            client_id: c.client_id,
            audience: c.audience,
            callback_ports: c.callback_ports.into_iter().map(u32::from).collect(),
        }
    }
}

/// `InferArgs` without its signal, as `infer` takes it.
#[napi(object)]
pub struct InferArgsObject {
    /// `[{ role, content }]`.
    pub messages: serde_json::Value,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus mass.
    pub top_p: Option<f64>,
    /// Most tokens to generate.
    pub max_tokens: Option<f64>,
    /// Function tools.
    pub tools: Option<serde_json::Value>,
    /// Which tool, if any, must be called.
    pub tool_choice: Option<serde_json::Value>,
    /// The answer's format.
    pub response_format: Option<serde_json::Value>,
    /// vLLM-style constraints.
    pub structured_outputs: Option<serde_json::Value>,
    /// Stream the answer (default true).
    pub stream: Option<bool>,
}

// Both sides spelled out with no `..`: a field added to either struct and
// not to the other does not compile, so the two lists cannot drift.
impl From<InferArgsObject> for arkor_client::job::InferArgs {
    fn from(a: InferArgsObject) -> Self {
        let InferArgsObject { messages, temperature, top_p, max_tokens, tools, tool_choice, response_format, structured_outputs, stream } = a;
        arkor_client::job::InferArgs { messages, temperature, top_p, max_tokens, tools, tool_choice, response_format, structured_outputs, stream }
    }
}

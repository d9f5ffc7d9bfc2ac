//! `CloudApiClient` for JS, and the credentials and project-state helpers.

use std::collections::HashMap;
use std::path::PathBuf;

use arkor_client::{CloudApiClient, Credentials, ResponseStream, RetryPolicy, Scope};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

use crate::abort::AbortHandle;
use crate::errors::{bad_arg, IntoNapi};
use crate::objects::{AnonymousTokenObject, CliConfigObject, CloudApiUrlObject, CredentialsObject, ProjectStateObject, RetryOptions, ScopeObject};
use crate::response::{abortable, NativeResponse};

/// A client bound to one backend and identity.
#[napi]
pub struct NativeClient {
    pub(crate) inner: CloudApiClient,
}

#[napi]
impl NativeClient {
    /// `retry` tunes how control requests are retried (tests shorten it).
    #[napi(constructor)]
    pub fn new(base_url: String, credentials: CredentialsObject, retry: Option<RetryOptions>) -> Result<Self> {
        let creds = Credentials::try_from(credentials)?;
        let policy = retry.map(RetryPolicy::from).unwrap_or_default();
        Ok(Self { inner: CloudApiClient::new(&base_url, &creds).with_retry_policy(policy) })
    }

    /// The backend URL, without trailing slash.
    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.inner.base_url().to_owned()
    }

    /// `method path?query` with an optional JSON body, sent once; resolves
    /// the JSON answer (`null` for an empty body).
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn call<'env>(
        &self,
        env: &'env Env,
        method: String,
        path: String,
        query: HashMap<String, String>,
        body: Option<Value>,
    ) -> Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let method: arkor_client::http::Method = method.parse().map_err(|e| bad_arg("method", e))?;
        env.spawn_future(async move {
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            client.call(method, &path, &q, body.as_ref()).await.napi()
        })
    }

    /// `GET /v1/me` → who the token belongs to.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn me<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        env.spawn_future(async move { client.me().await.napi() })
    }

    /// `GET /v1/projects?orgSlug` → `{ org, projects }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn list_projects<'env>(&self, env: &'env Env, org_slug: String) -> Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        env.spawn_future(async move { client.list_projects(&org_slug).await.napi() })
    }

    /// `POST /v1/projects?orgSlug` → the created project.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn create_project<'env>(&self, env: &'env Env, org_slug: String, name: String, slug: String) -> Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        env.spawn_future(async move { client.create_project(&org_slug, &name, &slug).await.napi() })
    }

    /// `POST /v1/jobs` → `{ job }`, with a fresh `Idempotency-Key` kept
    /// across this call's retries. `config` is sent as `JSON.stringify`
    /// writes it, as upstream's client sends it.
    #[napi(ts_args_type = "scope: ScopeObject, name: string, config: unknown", ts_return_type = "Promise<unknown>")]
    pub fn create_job<'env>(&self, env: &'env Env, scope: ScopeObject, name: String, config: Unknown) -> Result<PromiseRaw<'env, Value>> {
        let config = crate::objects::json_of(env, config)?.unwrap_or(Value::Null);
        let client = self.inner.clone();
        let scope = Scope::from(scope);
        let key = arkor_client::retry::new_idempotency_key();
        env.spawn_future(async move { client.create_job(&scope, &name, &config, &key).await.napi() })
    }

    /// `GET /v1/jobs` → `{ jobs }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn list_jobs<'env>(&self, env: &'env Env, scope: ScopeObject) -> Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let scope = Scope::from(scope);
        env.spawn_future(async move { client.list_jobs(&scope).await.napi() })
    }

    /// `GET /v1/jobs/:id` → `{ job, events? }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn get_job<'env>(&self, env: &'env Env, job_id: String, scope: ScopeObject) -> Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let scope = Scope::from(scope);
        env.spawn_future(async move { client.get_job(&job_id, &scope).await.napi() })
    }

    /// `POST /v1/jobs/:id/cancel`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn cancel_job<'env>(&self, env: &'env Env, job_id: String, scope: ScopeObject) -> Result<PromiseRaw<'env, ()>> {
        let client = self.inner.clone();
        let scope = Scope::from(scope);
        env.spawn_future(async move { client.cancel_job(&job_id, &scope).await.napi() })
    }

    /// `POST /v1/inference/chat` with `body` in `scope`.
    #[napi(ts_return_type = "Promise<NativeResponse>")]
    pub fn chat<'env>(&self, env: &'env Env, scope: ScopeObject, body: Value, abort: &AbortHandle) -> Result<PromiseRaw<'env, NativeResponse>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        abortable(env, abort.token.clone(), async move { client.chat(&scope, &body).await.map(ResponseStream::new) })
    }

    /// Opens a job's event stream as a raw response.
    #[napi(ts_return_type = "Promise<NativeResponse>")]
    pub fn open_event_stream<'env>(
        &self,
        env: &'env Env,
        job_id: String,
        scope: ScopeObject,
        last_event_id: Option<String>,
        abort: &AbortHandle,
    ) -> Result<PromiseRaw<'env, NativeResponse>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        abortable(env, abort.token.clone(), async move {
            client.open_event_stream(&job_id, &scope, last_event_id.as_deref()).await.map(ResponseStream::new)
        })
    }
}

/// Where credentials are stored.
#[napi]
pub fn credentials_path() -> String {
    arkor_client::credentials::credentials_path().display().to_string()
}

/// The stored credentials, or `null`.
#[napi(ts_return_type = "Promise<CredentialsObject | null>")]
pub fn read_credentials(env: &Env) -> Result<PromiseRaw<'_, Option<CredentialsObject>>> {
    env.spawn_future(async move {
        let c = arkor_client::credentials::read_credentials().await.napi()?;
        Ok(c.map(CredentialsObject::from))
    })
}

/// Stores credentials atomically, mode 0600.
#[napi(ts_return_type = "Promise<void>")]
pub fn write_credentials(env: &Env, credentials: CredentialsObject) -> Result<PromiseRaw<'_, ()>> {
    let c = Credentials::try_from(credentials)?;
    env.spawn_future(async move { arkor_client::credentials::write_credentials(&c).await.napi() })
}

/// The hosted backend: the URL used when neither `ARKOR_CLOUD_API_URL` nor the
/// credentials name one.
#[napi]
pub const HOSTED_CLOUD_API_URL: &str = arkor_client::credentials::DEFAULT_CLOUD_API_URL;

/// The backend URL for `credentials` (or none). Only their
/// `arkorCloudApiUrl` matters, so partial objects are fine, as upstream.
#[napi]
pub fn default_arkor_cloud_api_url(credentials: Option<CloudApiUrlObject>) -> String {
    arkor_client::credentials::cloud_api_url_from(credentials.and_then(|c| c.arkor_cloud_api_url).as_deref())
}

/// A new anonymous identity from `base_url`.
#[napi(ts_return_type = "Promise<AnonymousTokenObject>")]
pub fn request_anonymous_token(env: &Env, base_url: String, kind: String) -> Result<PromiseRaw<'_, AnonymousTokenObject>> {
    env.spawn_future(async move {
        let t = arkor_client::credentials::request_anonymous_token(&base_url, &kind).await.napi()?;
        Ok(t.into())
    })
}

/// `GET /v1/auth/cli/config` of `base_url`: whether it signs CLIs in with OAuth.
#[napi(ts_return_type = "Promise<CliConfigObject>")]
pub fn fetch_cli_config(env: &Env, base_url: String) -> Result<PromiseRaw<'_, CliConfigObject>> {
    env.spawn_future(async move { Ok(arkor_client::credentials::fetch_cli_config(&base_url).await.napi()?.into()) })
}

/// Stored credentials or a new stored anonymous identity.
#[napi(ts_return_type = "Promise<CredentialsObject>")]
pub fn ensure_credentials(env: &Env) -> Result<PromiseRaw<'_, CredentialsObject>> {
    env.spawn_future(async move { Ok(arkor_client::credentials::ensure_credentials().await.napi()?.into()) })
}

/// `<cwd>/.arkor/state.json`.
#[napi]
pub fn state_path(cwd: String) -> String {
    arkor_client::state::state_path(&PathBuf::from(cwd)).display().to_string()
}

/// The project state of `cwd`, or `null`.
#[napi(ts_return_type = "Promise<ProjectStateObject | null>")]
pub fn read_state(env: &Env, cwd: String) -> Result<PromiseRaw<'_, Option<ProjectStateObject>>> {
    env.spawn_future(async move {
        let s = arkor_client::state::read_state(&PathBuf::from(cwd)).await.napi()?;
        Ok(s.map(ProjectStateObject::from))
    })
}

/// Writes the project state for `cwd`.
#[napi(ts_return_type = "Promise<void>")]
pub fn write_state(env: &Env, state: ProjectStateObject, cwd: String) -> Result<PromiseRaw<'_, ()>> {
    let s = arkor_client::ProjectState::from(state);
    env.spawn_future(async move { arkor_client::state::write_state(&s, &PathBuf::from(cwd)).await.napi() })
}

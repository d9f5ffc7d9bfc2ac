//! `CloudApiClient` for JS: JSON routes and the two streaming ones.

use std::path::PathBuf;

use arkor_client::{CloudApiClient, Credentials, Error, Scope};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

use crate::abort::AbortHandle;
use crate::errors::{bad_arg, IntoNapi};
use crate::response::NativeResponse;

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| bad_arg(what, e))
}

/// A client bound to one backend and identity.
#[napi]
pub struct NativeClient {
    inner: CloudApiClient,
}

#[napi]
impl NativeClient {
    /// `credentials` is the credentials object as JSON.
    #[napi(constructor)]
    pub fn new(base_url: String, credentials: String) -> Result<Self> {
        let creds: Credentials = parse("credentials", &credentials)?;
        Ok(Self { inner: CloudApiClient::new(&base_url, &creds) })
    }

    /// The backend URL, without trailing slash.
    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.inner.base_url().to_owned()
    }

    /// `method path?query` with an optional JSON body; resolves the JSON
    /// answer as text (`null` for an empty body).
    #[napi(ts_args_type = "method: string, path: string, query: string, body: string | null", ts_return_type = "Promise<string>")]
    pub fn call<'env>(&self, env: &'env Env, method: String, path: String, query: String, body: Option<String>) -> Result<PromiseRaw<'env, String>> {
        let client = self.inner.clone();
        let method = reqwest_method(&method)?;
        let query: Vec<(String, String)> = parse("query", &query)?;
        let body: Option<Value> = body.map(|b| parse("body", &b)).transpose()?;
        env.spawn_future(async move {
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let v = client.call(method, &path, &q, body.as_ref()).await.napi()?;
            Ok(v.to_string())
        })
    }

    /// `POST /v1/inference/chat` with `body` (JSON) in `scope` (JSON).
    #[napi(ts_return_type = "Promise<NativeResponse>")]
    pub fn chat<'env>(&self, env: &'env Env, scope: String, body: String, abort: &AbortHandle) -> Result<PromiseRaw<'env, NativeResponse>> {
        let client = self.inner.clone();
        let scope: Scope = parse("scope", &scope)?;
        let body: Value = parse("body", &body)?;
        let token = abort.token.clone();
        env.spawn_future(async move {
            let res = tokio::select! {
                _ = token.cancelled() => Err(Error::Aborted),
                r = client.chat(&scope, &body) => r,
            };
            Ok(NativeResponse::new(arkor_client::ResponseStream::new(res.napi()?), token))
        })
    }

    /// Opens a job's event stream as a raw response.
    #[napi(ts_return_type = "Promise<NativeResponse>")]
    pub fn open_event_stream<'env>(
        &self,
        env: &'env Env,
        job_id: String,
        scope: String,
        last_event_id: Option<String>,
        abort: &AbortHandle,
    ) -> Result<PromiseRaw<'env, NativeResponse>> {
        let client = self.inner.clone();
        let scope: Scope = parse("scope", &scope)?;
        let token = abort.token.clone();
        env.spawn_future(async move {
            let res = tokio::select! {
                _ = token.cancelled() => Err(Error::Aborted),
                r = client.open_event_stream(&job_id, &scope, last_event_id.as_deref()) => r,
            };
            Ok(NativeResponse::new(arkor_client::ResponseStream::new(res.napi()?), token))
        })
    }
}

fn reqwest_method(m: &str) -> Result<arkor_client::http::Method> {
    m.parse().map_err(|e| bad_arg("method", e))
}

/// Where credentials are stored.
#[napi]
pub fn credentials_path() -> String {
    arkor_client::credentials::credentials_path().display().to_string()
}

/// Stored credentials as JSON, or `null`.
#[napi(ts_return_type = "Promise<string | null>")]
pub fn read_credentials(env: &Env) -> Result<PromiseRaw<'_, Option<String>>> {
    env.spawn_future(async move {
        let c = arkor_client::credentials::read_credentials().await.napi()?;
        Ok(c.map(|c| serde_json::to_string(&c).expect("serialises")))
    })
}

/// Stores credentials (JSON) atomically, mode 0600.
#[napi(ts_return_type = "Promise<void>")]
pub fn write_credentials(env: &Env, credentials: String) -> Result<PromiseRaw<'_, ()>> {
    let c: Credentials = parse("credentials", &credentials)?;
    env.spawn_future(async move { arkor_client::credentials::write_credentials(&c).await.napi() })
}

/// The backend URL for `credentials` (JSON or null).
#[napi]
pub fn default_arkor_cloud_api_url(credentials: Option<String>) -> Result<String> {
    let c: Option<Credentials> = credentials.map(|c| parse("credentials", &c)).transpose()?;
    Ok(arkor_client::credentials::default_cloud_api_url(c.as_ref()))
}

/// A new anonymous identity from `base_url`, as JSON.
#[napi(ts_return_type = "Promise<string>")]
pub fn request_anonymous_token(env: &Env, base_url: String, kind: String) -> Result<PromiseRaw<'_, String>> {
    env.spawn_future(async move {
        let t = arkor_client::credentials::request_anonymous_token(&base_url, &kind).await.napi()?;
        Ok(serde_json::to_string(&t).expect("serialises"))
    })
}

/// Stored credentials or a new stored anonymous identity, as JSON.
#[napi(ts_return_type = "Promise<string>")]
pub fn ensure_credentials(env: &Env) -> Result<PromiseRaw<'_, String>> {
    env.spawn_future(async move {
        let c = arkor_client::credentials::ensure_credentials().await.napi()?;
        Ok(serde_json::to_string(&c).expect("serialises"))
    })
}

/// `<cwd>/.arkor/state.json`.
#[napi]
pub fn state_path(cwd: String) -> String {
    arkor_client::state::state_path(&PathBuf::from(cwd)).display().to_string()
}

/// The project state of `cwd` as JSON, or `null`.
#[napi(ts_return_type = "Promise<string | null>")]
pub fn read_state(env: &Env, cwd: String) -> Result<PromiseRaw<'_, Option<String>>> {
    env.spawn_future(async move {
        let s = arkor_client::state::read_state(&PathBuf::from(cwd)).await.napi()?;
        Ok(s.map(|s| serde_json::to_string(&s).expect("serialises")))
    })
}

/// Writes the project state (JSON) for `cwd`.
#[napi(ts_return_type = "Promise<void>")]
pub fn write_state(env: &Env, state: String, cwd: String) -> Result<PromiseRaw<'_, ()>> {
    let s: arkor_client::ProjectState = parse("state", &state)?;
    env.spawn_future(async move { arkor_client::state::write_state(&s, &PathBuf::from(cwd)).await.napi() })
}

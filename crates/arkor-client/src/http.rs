//! The HTTP client for the Arkor cloud API (SPEC §3–§4).

use std::sync::Arc;

use futures::StreamExt;
pub use reqwest::Method;
use reqwest::{RequestBuilder, Response};
use serde_json::{json, Value};

use crate::credentials::Credentials;
use crate::deprecation::{report_once, DeprecationNotice};
use crate::error::{Error, Result};

/// `org` + `project` query scope of most routes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Org slug.
    pub org_slug: String,
    /// Project slug.
    pub project_slug: String,
}

impl Scope {
    fn query(&self) -> [(&'static str, &str); 2] {
        [("orgSlug", &self.org_slug), ("projectSlug", &self.project_slug)]
    }
}

/// `X-Arkor-Client` value.
pub fn client_header() -> String {
    format!("arkor/{}", crate::SDK_VERSION)
}

/// Called with each deprecation notice a response carries.
pub type DeprecationSink = Arc<dyn Fn(&DeprecationNotice) + Send + Sync>;

/// A client bound to one backend and one identity.
#[derive(Clone)]
pub struct CloudApiClient {
    http: reqwest::Client,
    base_url: String,
    token: String,
    on_deprecation: DeprecationSink,
}

impl std::fmt::Debug for CloudApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudApiClient").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl CloudApiClient {
    /// A client for `base_url` authenticating with `credentials`; deprecation
    /// notices go to stderr, once per process.
    pub fn new(base_url: &str, credentials: &Credentials) -> Self {
        Self::with_token(base_url, credentials.token())
    }

    /// A client for `base_url` sending `token` as the bearer token.
    pub fn with_token(base_url: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::builder().build().expect("HTTP client builds"),
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            on_deprecation: Arc::new(report_once),
        }
    }

    /// Replaces where deprecation notices go.
    pub fn on_deprecation(mut self, sink: DeprecationSink) -> Self {
        self.on_deprecation = sink;
        self
    }

    /// The backend this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base_url, path))
            .bearer_auth(&self.token)
            .header("X-Arkor-Client", client_header())
    }

    /// Sends, reports deprecation, and turns non-2xx into [`Error::Api`].
    async fn send(&self, req: RequestBuilder) -> Result<Response> {
        let req = req.build().expect("request builds");
        let url = req.url().to_string();
        let res = self.http.execute(req).await.map_err(|source| Error::Http { url, source })?;
        if let Some(n) = DeprecationNotice::from_headers(res.headers()) {
            (self.on_deprecation)(&n);
        }
        if !res.status().is_success() {
            return Err(api_error_from_response(res).await);
        }
        Ok(res)
    }

    async fn send_json(&self, req: RequestBuilder) -> Result<Value> {
        let res = self.send(req).await?;
        let url = res.url().to_string();
        let bytes = res.bytes().await.map_err(|source| Error::Http { url: url.clone(), source })?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode { what: url, detail: e.to_string() })
    }

    /// Any JSON route: `method path?query` with an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<&Value>) -> Result<Value> {
        let mut req = self.request(method, path).query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send_json(req).await
    }

    /// `GET /v1/projects?orgSlug` → `{ org, projects }`.
    pub async fn list_projects(&self, org_slug: &str) -> Result<Value> {
        self.call(Method::GET, "/v1/projects", &[("orgSlug", org_slug)], None).await
    }

    /// `POST /v1/projects?orgSlug` → the created project.
    pub async fn create_project(&self, org_slug: &str, name: &str, slug: &str) -> Result<Value> {
        let body = json!({ "name": name, "slug": slug });
        let v = self.call(Method::POST, "/v1/projects", &[("orgSlug", org_slug)], Some(&body)).await?;
        Ok(v.get("project").cloned().unwrap_or(v))
    }

    /// `POST /v1/jobs` → `{ job }`.
    pub async fn create_job(&self, scope: &Scope, name: &str, config: &Value) -> Result<Value> {
        let body = json!({ "name": name, "config": config });
        let v = self.call(Method::POST, "/v1/jobs", &scope.query(), Some(&body)).await?;
        if !v.get("job").is_some_and(|j| j.get("id").is_some_and(Value::is_string)) {
            return Err(Error::Decode { what: "POST /v1/jobs".into(), detail: "no `job.id` in the response".into() });
        }
        Ok(v)
    }

    /// `GET /v1/jobs` → `{ jobs }`.
    pub async fn list_jobs(&self, scope: &Scope) -> Result<Value> {
        self.call(Method::GET, "/v1/jobs", &scope.query(), None).await
    }

    /// `GET /v1/jobs/:id` → `{ job, events? }`.
    pub async fn get_job(&self, job_id: &str, scope: &Scope) -> Result<Value> {
        self.call(Method::GET, &format!("/v1/jobs/{}", enc(job_id)), &scope.query(), None).await
    }

    /// `POST /v1/jobs/:id/cancel`.
    pub async fn cancel_job(&self, job_id: &str, scope: &Scope) -> Result<()> {
        self.call(Method::POST, &format!("/v1/jobs/{}/cancel", enc(job_id)), &scope.query(), None).await.map(|_| ())
    }

    /// Opens `GET /v1/jobs/:id/events/stream`, resuming after `last_event_id`.
    pub async fn open_event_stream(&self, job_id: &str, scope: &Scope, last_event_id: Option<&str>) -> Result<Response> {
        let mut req = self
            .request(Method::GET, &format!("/v1/jobs/{}/events/stream", enc(job_id)))
            .query(&scope.query())
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        self.send(req).await
    }

    /// `POST /v1/inference/chat`; the response is returned unread so the
    /// caller can stream it.
    pub async fn chat(&self, scope: &Scope, body: &Value) -> Result<Response> {
        self.send(self.request(Method::POST, "/v1/inference/chat").query(&scope.query()).json(body)).await
    }
}

fn enc(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds the error for a non-2xx response: the body's `error` field, else
/// the body text, else `cloud-api <status>`; 426 says how to upgrade.
pub async fn api_error_from_response(res: Response) -> Error {
    let status = res.status().as_u16();
    let mut body = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
    }
    api_error(status, &String::from_utf8_lossy(&body))
}

/// See [`api_error_from_response`].
pub fn api_error(status: u16, text: &str) -> Error {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let field = parsed.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str).filter(|s| !s.is_empty());
    if status == 426 {
        let upgrade = upgrade_command();
        let message = match field {
            Some(e) => format!("{e} This version of the arkor SDK is no longer supported: upgrade it with `{upgrade}`."),
            None => format!("This version of the arkor SDK is no longer supported by the cloud API: upgrade it with `{upgrade}`."),
        };
        return Error::Api { status, message };
    }
    let message = match (field, text.is_empty()) {
        (Some(e), _) => e.to_owned(),
        (None, false) => text.to_owned(),
        (None, true) => format!("cloud-api {status}"),
    };
    Error::Api { status, message }
}

/// The upgrade command for the package manager that launched us.
fn upgrade_command() -> &'static str {
    let ua = std::env::var("npm_config_user_agent").unwrap_or_default();
    match ua.split('/').next() {
        Some("pnpm") => "pnpm add arkor@latest",
        Some("yarn") => "yarn add arkor@latest",
        Some("bun") => "bun add arkor@latest",
        _ => "npm install arkor@latest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_message_precedence() {
        assert_eq!(api_error(400, r#"{"error":"bad model"}"#).to_string(), "bad model");
        assert_eq!(api_error(500, "boom").to_string(), "boom");
        assert_eq!(api_error(502, "").to_string(), "cloud-api 502");
        assert_eq!(api_error(400, r#"{"error":""}"#).to_string(), r#"{"error":""}"#);
        let up = api_error(426, "").to_string();
        assert!(up.contains("arkor@latest"), "{up}");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
        assert_eq!(enc("job_1-x.y~"), "job_1-x.y~");
    }
}

/// A response whose body is read chunk by chunk, as it arrives.
pub struct ResponseStream {
    /// HTTP status.
    pub status: u16,
    /// Reason phrase.
    pub status_text: String,
    /// Headers in arrival order.
    pub headers: Vec<(String, String)>,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    url: String,
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream").field("status", &self.status).field("url", &self.url).finish_non_exhaustive()
    }
}

impl ResponseStream {
    /// Wraps a response without reading its body.
    pub fn new(res: Response) -> Self {
        let status = res.status();
        let headers = res
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let url = res.url().to_string();
        Self {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_owned(),
            headers,
            body: res.bytes_stream().boxed(),
            url,
        }
    }

    /// The next chunk of the body; `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        match self.body.next().await {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(source)) => Err(Error::Http { url: self.url.clone(), source }),
        }
    }
}

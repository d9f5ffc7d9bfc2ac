//! The HTTP client for the Arkor cloud API (docs/PROTOCOL.md).

use std::sync::Arc;

use futures::StreamExt;
pub use reqwest::Method;
use reqwest::{RequestBuilder, Response};
use serde_json::{json, Value};

use crate::credentials::Credentials;
use crate::deprecation::{report_once, DeprecationNotice};
use crate::error::{Error, Result};
use crate::retry::{with_retries, Failure, RetryPolicy};
use crate::wire::{api_error_from_response, client_header, enc};

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
    pub(crate) fn query(&self) -> [(&'static str, &str); 2] {
        [("orgSlug", &self.org_slug), ("projectSlug", &self.project_slug)]
    }
}

/// Called with each deprecation notice a response carries.
pub type DeprecationSink = Arc<dyn Fn(&DeprecationNotice) + Send + Sync>;

/// How long one try of a control request (projects, jobs, a cancel) may take, answer
/// included: a backend that accepts the connection and never answers fails the try
/// (and the retry policy decides what next) instead of hanging the caller. Chat
/// requests are not bounded: a long generation may rightly take longer.
pub const CONTROL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long an idle connection stays in the pool: well under the local server's
/// wait for a request head, after which it closes the connection.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(arkor_protocol::REQUEST_HEAD_TIMEOUT.as_secs() * 2 / 3);

/// A client bound to one backend and one identity.
#[derive(Clone)]
pub struct CloudApiClient {
    http: reqwest::Client,
    base_url: String,
    token: String,
    on_deprecation: DeprecationSink,
    retry: RetryPolicy,
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
            http: reqwest::Client::builder().pool_idle_timeout(POOL_IDLE_TIMEOUT).build().expect("HTTP client builds"),
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            on_deprecation: Arc::new(report_once),
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces where deprecation notices go.
    pub fn on_deprecation(mut self, sink: DeprecationSink) -> Self {
        self.on_deprecation = sink;
        self
    }

    /// Replaces how control requests are retried (see [`crate::retry`]).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
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

    /// Sends once, reports deprecation, and turns non-2xx into [`Error::Api`].
    async fn send(&self, req: RequestBuilder) -> Result<Response> {
        self.send_once(req).await.map_err(|f| f.error)
    }

    async fn send_once(&self, req: RequestBuilder) -> Result<Response, Failure> {
        let req = req.build().expect("request builds");
        let url = req.url().to_string();
        let res = self.http.execute(req).await.map_err(|source| Failure::transport(Error::Http { url, source }))?;
        if let Some(n) = DeprecationNotice::from_headers(res.headers()) {
            (self.on_deprecation)(&n);
        }
        let status = res.status().as_u16();
        if !res.status().is_success() {
            let headers = res.headers().clone();
            return Err(Failure::status(api_error_from_response(res).await, status, &headers));
        }
        Ok(res)
    }

    /// One request and its JSON answer (`null` for an empty body).
    async fn exchange_json(&self, req: RequestBuilder) -> Result<Value, Failure> {
        let res = self.send_once(req).await?;
        let url = res.url().to_string();
        let bytes = res.bytes().await.map_err(|source| Failure::transport(Error::Http { url: url.clone(), source }))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Failure::fatal(Error::Decode { what: url, detail: e.to_string() }))
    }

    /// A control request under this client's retry policy, each try bounded by
    /// [`CONTROL_TIMEOUT`].
    async fn control(&self, req: RequestBuilder) -> Result<Value> {
        let req = req.timeout(CONTROL_TIMEOUT);
        with_retries(&self.retry, || self.exchange_json(req.try_clone().expect("JSON requests clone"))).await
    }

    fn build(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<&Value>) -> RequestBuilder {
        let req = self.request(method, path).query(query);
        match body {
            Some(b) => req.json(b),
            None => req,
        }
    }

    /// Any JSON route: `method path?query` with an optional JSON body. Sent
    /// once: whether a route is safe to repeat is the caller's to know.
    pub async fn call(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<&Value>) -> Result<Value> {
        self.exchange_json(self.build(method, path, query, body)).await.map_err(|f| f.error)
    }

    /// `GET /v1/me` → who the token belongs to. Sent once, as `arkor whoami` reports
    /// the first answer whatever it is.
    pub async fn me(&self) -> Result<Value> {
        let req = self.build(Method::GET, "/v1/me", &[], None).timeout(CONTROL_TIMEOUT);
        self.exchange_json(req).await.map_err(|f| f.error)
    }

    /// `GET /v1/projects?orgSlug` → `{ org, projects }`.
    pub async fn list_projects(&self, org_slug: &str) -> Result<Value> {
        self.control(self.build(Method::GET, "/v1/projects", &[("orgSlug", org_slug)], None)).await
    }

    /// `POST /v1/projects?orgSlug` → the created project. A retry after a
    /// lost answer meets 409, which the project bootstrap already handles.
    pub async fn create_project(&self, org_slug: &str, name: &str, slug: &str) -> Result<Value> {
        let body = json!({ "name": name, "slug": slug });
        let v = self.control(self.build(Method::POST, "/v1/projects", &[("orgSlug", org_slug)], Some(&body))).await?;
        Ok(v.get("project").cloned().unwrap_or(v))
    }

    /// `POST /v1/jobs` → `{ job }`. `idempotency_key` is sent as
    /// `Idempotency-Key` on every attempt, so a retry after a lost answer
    /// gets the job the first attempt created instead of a second one.
    pub async fn create_job(&self, scope: &Scope, name: &str, config: &Value, idempotency_key: &str) -> Result<Value> {
        let body = json!({ "name": name, "config": config });
        let req = self.build(Method::POST, "/v1/jobs", &scope.query(), Some(&body)).header("Idempotency-Key", idempotency_key);
        let v = self.control(req).await?;
        if !v.get("job").is_some_and(|j| j.get("id").is_some_and(Value::is_string)) {
            return Err(Error::Decode { what: "POST /v1/jobs".into(), detail: "no `job.id` in the response".into() });
        }
        Ok(v)
    }

    /// `GET /v1/jobs` → `{ jobs }`.
    pub async fn list_jobs(&self, scope: &Scope) -> Result<Value> {
        self.control(self.build(Method::GET, "/v1/jobs", &scope.query(), None)).await
    }

    /// `GET /v1/jobs/:id` → `{ job, events? }`.
    pub async fn get_job(&self, job_id: &str, scope: &Scope) -> Result<Value> {
        self.control(self.build(Method::GET, &format!("/v1/jobs/{}", enc(job_id)), &scope.query(), None)).await
    }

    /// `POST /v1/jobs/:id/cancel`.
    pub async fn cancel_job(&self, job_id: &str, scope: &Scope) -> Result<()> {
        let req = self.build(Method::POST, &format!("/v1/jobs/{}/cancel", enc(job_id)), &scope.query(), None);
        self.control(req).await.map(|_| ())
    }

    /// Opens `GET /v1/jobs/:id/events/stream`, resuming after `last_event_id`.
    /// Not retried here: the trainer's reconnect loop owns that decision.
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
    /// caller can stream it. Sent once: it is the user's own call.
    pub async fn chat(&self, scope: &Scope, body: &Value) -> Result<Response> {
        self.send(self.request(Method::POST, "/v1/inference/chat").query(&scope.query()).json(body)).await
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

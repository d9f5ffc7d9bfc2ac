//! `~/.arkor/credentials.json`: who the SDK talks to the backend as.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{read_optional, write_atomic};
use crate::wire::client_header;
use crate::retry::{with_retries, Failure, RetryPolicy};

/// The backend used when neither `ARKOR_CLOUD_API_URL` nor the credentials
/// name one.
pub const DEFAULT_CLOUD_API_URL: &str = "https://api.arkor.ai";

/// Stored credentials, discriminated by `mode` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode")]
pub enum Credentials {
    /// An anonymous identity made by `POST /v1/auth/anonymous`.
    #[serde(rename = "anon", rename_all = "camelCase")]
    Anonymous {
        /// Bearer token.
        token: String,
        /// The backend's id for this identity.
        anonymous_id: String,
        /// The backend the identity belongs to.
        arkor_cloud_api_url: String,
        /// The personal org made at sign-up.
        org_slug: String,
    },
    /// Tokens from an OAuth login.
    #[serde(rename = "oauth", rename_all = "camelCase")]
    OAuth {
        /// Bearer token.
        access_token: String,
        /// Refresh token.
        refresh_token: String,
        /// Expiry, seconds or milliseconds since the epoch as the issuer wrote it.
        expires_at: f64,
        /// The Auth0 tenant.
        auth0_domain: String,
        /// The API audience.
        audience: String,
        /// The OAuth client id.
        client_id: String,
        /// The backend logged in against, when recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arkor_cloud_api_url: Option<String>,
    },
}

impl Credentials {
    /// The bearer token to send.
    pub fn token(&self) -> &str {
        match self {
            Credentials::Anonymous { token, .. } => token,
            Credentials::OAuth { access_token, .. } => access_token,
        }
    }

    /// The backend these credentials were issued by, if recorded.
    pub fn cloud_api_url(&self) -> Option<&str> {
        match self {
            Credentials::Anonymous { arkor_cloud_api_url, .. } => Some(arkor_cloud_api_url),
            Credentials::OAuth { arkor_cloud_api_url, .. } => arkor_cloud_api_url.as_deref(),
        }
    }
}

/// `~/.arkor/credentials.json`.
pub fn credentials_path() -> PathBuf {
    arkor_settings::arkor_dir().join("credentials.json")
}

/// Reads the stored credentials. `Ok(None)` when there are none or the file
/// is not valid credentials JSON (it will be replaced); an `Err` when the file
/// exists but cannot be read (permissions, a directory), which must never be
/// overwritten.
pub async fn read_credentials() -> Result<Option<Credentials>> {
    let path = credentials_path();
    let Some(bytes) = read_optional(&path).await? else { return Ok(None) };
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Stores credentials atomically with mode 0600.
pub async fn write_credentials(credentials: &Credentials) -> Result<()> {
    let json = serde_json::to_vec_pretty(credentials).expect("credentials serialise");
    write_atomic(&credentials_path(), &json, Some(0o600)).await
}

/// The backend URL: `ARKOR_CLOUD_API_URL`, else the one in `credentials`,
/// else [`DEFAULT_CLOUD_API_URL`]; trailing slashes removed.
pub fn default_cloud_api_url(credentials: Option<&Credentials>) -> String {
    cloud_api_url_from(credentials.and_then(|c| c.cloud_api_url()))
}

/// [`default_cloud_api_url`] given only the URL stored in the credentials.
pub fn cloud_api_url_from(stored: Option<&str>) -> String {
    let url = arkor_settings::cloud_api_url()
        .or_else(|| stored.map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_CLOUD_API_URL.to_owned());
    url.trim_end_matches('/').to_owned()
}

/// What `POST /v1/auth/anonymous` hands out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnonymousToken {
    /// Bearer token.
    pub token: String,
    /// The backend's id for this identity.
    pub anonymous_id: String,
    /// `cli` or `web`.
    pub kind: String,
    /// Slug of the personal org.
    pub org_slug: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnonymousWire {
    token: String,
    anonymous_id: String,
    kind: String,
    personal_org: OrgRef,
}

#[derive(Deserialize)]
struct OrgRef {
    slug: String,
}

/// Asks `base_url` for a fresh anonymous identity, retrying transient
/// failures (see [`crate::retry`]); a lost answer costs at most an unused
/// identity on the backend.
pub async fn request_anonymous_token(base_url: &str, kind: &str) -> Result<AnonymousToken> {
    request_anonymous_token_with(base_url, kind, &RetryPolicy::default()).await
}

/// [`request_anonymous_token`] under `policy`.
pub async fn request_anonymous_token_with(base_url: &str, kind: &str, policy: &RetryPolicy) -> Result<AnonymousToken> {
    let url = format!("{}/v1/auth/anonymous", base_url.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let body = serde_json::json!({ "kind": kind });
    let wire: AnonymousWire = with_retries(policy, || async {
        let transport = |source| Failure::transport(Error::Http { url: url.clone(), source });
        let res = http
            .post(&url)
            .header("X-Arkor-Client", client_header())
            .json(&body)
            .timeout(crate::http::CONTROL_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status().as_u16();
        if !res.status().is_success() {
            let headers = res.headers().clone();
            let text = res.text().await.unwrap_or_default();
            let error = Error::AnonymousTokenRejected { status, body: truncate(&text, 500).to_owned() };
            return Err(Failure::status(error, status, &headers));
        }
        let bytes = res.bytes().await.map_err(transport)?;
        serde_json::from_slice(&bytes).map_err(|e| Failure::fatal(Error::Decode { what: url.clone(), detail: e.to_string() }))
    })
    .await?;
    Ok(AnonymousToken { token: wire.token, anonymous_id: wire.anonymous_id, kind: wire.kind, org_slug: wire.personal_org.slug })
}

/// `GET /v1/auth/cli/config`: how a deployment signs CLIs in. All OAuth
/// fields set means OAuth is offered; any of them null means anonymous only.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CliConfig {
    /// The Auth0 tenant's domain.
    pub auth0_domain: Option<String>,
    /// The OAuth client id of the CLI.
    pub client_id: Option<String>,
    /// The API audience tokens are issued for.
    pub audience: Option<String>,
    /// Loopback ports the OAuth callback may use.
    #[serde(default)]
    pub callback_ports: Vec<u16>,
}

impl CliConfig {
    /// Whether the deployment signs in with OAuth.
    pub fn oauth_available(&self) -> bool {
        self.auth0_domain.is_some() && self.client_id.is_some() && self.audience.is_some()
    }
}

/// Reads `base_url`'s [`CliConfig`], retrying transient failures. A non-2xx
/// answer is upstream's "Failed to fetch CLI config from <url> (<status>)".
pub async fn fetch_cli_config(base_url: &str) -> Result<CliConfig> {
    let base = base_url.trim_end_matches('/');
    let url = format!("{base}/v1/auth/cli/config");
    let http = reqwest::Client::new();
    with_retries(&RetryPolicy::default(), || async {
        let transport = |source| Failure::transport(Error::Http { url: url.clone(), source });
        let res = http.get(&url).header("X-Arkor-Client", client_header()).send().await.map_err(transport)?;
        let status = res.status().as_u16();
        if !res.status().is_success() {
            let error = Error::Api { status, message: format!("Failed to fetch CLI config from {base_url} ({status})") };
            return Err(Failure::status(error, status, res.headers()));
        }
        let bytes = res.bytes().await.map_err(transport)?;
        serde_json::from_slice(&bytes).map_err(|e| Failure::fatal(Error::Decode { what: url.clone(), detail: e.to_string() }))
    })
    .await
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The stored credentials, or a new anonymous identity (stored) when there
/// are none or the file is corrupt.
pub async fn ensure_credentials() -> Result<Credentials> {
    if let Some(c) = read_credentials().await? {
        return Ok(c);
    }
    let path = credentials_path();
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        eprintln!(
            "arkor: warning: {} could not be parsed and is being replaced. Run `arkor login` to sign in again.",
            path.display()
        );
    }
    let base_url = default_cloud_api_url(None);
    let anon = request_anonymous_token(&base_url, "cli").await?;
    let creds = Credentials::Anonymous {
        token: anon.token,
        anonymous_id: anon.anonymous_id,
        arkor_cloud_api_url: base_url,
        org_slug: anon.org_slug,
    };
    write_credentials(&creds).await?;
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_round_trips() {
        let json = r#"{"mode":"anon","token":"t","anonymousId":"a","arkorCloudApiUrl":"http://x","orgSlug":"o"}"#;
        let c: Credentials = serde_json::from_str(json).unwrap();
        assert_eq!(c.token(), "t");
        assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::from_str::<serde_json::Value>(json).unwrap());
        let o = r#"{"mode":"oauth","accessToken":"at","refreshToken":"r","expiresAt":1,"auth0Domain":"d","audience":"a","clientId":"c"}"#;
        let c: Credentials = serde_json::from_str(o).unwrap();
        assert_eq!(c.token(), "at");
        assert_eq!(c.cloud_api_url(), None);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
    }
}

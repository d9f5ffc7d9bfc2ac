//! Which backend a program talks to, and in which scope: the rule trainers
//! and the CLI share (docs/PROTOCOL.md §2). A backend URL, credentials given
//! or stored, or `ARKOR_CLOUD_API_URL` name a remote backend; with none of
//! them the embedded one of this process is used, under the org `local` and
//! a project named after the directory.

use std::path::Path;

use arkor_protocol::LOCAL_ORG;

use crate::credentials::{default_cloud_api_url, ensure_credentials, read_credentials, Credentials};
use crate::error::Result;
use crate::http::CloudApiClient;
use crate::state::{ensure_project_state, project_slug_for, read_state};
use crate::trainer::EmbeddedBackend;

/// Whether nothing names a remote backend, so the embedded one is to be used.
/// `base_url` and `credentials` are what the caller was given explicitly.
pub async fn nothing_names_a_backend(base_url: Option<&str>, credentials: Option<&Credentials>) -> Result<bool> {
    if base_url.is_some() || credentials.is_some() || arkor_settings::cloud_api_url().is_some() {
        return Ok(false);
    }
    // Stored credentials name a backend (theirs, or the hosted default).
    Ok(read_credentials().await?.is_none())
}

/// What a CLI command in a project directory works against.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The embedded backend of this process (the local store).
    pub local: bool,
    /// The backend's URL.
    pub base_url: String,
    /// The credentials to send; for the embedded backend, its token as anonymous credentials.
    pub credentials: Credentials,
    /// The org: from the project state, the anonymous identity's own, or `local`;
    /// `None` for OAuth credentials without a project state.
    pub org_slug: Option<String>,
    /// The project: from the project state, else derived from the directory.
    pub project_slug: String,
    /// False when a remote backend has no project state for this directory
    /// yet (nothing is created: listing commands find no jobs).
    pub has_project: bool,
}

/// Picks the backend for `cwd` and its scope there, creating nothing but
/// anonymous credentials when a remote backend is named and none are stored
/// (as `createTrainer` would at `start()`).
pub async fn connect(cwd: &Path, embedded: &dyn EmbeddedBackend) -> Result<Connection> {
    if nothing_names_a_backend(None, None).await? {
        let (base_url, token) = embedded.ensure_started().await?;
        // The embedded backend takes its token as a bearer token, which is what anonymous credentials carry.
        let credentials = Credentials::Anonymous {
            token,
            anonymous_id: LOCAL_ORG.to_owned(),
            arkor_cloud_api_url: base_url.clone(),
            org_slug: LOCAL_ORG.to_owned(),
        };
        return Ok(Connection {
            local: true,
            base_url,
            credentials,
            org_slug: Some(LOCAL_ORG.to_owned()),
            project_slug: project_slug_for(cwd),
            has_project: true,
        });
    }
    let credentials = ensure_credentials().await?;
    let base_url = default_cloud_api_url(Some(&credentials));
    if let Some(state) = read_state(cwd).await? {
        return Ok(Connection {
            local: false,
            base_url,
            credentials,
            org_slug: Some(state.org_slug),
            project_slug: state.project_slug,
            has_project: true,
        });
    }
    let org_slug = match &credentials {
        Credentials::Anonymous { org_slug, .. } => Some(org_slug.clone()),
        Credentials::OAuth { .. } => None,
    };
    Ok(Connection { local: false, base_url, credentials, org_slug, project_slug: project_slug_for(cwd), has_project: false })
}

/// [`connect`], then the project made to exist, as a trainer's first
/// `start()` does: on the embedded backend the directory's project in the
/// org `local`; on a remote one the project state (`.arkor/state.json`),
/// creating the project for anonymous credentials.
pub async fn connect_with_project(cwd: &Path, embedded: &dyn EmbeddedBackend) -> Result<Connection> {
    let mut c = connect(cwd, embedded).await?;
    let client = CloudApiClient::new(&c.base_url, &c.credentials);
    if c.local {
        ensure_local_project(&client, cwd).await?;
    } else if !c.has_project {
        let state = ensure_project_state(cwd, &client, &c.credentials).await?;
        c.org_slug = Some(state.org_slug);
        c.project_slug = state.project_slug;
        c.has_project = true;
    }
    Ok(c)
}

/// Creates `cwd`'s project in the embedded backend's org unless it exists;
/// returns its slug.
pub(crate) async fn ensure_local_project(client: &CloudApiClient, cwd: &Path) -> Result<String> {
    let slug = project_slug_for(cwd);
    let name = cwd.file_name().and_then(|n| n.to_str()).unwrap_or("project");
    match client.create_project(LOCAL_ORG, name, &slug).await {
        Ok(_) => Ok(slug),
        Err(e) if e.status() == Some(409) => Ok(slug),
        Err(e) => Err(e),
    }
}

//! What `arkor dev` (Studio, a Node HTTP server) asks of the Rust side: the
//! Host guard the local backend applies, and the project bootstrap the
//! trainer does, so neither rule has a second copy in JS.

use std::path::PathBuf;

use arkor_client::{CloudApiClient, Credentials};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::IntoNapi;
use crate::objects::{CredentialsObject, ProjectStateObject};

/// Checks a request's `Host` and `Origin` header values against the local
/// backend's guard (loopback names only: 127.0.0.1, localhost and its
/// subdomains, [::1]). `null` when allowed, else why not.
#[napi]
pub fn studio_host_refusal(host: Option<String>, origin: Option<String>) -> Option<String> {
    arkor_server::guard::HostPolicy::default().check(host.as_deref(), origin.as_deref()).err()
}

/// The project state of `cwd` on the backend at `baseUrl`, creating the
/// project and `.arkor/state.json` when missing (anonymous credentials
/// only), as `createTrainer` does before its first job.
#[napi(ts_return_type = "Promise<ProjectStateObject>")]
pub fn ensure_project_state(env: &Env, cwd: String, base_url: String, credentials: CredentialsObject) -> Result<PromiseRaw<'_, ProjectStateObject>> {
    let creds = Credentials::try_from(credentials)?;
    let client = CloudApiClient::new(&base_url, &creds);
    env.spawn_future(async move {
        let state = arkor_client::state::ensure_project_state(&PathBuf::from(cwd), &client, &creds).await.napi()?;
        Ok(ProjectStateObject::from(state))
    })
}

/// The OpenAI base URL (`.../v1`) of the deployment `slug` on the backend
/// at `backend_url`: the hosted cloud serves each at `<slug>.arkor.app`;
/// an arkor backend (local or `arkor serve`) under `/deployments/<slug>`
/// (see arkor-server's deployment routes).
#[napi]
pub fn deployment_base_url(backend_url: String, slug: String) -> String {
    let backend = backend_url.trim_end_matches('/');
    if backend == arkor_client::credentials::DEFAULT_CLOUD_API_URL {
        format!("https://{slug}.arkor.app/v1")
    } else {
        format!("{backend}/deployments/{slug}/v1")
    }
}

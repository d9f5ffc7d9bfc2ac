//! The in-process backend the SDK falls back to when nothing names one.

use std::future::Future;
use std::pin::Pin;

use arkor_client::{EmbeddedBackend, Error};
use tokio::sync::OnceCell;

/// Starts `arkor-server` on a random loopback port, once per process.
#[derive(Debug, Default)]
pub struct EmbeddedServer;

// One server per process by design: every trainer of the process shares it,
// so jobs queue behind each other on one engine as they would on a remote
// backend.
static STARTED: OnceCell<(String, String)> = OnceCell::const_new();

impl EmbeddedBackend for EmbeddedServer {
    fn ensure_started(&self) -> Pin<Box<dyn Future<Output = arkor_client::Result<(String, String)>> + Send + '_>> {
        Box::pin(async {
            STARTED
                .get_or_try_init(|| async {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .map_err(|e| Error::InvalidInput(format!("cannot start the local backend: {e}")))?;
                    let token = format!("local_{:032x}", rand::random::<u128>());
                    let mut options = arkor_server::ServerOptions::new(arkor_server::default_home());
                    options.static_token = Some(token.clone());
                    let server = arkor_server::start(options, listener)
                        .await
                        .map_err(|e| Error::InvalidInput(format!("cannot start the local backend: {e}")))?;
                    let url = server.url();
                    // Lives as long as the process.
                    std::mem::forget(server);
                    Ok::<_, Error>((url, token))
                })
                .await
                .cloned()
        })
    }
}

/// What `connectBackend` resolves: the backend a CLI command in a project
/// directory works against, and its scope there.
#[napi_derive::napi(object)]
pub struct ConnectionObject {
    /// The embedded backend of this process (the local store).
    pub local: bool,
    /// The backend's URL.
    pub base_url: String,
    /// The credentials to send.
    pub credentials: crate::objects::CredentialsObject,
    /// The org, when known.
    pub org_slug: Option<String>,
    /// The project.
    pub project_slug: String,
    /// False when a remote backend has no project state for the directory yet.
    pub has_project: bool,
}

/// The backend and scope for `cwd`, by the SDK's rule
/// (`arkor_client::backend::connect`): the local backend of this process
/// (started once, over `$ARKOR_HOME`) unless something names another. With
/// `ensureProject`, the project is made to exist as a trainer's first
/// `start()` would (`connect_with_project`).
#[napi_derive::napi(ts_return_type = "Promise<ConnectionObject>")]
pub fn connect_backend(env: &napi::Env, cwd: String, ensure_project: Option<bool>) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'_, ConnectionObject>> {
    env.spawn_future(async move {
        let dir = std::path::Path::new(&cwd);
        let c = if ensure_project.unwrap_or(false) {
            arkor_client::backend::connect_with_project(dir, &EmbeddedServer).await
        } else {
            arkor_client::backend::connect(dir, &EmbeddedServer).await
        }
        .map_err(crate::errors::to_napi)?;
        Ok(ConnectionObject {
            local: c.local,
            base_url: c.base_url,
            credentials: c.credentials.into(),
            org_slug: c.org_slug,
            project_slug: c.project_slug,
            has_project: c.has_project,
        })
    })
}

/// The project slug the SDK derives from a directory (docs/PROTOCOL.md §2).
#[napi_derive::napi]
pub fn project_slug_for(dir: String) -> String {
    arkor_client::state::project_slug_for(std::path::Path::new(&dir))
}

/// What `settings` returns: the environment as arkor reads it (arkor-settings).
#[napi_derive::napi(object)]
pub struct SettingsObject {
    /// `$ARKOR_HOME`, else `~/.arkor/local`.
    pub local_home: String,
    /// `~/.arkor`.
    pub arkor_dir: String,
    /// `$ARKOR_CLOUD_API_URL`, trailing slashes removed.
    pub cloud_api_url: Option<String>,
    /// `$ARKOR_DEVICE`.
    pub device: Option<String>,
    /// Reduced-precision products through frozen weights: bf16 in training, Q8 in
    /// generation (off with `ARKOR_BF16=0`); None when the variable holds neither on
    /// nor off (a server refuses to start then).
    pub bf16: Option<bool>,
    /// `$ARKOR_SERVE_TOKEN`: `arkor serve --public`'s token when `--token` is not given.
    pub serve_token: Option<String>,
    /// `$ARKOR_MAX_BATCH`: the most chat requests one model decodes together (an
    /// unusable value is an error when a server starts).
    pub max_batch: Option<u32>,
}

/// The local backend's org: where the embedded backend and `arkor serve` keep every project.
#[napi_derive::napi]
pub const LOCAL_ORG: &str = arkor_protocol::LOCAL_ORG;

/// The settings now (read at call time, like the SDK's other path and URL functions).
#[napi_derive::napi]
pub fn settings() -> SettingsObject {
    let s = arkor_settings::Settings::from_env();
    SettingsObject {
        local_home: s.local_home.to_string_lossy().into_owned(),
        arkor_dir: arkor_settings::arkor_dir().to_string_lossy().into_owned(),
        cloud_api_url: s.cloud_api_url,
        device: s.device,
        bf16: s.bf16.ok(),
        serve_token: s.serve_token,
        max_batch: s.max_batch.ok().map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
    }
}

/// The package manager an `npm_config_user_agent` value names (`npm`,
/// `pnpm`, `yarn`, `bun`), the rule the upgrade hint uses too.
#[napi_derive::napi]
pub fn package_manager_from_user_agent(user_agent: String) -> Option<String> {
    arkor_client::upgrade::PackageManager::from_user_agent(&user_agent).map(|pm| pm.name().to_owned())
}

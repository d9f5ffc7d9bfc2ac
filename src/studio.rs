//! What `arkor dev` (Studio, a Node HTTP server) asks of the Rust side: the
//! Host guard the local backend applies, so the rule has no copy in JS.

use napi_derive::napi;

/// Checks a request's `Host` and `Origin` header values against the local
/// backend's guard (loopback names only: 127.0.0.1, localhost and its
/// subdomains, [::1]). `null` when allowed, else why not.
#[napi]
pub fn studio_host_refusal(host: Option<String>, origin: Option<String>) -> Option<String> {
    arkor_server::guard::HostPolicy::default().check(host.as_deref(), origin.as_deref()).err()
}

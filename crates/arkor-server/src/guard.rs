//! The Host guard: which names a request may address this server by.
//!
//! A server on loopback trusts whoever can reach it, which a web page can
//! also do through DNS rebinding: it points its own name at 127.0.0.1 and its
//! script then talks to the port with `Host: evil.example`. Refusing every
//! Host that is not a loopback name (or one the operator allowed) closes
//! that door, and refusing foreign `Origin`s closes the plain cross-site one.
//!
//! The rule ([`HostPolicy::check`]) is plain code; [`HostPolicy::apply`] and
//! [`guard`] put it in front of any axum router, so another local server
//! (Studio) can reuse it.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The flag that adds a name to the guard's list; named in every refusal.
pub const ALLOW_HOST_FLAG: &str = "--allow-host";

/// A `Host`-style authority split into its name and optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Lower-case host name, or an IP address without brackets; no trailing dot.
    pub name: String,
    /// The port, when one was given.
    pub port: Option<u16>,
}

impl Authority {
    /// Parses `name`, `name:port`, `1.2.3.4:port`, `[::1]` or `[::1]:port`.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let (name, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (inside, after) = rest.split_once(']')?;
            inside.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?.parse().ok()?),
            };
            (inside.to_owned(), port)
        } else {
            match raw.rsplit_once(':') {
                // A bare IPv6 address has several colons and no port.
                Some((n, p)) if !n.contains(':') => (n.to_owned(), Some(p.parse().ok()?)),
                Some(_) => return None,
                None => (raw.to_owned(), None),
            }
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'));
        valid.then_some(Self { name, port })
    }

    fn ip(&self) -> Option<IpAddr> {
        self.name.parse().ok()
    }
}

/// Which `Host`s (and `Origin`s) a server answers.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    extra: Vec<Authority>,
    any_ip_literal: bool,
}

/// Why a `--allow-host` value was refused.
#[derive(Debug, thiserror::Error)]
#[error("{ALLOW_HOST_FLAG} {0:?} is not a host name: give a name like `arkor.example.com` or `box.lan:8787`")]
pub struct BadAllowHost(pub String);

impl HostPolicy {
    /// Loopback names only, plus `extra` (`--allow-host` values: a name,
    /// optionally with a port that must then match too).
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, BadAllowHost> {
        let extra = extra
            .iter()
            .map(|s| Authority::parse(s.as_ref()).ok_or_else(|| BadAllowHost(s.as_ref().to_owned())))
            .collect::<Result<_, _>>()?;
        Ok(Self { extra, any_ip_literal: false })
    }

    /// Also accepts any IP address as the Host: DNS rebinding needs a name,
    /// and a page addressed by IP is same-origin only with itself. For a
    /// server listening beyond loopback, whose clients use its address.
    pub fn with_ip_literals(mut self) -> Self {
        self.any_ip_literal = true;
        self
    }

    /// Whether `host` is a name this server answers to.
    pub fn allows(&self, host: &Authority) -> bool {
        if is_loopback_name(&host.name) {
            return true;
        }
        if let Some(ip) = host.ip() {
            if ip.is_loopback() || self.any_ip_literal {
                return true;
            }
        }
        self.extra.iter().any(|a| a.name == host.name && a.port.is_none_or(|p| host.port == Some(p)))
    }

    /// Checks a request's `Host` and, when present, `Origin` header values;
    /// the error is the message to answer with.
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), String> {
        let host = host.ok_or_else(|| format!("the request has no Host header; send `Host: 127.0.0.1:<port>` or a name allowed with {ALLOW_HOST_FLAG}"))?;
        match Authority::parse(host) {
            Some(a) if self.allows(&a) => {}
            _ => {
                return Err(format!(
                    "Host {host:?} is not allowed: this server answers to 127.0.0.1, localhost and [::1]; \
                     to reach it by another name, start it with `{ALLOW_HOST_FLAG} NAME`"
                ))
            }
        }
        if let Some(origin) = origin {
            let authority = origin.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or(rest));
            match authority.and_then(Authority::parse) {
                Some(a) if self.allows(&a) => {}
                _ => {
                    return Err(format!(
                        "requests from web origin {origin:?} are refused; \
                         to allow a page served under another name, start the server with `{ALLOW_HOST_FLAG} NAME`"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Puts the guard in front of every route of `router` (its fallback included).
    pub fn apply<S: Clone + Send + Sync + 'static>(self, router: axum::Router<S>) -> axum::Router<S> {
        router.layer(axum::middleware::from_fn_with_state(Arc::new(self), guard))
    }
}

/// `localhost` and its subdomains (`<slug>.localhost`), which browsers and
/// most resolvers send to loopback without asking DNS.
fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// The middleware: 403 with `{ "error": ... }` unless the policy allows the
/// request's Host and Origin.
pub async fn guard(State(policy): State<Arc<HostPolicy>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let host = host.or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    let origin = match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => None,
        Some(Ok(o)) => Some(o.to_owned()),
        Some(Err(_)) => Some("<not text>".to_owned()),
    };
    match policy.check(host.as_deref(), origin.as_deref()) {
        Ok(()) => next.run(req).await,
        Err(msg) => (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({ "error": msg }))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &HostPolicy, host: &str) -> bool {
        p.check(Some(host), None).is_ok()
    }

    #[test]
    fn loopback_names_pass_with_any_port() {
        let p = HostPolicy::default();
        for h in ["127.0.0.1", "127.0.0.1:8787", "localhost", "LOCALHOST:1", "localhost.:80", "[::1]", "[::1]:9", "my-app.localhost:3000", "127.8.0.1:5"] {
            assert!(allowed(&p, h), "{h}");
        }
    }

    #[test]
    fn other_names_are_refused_naming_the_flag() {
        let p = HostPolicy::default();
        for h in ["evil.example", "evil.example:8787", "localhost.evil.example", "10.0.0.5:8787", "[fe80::1]:80", "", "a b", "[::1", "x:y"] {
            let e = p.check(Some(h), None).unwrap_err();
            assert!(e.contains("--allow-host"), "{h}: {e}");
        }
        assert!(p.check(None, None).unwrap_err().contains("no Host header"));
    }

    #[test]
    fn allow_host_adds_names_and_optionally_pins_a_port() {
        let p = HostPolicy::new(&["Box.LAN", "api.example:8787"]).unwrap();
        assert!(allowed(&p, "box.lan:1234"));
        assert!(allowed(&p, "api.example:8787"));
        assert!(!allowed(&p, "api.example:80"));
        assert!(!allowed(&p, "other.lan"));
        assert!(HostPolicy::new(&["not a host"]).unwrap_err().to_string().contains("--allow-host"));
        let ips = HostPolicy::default().with_ip_literals();
        assert!(allowed(&ips, "192.168.1.7:8787") && allowed(&ips, "[2001:db8::1]:1") && !allowed(&ips, "evil.example"));
    }

    #[test]
    fn foreign_origins_are_refused() {
        let p = HostPolicy::default();
        assert!(p.check(Some("127.0.0.1:1"), Some("http://localhost:3000")).is_ok());
        assert!(p.check(Some("127.0.0.1:1"), Some("https://evil.example")).unwrap_err().contains("evil.example"));
        assert!(p.check(Some("127.0.0.1:1"), Some("null")).is_err());
    }
}

//! Reading a dataset's bytes from a `file://` path or an `http(s)://` URL, under the
//! caller's [`LoadPolicy`]: a size cap, and a rule for which network addresses a
//! download (and each of its redirects) may connect to. This crate decides no policy;
//! it only applies the one it is given.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{io_err, Error, Result};

/// Says whether a download may connect to an address: `Err(reason)` refuses it.
pub type AddressRule = Arc<dyn Fn(IpAddr) -> std::result::Result<(), String> + Send + Sync>;

/// Bounds and rules for one dataset load; the default has none.
#[derive(Clone, Default)]
pub struct LoadPolicy {
    /// Largest file read or downloaded, in bytes.
    pub max_bytes: Option<u64>,
    /// Most rows over the whole dataset.
    pub max_rows: Option<usize>,
    /// Applied to every address a blob URL, or a redirect from it, connects to
    /// (environment proxies are then bypassed, since they would connect for us).
    pub blob_addresses: Option<AddressRule>,
    /// The Hugging Face Hub's base URL (none: [`arkor_settings::DEFAULT_HF_ENDPOINT`])
    /// and the token sent to it: the caller's settings (`HF_ENDPOINT`, `HF_TOKEN`).
    pub hub: Option<HubAccess>,
}

/// Where Hub datasets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubAccess {
    /// Base URL, without a trailing slash.
    pub endpoint: String,
    /// Bearer token, for private or gated datasets.
    pub token: Option<String>,
}

impl std::fmt::Debug for LoadPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadPolicy")
            .field("max_bytes", &self.max_bytes)
            .field("max_rows", &self.max_rows)
            .field("blob_addresses", &self.blob_addresses.as_ref().map(|_| "rule"))
            .field("hub", &self.hub.as_ref().map(|h| &h.endpoint))
            .finish()
    }
}

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;

/// The local path of a `file://` URL (`file:///abs` and `file://localhost/abs`,
/// percent-decoded); None for any other scheme.
pub fn file_url_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    Some(percent_decode(rest).into())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Resolves names itself so that every address is checked before hyper connects.
struct CheckedResolver(AddressRule);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let rule = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // This runs on the blocking client's own runtime thread, so a blocking
            // lookup stalls only this download.
            let addrs: Vec<SocketAddr> = (host.as_str(), 0).to_socket_addrs()?.collect();
            for a in &addrs {
                rule(a.ip()).map_err(|why| format!("{host} resolves to {why}"))?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Checks a URL whose host is an IP literal (no resolver sees those).
fn check_literal(url: &reqwest::Url, rule: &AddressRule) -> std::result::Result<(), String> {
    // The URL parser has already normalised literals (`2130706433`, `0x7f.1`
    // become dotted quads); IPv6 ones come bracketed.
    match url.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()) {
        Some(Ok(ip)) => rule(ip),
        _ => Ok(()),
    }
}

fn client(rule: Option<&AddressRule>) -> Result<reqwest::blocking::Client> {
    let mut b = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .user_agent(concat!("arkor/", env!("CARGO_PKG_VERSION")));
    if let Some(rule) = rule {
        let r = rule.clone();
        b = b.no_proxy().dns_resolver(Arc::new(CheckedResolver(rule.clone()))).redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match check_literal(attempt.url(), &r) {
                Ok(()) => attempt.follow(),
                Err(why) => {
                    let to = attempt.url().to_string();
                    attempt.error(format!("redirect to {to} refused: {why}"))
                }
            }
        }));
    }
    b.build().map_err(|e| Error::Http { url: String::new(), message: e.to_string() })
}

fn too_big(name: &str, max: u64) -> Error {
    Error::Dataset {
        source_name: name.into(),
        message: format!("is larger than the {max}-byte limit of this server; use a smaller file or split the dataset"),
    }
}

/// Reads at most `max` bytes (when set) from `r`, failing beyond that.
fn read_capped(mut r: impl Read, max: Option<u64>, name: &str, io: impl FnOnce(std::io::Error) -> Error) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match max {
        Some(max) => {
            r.by_ref().take(max + 1).read_to_end(&mut out).map_err(io)?;
            if out.len() as u64 > max {
                return Err(too_big(name, max));
            }
        }
        None => {
            r.read_to_end(&mut out).map_err(io)?;
        }
    }
    Ok(out)
}

/// Reads a `file://` URL or downloads an `http(s)://` one.
pub fn fetch_url(url: &str, token: Option<&str>) -> Result<Vec<u8>> {
    fetch_url_with(url, token, &LoadPolicy::default(), false)
}

/// [`fetch_url`] under `policy`; `check_addresses` applies its address rule.
pub fn fetch_url_with(url: &str, token: Option<&str>, policy: &LoadPolicy, check_addresses: bool) -> Result<Vec<u8>> {
    if let Some(path) = file_url_path(url) {
        let shown = path.display().to_string();
        let file = std::fs::File::open(&path).map_err(io_err(shown.clone()))?;
        if let (Some(max), Ok(meta)) = (policy.max_bytes, file.metadata()) {
            if meta.len() > max {
                return Err(too_big(&shown, max));
            }
        }
        return read_capped(file, policy.max_bytes, &shown, io_err(shown.clone()));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Error::Dataset {
            source_name: url.into(),
            message: "blob URLs must start with https://, http:// or file://".into(),
        });
    }
    let http = |message: String| Error::Http { url: url.into(), message };
    let rule = policy.blob_addresses.as_ref().filter(|_| check_addresses);
    if let Some(rule) = rule {
        let parsed = reqwest::Url::parse(url).map_err(|e| http(format!("not a valid URL: {e}")))?;
        check_literal(&parsed, rule).map_err(|why| http(format!("refused: {why}")))?;
    }
    let mut req = client(rule)?.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().map_err(|e| http(error_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().unwrap_or_default();
        return Err(http(format!("status {status}: {}", body.chars().take(200).collect::<String>())));
    }
    if let (Some(max), Some(len)) = (policy.max_bytes, resp.content_length()) {
        if len > max {
            return Err(too_big(url, max));
        }
    }
    read_capped(resp, policy.max_bytes, url, |e| http(e.to_string()))
}

/// An error with its causes, where reqwest keeps the reason a redirect or a
/// resolver refused.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use arkor_testkit::{MockHttp, Reply};

    /// Answers every request with `reply`; returns the port.
    fn serve(reply: Reply) -> u16 {
        MockHttp::start(move |_| reply.clone()).port
    }

    /// Allows 127.0.0.1 only: the tests reach a server there and see every other
    /// address refused before anything connects to it.
    fn only_127_0_0_1() -> LoadPolicy {
        let rule: AddressRule = Arc::new(|ip: IpAddr| if ip == IpAddr::from([127, 0, 0, 1]) { Ok(()) } else { Err(format!("{ip} is not allowed")) });
        LoadPolicy { blob_addresses: Some(rule), ..Default::default() }
    }

    #[test]
    fn addresses_are_checked_for_literals_names_and_each_redirect() {
        let port = serve(Reply::bytes(200, "{\"text\":\"x\"}"));
        let p = only_127_0_0_1();
        assert!(fetch_url_with(&format!("http://127.0.0.1:{port}/a.jsonl"), None, &p, true).is_ok());
        let e = fetch_url_with(&format!("http://127.0.0.2:{port}/a.jsonl"), None, &p, true).unwrap_err().to_string();
        assert!(e.contains("127.0.0.2 is not allowed"), "{e}");
        // `localhost` resolves to ::1 as well on most systems, or only to 127.0.0.1;
        // either way the answer comes from the rule, never from an unchecked connect.
        let e = fetch_url_with(&format!("http://[::1]:{port}/a.jsonl"), None, &p, true).unwrap_err().to_string();
        assert!(e.contains("::1 is not allowed"), "{e}");
        let redirect = serve(Reply::bytes(302, "").with_header("location", &format!("http://127.0.0.2:{port}/a.jsonl")));
        let e = fetch_url_with(&format!("http://127.0.0.1:{redirect}/r"), None, &p, true).unwrap_err().to_string();
        assert!(e.contains("redirect to http://127.0.0.2") && e.contains("not allowed"), "{e}");
        // Without the check the same redirect is followed (and then fails to connect or
        // succeeds, depending on the host; it is not refused by a rule).
        let loose = fetch_url_with(&format!("http://127.0.0.1:{redirect}/r"), None, &p, false);
        assert!(loose.as_ref().map_or_else(|e| !e.to_string().contains("not allowed"), |_| true));
    }

    #[test]
    fn sizes_are_capped_for_files_and_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big.jsonl");
        std::fs::write(&f, "x".repeat(100)).unwrap();
        let policy = LoadPolicy { max_bytes: Some(50), ..Default::default() };
        let e = fetch_url_with(&format!("file://{}", f.display()), None, &policy, false).unwrap_err().to_string();
        assert!(e.contains("big.jsonl") && e.contains("50-byte limit"), "{e}");
        let port = serve(Reply::bytes(200, "y".repeat(100)));
        let e = fetch_url_with(&format!("http://127.0.0.1:{port}/d.jsonl"), None, &policy, false).unwrap_err().to_string();
        assert!(e.contains("50-byte limit"), "{e}");
        // A body without Content-Length is cut at the limit too.
        let port = serve(Reply::Raw(format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}", "z".repeat(100)).into_bytes()));
        let e = fetch_url_with(&format!("http://127.0.0.1:{port}/d.jsonl"), None, &policy, false).unwrap_err().to_string();
        assert!(e.contains("50-byte limit"), "{e}");
    }

    #[test]
    fn percent_decoding_never_splits_a_character() {
        assert_eq!(percent_decode("/a%20b"), "/a b");
        assert_eq!(percent_decode("/é%"), "/é%");
        assert_eq!(percent_decode("/%é1"), "/%é1");
    }
}

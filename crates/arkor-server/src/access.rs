//! Who may do what: loopback mode (the default and the embedded backend,
//! which trusts whoever passes the Host guard) and public mode (`arkor serve
//! --public`, or any non-loopback `--host`), which trusts only its token and
//! lets datasets come only from where the operator said.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The flags named in public mode's refusals.
pub const ALLOW_PATH_FLAG: &str = "--allow-path";
/// See [`ALLOW_PATH_FLAG`].
pub const ALLOW_PRIVATE_URLS_FLAG: &str = "--allow-private-urls";
/// See [`ALLOW_PATH_FLAG`].
pub const ALLOW_ANONYMOUS_FLAG: &str = "--allow-anonymous";

/// What a public server lets token holders do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublicAccess {
    /// Anonymous sign-up (`POST /v1/auth/anonymous`) stays open.
    pub allow_anonymous: bool,
    /// Roots under which `file://` datasets may lie (none: no local files).
    pub allow_paths: Vec<PathBuf>,
    /// `http(s)` datasets may point at loopback, private, link-local and
    /// cloud-metadata addresses.
    pub allow_private_urls: bool,
}

/// The server's trust mode.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Access {
    /// Anyone who reaches the server (past the Host guard) is trusted:
    /// anonymous sign-up, any readable file, any URL.
    #[default]
    Loopback,
    /// Only what [`PublicAccess`] allows.
    Public(PublicAccess),
}

impl Access {
    /// Whether anonymous sign-up is open.
    pub fn anonymous_signup(&self) -> bool {
        match self {
            Access::Loopback => true,
            Access::Public(p) => p.allow_anonymous,
        }
    }

    /// Resolves `allow_paths` (symlinks included) once at start, so later
    /// checks compare canonical paths with canonical paths.
    pub fn canonicalized(self) -> std::io::Result<Self> {
        Ok(match self {
            Access::Public(mut p) => {
                p.allow_paths = p
                    .allow_paths
                    .iter()
                    .map(|r| r.canonicalize().map_err(|e| std::io::Error::new(e.kind(), format!("{ALLOW_PATH_FLAG} {}: {e}", r.display()))))
                    .collect::<std::io::Result<_>>()?;
                Access::Public(p)
            }
            other => other,
        })
    }

    /// The real path of a `file://` dataset if this mode lets jobs read it;
    /// otherwise why not (the caller names the field).
    pub fn local_dataset(&self, path: &Path) -> Result<PathBuf, String> {
        let real = path.canonicalize().map_err(|e| format!("cannot be read: {}: {e}", path.display()))?;
        let meta = std::fs::metadata(&real).map_err(|e| format!("cannot be read: {}: {e}", path.display()))?;
        if meta.is_dir() {
            return Err(format!("cannot be read: {}: it is a directory", path.display()));
        }
        if let Access::Public(p) = self {
            if !p.allow_paths.iter().any(|root| real.starts_with(root)) {
                return Err(format!(
                    "points at {}, which this public server does not serve: local datasets must lie under a directory the operator allowed with `{ALLOW_PATH_FLAG} DIR`{}",
                    real.display(),
                    if p.allow_paths.is_empty() { " (none is allowed now)" } else { "" }
                ));
            }
        }
        std::fs::File::open(&real).map_err(|e| format!("cannot be read: {}: {e}", path.display()))?;
        Ok(real)
    }

    /// Whether `http(s)` datasets are held to [`address_rule`].
    pub fn checks_addresses(&self) -> bool {
        matches!(self, Access::Public(p) if !p.allow_private_urls)
    }
}

/// Whether a server listening on `addr` runs in public mode: when asked
/// (`--public`), and always when it listens beyond loopback, where the
/// loopback trust model no longer holds.
pub fn is_public(addr: std::net::SocketAddr, asked: bool) -> bool {
    asked || !addr.ip().is_loopback()
}

/// What kind of non-public address `ip` is, if it is one: the addresses a
/// public server's datasets may not reach (they are the host's own services,
/// its network's, or the cloud's instance metadata).
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped (::ffff:a.b.c.d) and -compatible (::a.b.c.d) forms reach the v4 address.
            if let Some(v4) = v6.to_ipv4_mapped().or_else(|| compatible_v4(v6)) {
                return v4_kind(v4);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if s[0] == 0xfd00 && s[1] == 0x0ec2 {
                Some("cloud metadata")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("private")
            } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
                Some("link-local")
            } else if s[0] & 0xff00 == 0xff00 {
                Some("multicast")
            } else if s[0] == 0x64 && s[1] == 0xff9b {
                // NAT64 reaches whatever v4 address it embeds.
                v4_kind(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)).or(Some("NAT64"))
            } else {
                None
            }
        }
    }
}

fn compatible_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    (s[..6].iter().all(|&x| x == 0) && (s[6] != 0 || s[7] > 1)).then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if matches!(o, [169, 254, 169, 254] | [100, 100, 100, 200] | [192, 0, 0, 192]) {
        Some("cloud metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() || (o[0] == 100 && o[1] & 0xc0 == 64) {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() || ip.is_multicast() || o[0] >= 240 {
        Some("multicast or reserved")
    } else {
        None
    }
}

/// The rule a public server gives the engine for every address a dataset
/// download (or one of its redirects) would connect to.
pub fn address_rule(ip: IpAddr) -> Result<(), String> {
    match non_public_kind(ip) {
        None => Ok(()),
        Some(kind) => Err(format!(
            "{ip} is a {kind} address, which a public server's datasets may not reach; the operator can allow it with `{ALLOW_PRIVATE_URLS_FLAG}`"
        )),
    }
}

/// Why the server token could not be read or stored.
#[derive(Debug, thiserror::Error)]
#[error("server token file {path}: {source}")]
pub struct TokenFileError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: std::io::Error,
}

/// The shortest token a public server accepts from its operator: anyone who reaches
/// the port may guess at it, and a generated one has 32 hex digits.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Why a public server has no token to use.
#[derive(Debug, thiserror::Error)]
pub enum ServerTokenError {
    /// The operator gave a blank token: a mistake, not "no token", which would have
    /// a token generated without a word.
    #[error("--token is empty; give the token clients are to send, or leave --token out to have one generated")]
    Empty,
    /// The operator's token is too short to stand guessing.
    #[error("the server token (--token or ARKOR_SERVE_TOKEN) has {chars} characters; a public server needs at least {MIN_TOKEN_CHARS}: choose a longer one, or leave it unset to have one generated and kept in $ARKOR_HOME/serve-token")]
    TooShort {
        /// Its length.
        chars: usize,
    },
    /// The token file failed.
    #[error(transparent)]
    File(#[from] TokenFileError),
}

impl ServerTokenError {
    /// Whether the operator's input is at fault (and its message says the mend),
    /// rather than the token file.
    pub fn is_input(&self) -> bool {
        !matches!(self, Self::File(_))
    }
}

/// Where a public server keeps its generated token.
pub fn token_path(home: &Path) -> PathBuf {
    home.join("serve-token")
}

/// The bearer token of a public server's own org: `given` (`--token` /
/// `ARKOR_SERVE_TOKEN`) when set (refused when blank or short), else the one
/// stored under `home`, else a new one stored there (mode 0600). The flag says
/// whether it was just made, so the caller prints it that once.
pub fn server_token(home: &Path, given: Option<&str>) -> Result<(String, bool), ServerTokenError> {
    if let Some(t) = given.map(str::trim) {
        if t.is_empty() {
            return Err(ServerTokenError::Empty);
        }
        let chars = t.chars().count();
        if chars < MIN_TOKEN_CHARS {
            return Err(ServerTokenError::TooShort { chars });
        }
        return Ok((t.to_owned(), false));
    }
    let path = token_path(home);
    let err = |source| ServerTokenError::File(TokenFileError { path: path.clone(), source });
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok((t.trim().to_owned(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    std::fs::create_dir_all(home).map_err(err)?;
    let token = format!("arkor_serve_{:032x}", rand::random::<u128>());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path).map_err(err)?;
    std::io::Write::write_all(&mut f, format!("{token}\n").as_bytes()).map_err(err)?;
    Ok((token, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<&'static str> {
        non_public_kind(s.parse().unwrap())
    }

    #[test]
    fn public_mode_is_on_when_asked_or_beyond_loopback() {
        let at = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert!(!is_public(at("127.0.0.1:8787"), false));
        assert!(!is_public(at("[::1]:8787"), false));
        assert!(is_public(at("127.0.0.1:8787"), true));
        assert!(is_public(at("0.0.0.0:8787"), false));
        assert!(is_public(at("[::]:8787"), false));
        assert!(is_public(at("192.168.1.9:8787"), false));
    }

    #[test]
    fn non_public_addresses_are_recognised() {
        for (ip, k) in [
            ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
            ("192.168.1.1", "private"), ("100.64.0.1", "private"), ("169.254.1.1", "link-local"),
            ("169.254.169.254", "cloud metadata"), ("0.0.0.0", "unspecified"), ("::1", "loopback"), ("::", "unspecified"),
            ("fc00::1", "private"), ("fe80::1", "link-local"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"),
            ("fd00:ec2::254", "cloud metadata"), ("64:ff9b::a00:1", "private"), ("224.0.0.1", "multicast or reserved"),
        ] {
            assert_eq!(kind(ip), Some(k), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert_eq!(kind(ip), None, "{ip}");
        }
        assert!(address_rule("10.0.0.1".parse().unwrap()).unwrap_err().contains("--allow-private-urls"));
    }

    #[test]
    fn public_mode_reads_files_only_under_allowed_roots_after_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("data");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::write(allowed.join("ok.jsonl"), "{}").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
        let access = Access::Public(PublicAccess { allow_paths: vec![allowed.clone()], ..Default::default() }).canonicalized().unwrap();
        assert!(access.local_dataset(&allowed.join("ok.jsonl")).is_ok());
        assert!(access.local_dataset(&allowed.join("../secret.txt")).unwrap_err().contains("--allow-path"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), allowed.join("link.jsonl")).unwrap();
            assert!(access.local_dataset(&allowed.join("link.jsonl")).unwrap_err().contains("--allow-path"));
        }
        assert!(Access::Loopback.local_dataset(&dir.path().join("secret.txt")).is_ok());
        let none = Access::Public(PublicAccess::default());
        assert!(none.local_dataset(&allowed.join("ok.jsonl")).unwrap_err().contains("none is allowed"));
    }

    #[test]
    fn the_server_token_is_generated_once_and_stored_private() {
        let dir = tempfile::tempdir().unwrap();
        let (t, fresh) = server_token(dir.path(), None).unwrap();
        assert!(fresh);
        assert_eq!(server_token(dir.path(), None).unwrap(), (t.clone(), false));
        assert_eq!(server_token(dir.path(), Some("given-token-0123456789")).unwrap(), ("given-token-0123456789".into(), false));
        assert!(matches!(server_token(dir.path(), Some("  ")), Err(ServerTokenError::Empty)));
        let short = server_token(dir.path(), Some(" fourteen-chars ")).unwrap_err().to_string();
        assert!(short.contains("has 14 characters; a public server needs at least 16"), "{short}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(token_path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

//! Every environment variable arkor reads, named and parsed here and nowhere
//! else. The other crates take these values as arguments (the engine never
//! reads the environment); the JS side asks the addon for them.
//!
//! Two ways to read:
//! - [`Settings::from_env`] / [`Settings::global`]: everything at once, at the
//!   edge of a process (the server, the embedded backend). `global` reads once.
//! - The SDK's own path and URL functions ([`home_dir`], [`cloud_api_url`])
//!   read at call time, because upstream's SDK does and programs (and tests)
//!   change `HOME` or `ARKOR_CLOUD_API_URL` while running.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The names of the variables, for messages that tell users what to set.
pub mod vars {
    /// Where the local backend keeps its store, models and runs.
    pub const HOME: &str = "ARKOR_HOME";
    /// The backend the SDK and CLI talk to instead of the local one.
    pub const CLOUD_API_URL: &str = "ARKOR_CLOUD_API_URL";
    /// `cpu`, `cuda` or `cuda:N`: where the engine runs.
    pub const DEVICE: &str = "ARKOR_DEVICE";
    /// `0` turns off reduced-precision products through frozen weights (bf16 in
    /// training, Q8 in generation): everything runs in f32.
    pub const BF16: &str = "ARKOR_BF16";
    /// The Hugging Face Hub to fetch datasets from.
    pub const HF_ENDPOINT: &str = "HF_ENDPOINT";
    /// The token sent to that Hub.
    pub const HF_TOKEN: &str = "HF_TOKEN";
    /// `arkor serve --public`'s bearer token when `--token` is not given.
    pub const SERVE_TOKEN: &str = "ARKOR_SERVE_TOKEN";
    /// The most chat requests one model decodes together; more wait their turn.
    pub const MAX_BATCH: &str = "ARKOR_MAX_BATCH";
}

/// Sequences one model decodes together when `ARKOR_MAX_BATCH` is not set (how the
/// aggregate speed grows with the batch is measured in bench/README.md).
pub const DEFAULT_MAX_BATCH: usize = 8;

/// The Hub used when `HF_ENDPOINT` is not set.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// A variable's value, with empty meaning unset.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.is_empty())
}

fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|s| !s.is_empty())
}

/// The user's home directory (`HOME`, `USERPROFILE` on Windows), at call time.
pub fn home_dir() -> PathBuf {
    var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" }).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

/// `~/.arkor`: credentials, and Studio's token while it runs.
pub fn arkor_dir() -> PathBuf {
    home_dir().join(".arkor")
}

/// `$ARKOR_HOME`, else `~/.arkor/local`: the local backend's data.
pub fn local_home() -> PathBuf {
    var_os(vars::HOME).map(PathBuf::from).unwrap_or_else(|| arkor_dir().join("local"))
}

/// `$ARKOR_CLOUD_API_URL` without trailing slashes, at call time.
pub fn cloud_api_url() -> Option<String> {
    var(vars::CLOUD_API_URL).map(|u| u.trim_end_matches('/').to_owned())
}

/// Everything the environment says, read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// [`local_home`].
    pub local_home: PathBuf,
    /// [`cloud_api_url`].
    pub cloud_api_url: Option<String>,
    /// `$ARKOR_DEVICE` as written (the engine parses it and names the variable in its errors).
    pub device: Option<String>,
    /// Reduced-precision products through frozen weights (bf16 in training, Q8 in
    /// generation): on unless `ARKOR_BF16` is `0` (or `false`, `off`, `no`); a value
    /// that is neither on nor off is an error for whoever starts a server to report.
    pub bf16: Result<bool, InvalidSetting>,
    /// The Hub's base URL, without trailing slashes.
    pub hf_endpoint: String,
    /// `$HF_TOKEN`.
    pub hf_token: Option<String>,
    /// `$ARKOR_SERVE_TOKEN`; one of only spaces is unset too.
    pub serve_token: Option<String>,
    /// `$ARKOR_MAX_BATCH`: a whole number >= 1, [`DEFAULT_MAX_BATCH`] when unset;
    /// anything else is an error for whoever starts a server to report.
    pub max_batch: Result<usize, InvalidSetting>,
}

/// A variable set to a value arkor cannot use: its message names the variable, what
/// it holds and what it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    /// The variable's name.
    pub var: &'static str,
    /// What it holds.
    pub value: String,
    /// What it takes, for the message.
    pub expected: &'static str,
}

impl std::fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={:?} is not usable: it takes {} (or unset it for the default)", self.var, self.value, self.expected)
    }
}

impl std::error::Error for InvalidSetting {}

/// Reduced-precision products when `ARKOR_BF16` is unset.
pub const DEFAULT_BF16: bool = true;

fn bf16() -> Result<bool, InvalidSetting> {
    let Some(v) = var(vars::BF16) else { return Ok(DEFAULT_BF16) };
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(InvalidSetting { var: vars::BF16, value: v, expected: "0 (or false, off, no) to keep every product in f32, or 1 (true, on, yes)" }),
    }
}

fn max_batch() -> Result<usize, InvalidSetting> {
    let Some(v) = var(vars::MAX_BATCH) else { return Ok(DEFAULT_MAX_BATCH) };
    v.trim().parse().ok().filter(|&n: &usize| n >= 1).ok_or(InvalidSetting {
        var: vars::MAX_BATCH,
        value: v,
        expected: "a whole number of at least 1, the most chat requests one model decodes together",
    })
}

impl Settings {
    /// Reads every variable now.
    pub fn from_env() -> Self {
        Settings {
            local_home: local_home(),
            cloud_api_url: cloud_api_url(),
            device: var(vars::DEVICE),
            bf16: bf16(),
            hf_endpoint: var(vars::HF_ENDPOINT).unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_owned()).trim_end_matches('/').to_owned(),
            hf_token: var(vars::HF_TOKEN),
            serve_token: var(vars::SERVE_TOKEN).filter(|t| !t.trim().is_empty()),
            max_batch: max_batch(),
        }
    }

    /// The first variable set to a value arkor cannot use, checked by whoever starts
    /// a server so that a typo stops it with a message instead of being ignored.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        self.bf16.as_ref().map_err(Clone::clone)?;
        self.max_batch.as_ref().map_err(Clone::clone)?;
        Ok(())
    }

    /// [`Settings::bf16`], its default where the value is unusable (which a server
    /// refuses to start on, [`Settings::check`]).
    pub fn bf16_or_default(&self) -> bool {
        *self.bf16.as_ref().unwrap_or(&DEFAULT_BF16)
    }

    /// [`Settings::max_batch`], its default where the value is unusable.
    pub fn max_batch_or_default(&self) -> usize {
        *self.max_batch.as_ref().unwrap_or(&DEFAULT_MAX_BATCH)
    }

    /// The process's settings, read the first time they are asked for.
    pub fn global() -> &'static Settings {
        static GLOBAL: OnceLock<Settings> = OnceLock::new();
        GLOBAL.get_or_init(Settings::from_env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the variables are process-wide.
    #[test]
    fn reads_each_variable_with_its_default() {
        for v in [vars::HOME, vars::CLOUD_API_URL, vars::DEVICE, vars::BF16, vars::HF_ENDPOINT, vars::HF_TOKEN, vars::SERVE_TOKEN, vars::MAX_BATCH] {
            std::env::remove_var(v);
        }
        std::env::set_var("HOME", "/h");
        let s = Settings::from_env();
        assert_eq!(s.local_home, PathBuf::from("/h/.arkor/local"));
        assert_eq!(s.check(), Ok(()));
        assert_eq!((s.cloud_api_url, s.device, s.bf16, s.hf_token, s.serve_token), (None, None, Ok(true), None, None));
        assert_eq!(s.hf_endpoint, DEFAULT_HF_ENDPOINT);
        assert_eq!(s.max_batch, Ok(DEFAULT_MAX_BATCH));

        std::env::set_var(vars::HOME, "/data");
        std::env::set_var(vars::CLOUD_API_URL, "http://x:1//");
        std::env::set_var(vars::DEVICE, "cuda:1");
        std::env::set_var(vars::BF16, "0");
        std::env::set_var(vars::HF_ENDPOINT, "http://hub/");
        std::env::set_var(vars::HF_TOKEN, "t");
        std::env::set_var(vars::SERVE_TOKEN, "st");
        std::env::set_var(vars::MAX_BATCH, "3");
        let s = Settings::from_env();
        assert_eq!(s.max_batch, Ok(3));
        assert_eq!(s.serve_token.as_deref(), Some("st"));
        assert_eq!(s.local_home, PathBuf::from("/data"));
        assert_eq!(s.cloud_api_url.as_deref(), Some("http://x:1"));
        assert_eq!(s.device.as_deref(), Some("cuda:1"));
        assert_eq!(s.bf16, Ok(false));
        assert_eq!((s.hf_endpoint.as_str(), s.hf_token.as_deref()), ("http://hub", Some("t")));

        for bad in ["0", "-2", "many"] {
            std::env::set_var(vars::MAX_BATCH, bad);
            let err = Settings::from_env().max_batch.unwrap_err();
            assert_eq!((err.var, err.value.as_str()), (vars::MAX_BATCH, bad));
            assert!(err.to_string().starts_with(&format!("ARKOR_MAX_BATCH=\"{bad}\" is not usable: it takes a whole number")), "{err}");
        }
        std::env::set_var(vars::MAX_BATCH, "");
        assert_eq!(Settings::from_env().max_batch, Ok(DEFAULT_MAX_BATCH), "empty is unset");

        for (v, on) in [("off", false), ("FALSE", false), ("no", false), ("1", true), ("on", true), ("", true)] {
            std::env::set_var(vars::BF16, v);
            assert_eq!(Settings::from_env().bf16, Ok(on), "{v:?}");
        }
        std::env::set_var(vars::BF16, "bf16");
        let s = Settings::from_env();
        let err = s.check().unwrap_err();
        assert_eq!((err.var, err.value.as_str()), (vars::BF16, "bf16"));
        assert!(err.to_string().contains("takes 0 (or false, off, no)"), "{err}");
        std::env::remove_var(vars::BF16);

        // Empty is unset.
        std::env::set_var(vars::HOME, "");
        std::env::set_var(vars::CLOUD_API_URL, "");
        let s = Settings::from_env();
        assert_eq!((s.local_home, s.cloud_api_url), (PathBuf::from("/h/.arkor/local"), None));
    }
}

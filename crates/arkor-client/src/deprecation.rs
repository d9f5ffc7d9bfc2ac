//! `Deprecation: true` response headers: told to the user once per process.

use std::sync::atomic::{AtomicBool, Ordering};

/// What a backend said when it marked this SDK version deprecated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeprecationNotice {
    /// The version of this SDK.
    pub sdk_version: String,
    /// The human message (from the `Warning` header when present).
    pub message: String,
    /// The `Sunset` header, when present.
    pub sunset: Option<String>,
}

impl DeprecationNotice {
    /// Reads the notice out of response headers, if the response carries one.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Self> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if get("deprecation").as_deref() != Some("true") {
            return None;
        }
        let message = match get("warning") {
            Some(w) => warning_text(&w).unwrap_or(w),
            None => format!("Arkor SDK {} is deprecated", crate::SDK_VERSION),
        };
        Some(Self { sdk_version: crate::SDK_VERSION.to_owned(), message, sunset: get("sunset") })
    }

    /// One line for a terminal, worded as upstream's CLI words it.
    pub fn render(&self) -> String {
        let sunset = self.sunset.as_deref().map(|s| format!(" Cutoff: {s}.")).unwrap_or_default();
        let command = crate::upgrade::PackageManager::detect().upgrade_command();
        format!("arkor: warning: {} (current: {}).{sunset} Run `{command}`.", self.message, self.sdk_version)
    }
}

/// `299 - "text"` (RFC 7234 warn-code, agent, quoted text) → `text`.
fn warning_text(w: &str) -> Option<String> {
    let (code, rest) = w.trim().split_once(char::is_whitespace)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('-')?.trim();
    Some(rest.strip_prefix('"')?.strip_suffix('"')?.to_owned())
}

// The notice is about the installed package, not a client instance, so
// repeating it for every trainer in one process would only be noise.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Prints the notice to stderr unless one was already printed by this process.
pub fn report_once(notice: &DeprecationNotice) {
    if !REPORTED.swap(true, Ordering::SeqCst) {
        eprintln!("{}", notice.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn parses_warning_and_sunset() {
        let mut h = HeaderMap::new();
        assert!(DeprecationNotice::from_headers(&h).is_none());
        h.insert("Deprecation", HeaderValue::from_static("true"));
        h.insert("Warning", HeaderValue::from_static("299 - \"Upgrade soon\""));
        h.insert("Sunset", HeaderValue::from_static("Wed, 01 Jan 2027 00:00:00 GMT"));
        let n = DeprecationNotice::from_headers(&h).unwrap();
        assert_eq!(n.message, "Upgrade soon");
        assert!(n.render().contains("Upgrade soon (current: ") && n.render().contains(". Cutoff: Wed, 01 Jan 2027 00:00:00 GMT. Run `"));
    }

    #[test]
    fn free_form_warning_is_kept_verbatim() {
        assert_eq!(warning_text("please upgrade"), None);
        assert_eq!(warning_text("299 arkor \"x\""), None);
    }
}

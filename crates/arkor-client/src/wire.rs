//! What every request and error looks like on the wire, whoever sends it:
//! the client header, path-segment escaping, and the error a non-2xx answer
//! becomes (docs/PROTOCOL.md §1). The API client and the credential helpers
//! both build on it, so neither depends on the other for it.

use futures::StreamExt;
use reqwest::Response;
use serde_json::Value;

use crate::error::Error;
use crate::upgrade::{sdk_upgrade_message, PackageManager};

/// `X-Arkor-Client` value.
pub fn client_header() -> String {
    format!("arkor/{}", crate::SDK_VERSION)
}

/// Percent-escapes one path segment.
pub(crate) fn enc(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds the error for a non-2xx response: the body's `error` field, else
/// the body text, else `cloud-api <status>`; 426 says how to upgrade.
pub async fn api_error_from_response(res: Response) -> Error {
    let status = res.status().as_u16();
    let mut body = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
    }
    api_error(status, &String::from_utf8_lossy(&body))
}

/// See [`api_error_from_response`].
pub fn api_error(status: u16, text: &str) -> Error {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    if status == 426 {
        // Every 426 carries the upgrade hint, whatever its body looks like.
        let command = PackageManager::detect().upgrade_command();
        return Error::Api { status, message: sdk_upgrade_message(parsed.as_ref(), command) };
    }
    let field = parsed.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str).filter(|s| !s.is_empty());
    let message = match (field, text.is_empty()) {
        (Some(e), _) => e.to_owned(),
        (None, false) => text.to_owned(),
        (None, true) => format!("cloud-api {status}"),
    };
    Error::Api { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_message_precedence() {
        assert_eq!(api_error(400, r#"{"error":"bad model"}"#).to_string(), "bad model");
        assert_eq!(api_error(500, "boom").to_string(), "boom");
        assert_eq!(api_error(502, "").to_string(), "cloud-api 502");
        assert_eq!(api_error(400, r#"{"error":""}"#).to_string(), r#"{"error":""}"#);
        let up = api_error(426, "<html>upgrade required</html>").to_string();
        assert!(up.starts_with("Arkor SDK is no longer supported by the cloud API. Run `") && up.contains("arkor@latest"), "{up}");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
        assert_eq!(enc("job_1-x.y~"), "job_1-x.y~");
    }
}

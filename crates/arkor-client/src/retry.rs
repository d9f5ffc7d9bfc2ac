//! Retrying control requests (project bootstrap, anonymous sign-up, job
//! creation, cancel, job reads) the way the official OpenAI Node SDK does.
//!
//! - Retried: transport failures (no response, or the body broke off), 408,
//!   429 and 5xx; a server's `x-should-retry: true|false` overrides that.
//!   409 is not retried: for these routes it means "already exists", which
//!   the caller handles (project bootstrap) or must see.
//! - At most [`RetryPolicy::max_retries`] retries (2 by default).
//! - The wait honours `retry-after-ms`, then `Retry-After` (seconds or an
//!   HTTP date) when it is above zero and under a minute; otherwise it is
//!   exponential from 0.5 s, capped at 8 s, shortened by up to 25% at random.
//!
//! The user's own requests (`infer`) and the event stream (it has its own
//! reconnect rules) are never retried here.

use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::error::{Error, Result};

/// How often and how long to retry a failed control request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Wait before the first retry, doubled for each later one.
    pub initial_delay: Duration,
    /// Cap of the computed wait (a server's `Retry-After` may exceed it).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 2, initial_delay: Duration::from_millis(500), max_delay: Duration::from_secs(8) }
    }
}

/// A server's wait hint above this is ignored, as the OpenAI SDK does.
const MAX_SERVER_HINT: Duration = Duration::from_secs(60);

impl RetryPolicy {
    /// One attempt, no retries.
    pub const NONE: RetryPolicy = RetryPolicy { max_retries: 0, initial_delay: Duration::ZERO, max_delay: Duration::ZERO };

    /// The wait before retry number `retries_done + 1`: the server's hint
    /// when usable, else exponential backoff with jitter.
    pub fn delay(&self, retries_done: u32, server_hint: Option<Duration>) -> Duration {
        if let Some(hint) = server_hint.filter(|d| !d.is_zero() && *d < MAX_SERVER_HINT) {
            return hint;
        }
        let exp = self.initial_delay.as_secs_f64() * 2f64.powi(retries_done.min(64) as i32);
        let capped = exp.min(self.max_delay.as_secs_f64());
        let jitter = 1.0 - rand::random::<f64>() * 0.25;
        Duration::from_secs_f64(capped * jitter)
    }
}

/// A failed attempt and what it says about trying again.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: Error,
    retryable: bool,
    wait_hint: Option<Duration>,
}

impl Failure {
    /// No response, or its body broke off: worth another try.
    pub fn transport(error: Error) -> Self {
        Self { error, retryable: true, wait_hint: None }
    }

    /// A response that retrying cannot fix (an unreadable body shape).
    pub fn fatal(error: Error) -> Self {
        Self { error, retryable: false, wait_hint: None }
    }

    /// A non-2xx answer; `headers` are the response's.
    pub fn status(error: Error, status: u16, headers: &HeaderMap) -> Self {
        let retryable = match header(headers, "x-should-retry") {
            Some("true") => true,
            Some("false") => false,
            _ => retryable_status(status),
        };
        Self { error, retryable, wait_hint: server_wait(headers, SystemTime::now()) }
    }
}

/// 408, 429 and 5xx.
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `retry-after-ms` (milliseconds), else `Retry-After` (seconds, or an
/// HTTP date measured from `now`).
fn server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let secs = |x: f64| (x.is_finite() && x >= 0.0).then(|| Duration::from_secs_f64(x));
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return secs(ms / 1000.0);
    }
    let value = header(headers, "retry-after")?;
    if let Ok(s) = value.parse::<f64>() {
        return secs(s);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    at.duration_since(now).ok()
}

/// Runs `attempt` until it succeeds, fails for good, or `policy` runs out
/// of retries; the last failure's error is returned as it is.
pub(crate) async fn with_retries<T, F, Fut>(policy: &RetryPolicy, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, Failure>>,
{
    let mut retries_done = 0;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(f) if f.retryable && retries_done < policy.max_retries => {
                tokio::time::sleep(policy.delay(retries_done, f.wait_hint)).await;
                retries_done += 1;
            }
            Err(f) => return Err(f.error),
        }
    }
}

/// A fresh `Idempotency-Key`: 128 random bits as 32 hex digits.
pub fn new_idempotency_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn backoff_is_exponential_jittered_and_capped() {
        let p = RetryPolicy::default();
        for _ in 0..200 {
            let d0 = p.delay(0, None).as_secs_f64();
            assert!((0.375..=0.5).contains(&d0), "{d0}");
            let d1 = p.delay(1, None).as_secs_f64();
            assert!((0.75..=1.0).contains(&d1), "{d1}");
            let d9 = p.delay(9, None).as_secs_f64();
            assert!((6.0..=8.0).contains(&d9), "{d9}");
        }
    }

    #[test]
    fn server_hint_wins_only_between_zero_and_a_minute() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert!(p.delay(0, Some(Duration::ZERO)) <= Duration::from_millis(500));
        assert!(p.delay(0, Some(Duration::from_secs(120))) <= Duration::from_millis(500));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(server_wait(&headers(&[("retry-after", "2")]), now), Some(Duration::from_secs(2)));
        assert_eq!(server_wait(&headers(&[("retry-after", "1.5")]), now), Some(Duration::from_millis(1500)));
        // retry-after-ms is preferred over retry-after.
        let both = headers(&[("retry-after-ms", "250"), ("retry-after", "9")]);
        assert_eq!(server_wait(&both, now), Some(Duration::from_millis(250)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(4));
        assert_eq!(server_wait(&headers(&[("retry-after", &date)]), now), Some(Duration::from_secs(4)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(4));
        assert_eq!(server_wait(&headers(&[("retry-after", &past)]), now), None);
        assert_eq!(server_wait(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(server_wait(&headers(&[("retry-after", "-1")]), now), None);
    }

    #[test]
    fn which_statuses_retry() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 410, 422, 426] {
            assert!(!retryable_status(s), "{s}");
        }
        let err = || Error::Api { status: 400, message: "x".into() };
        assert!(Failure::status(err(), 400, &headers(&[("x-should-retry", "true")])).retryable);
        assert!(!Failure::status(err(), 503, &headers(&[("x-should-retry", "false")])).retryable);
    }

    #[tokio::test]
    async fn stops_after_max_retries_and_returns_the_last_error() {
        let policy = RetryPolicy { max_retries: 2, initial_delay: Duration::from_millis(1), max_delay: Duration::from_millis(1) };
        let mut calls = 0;
        let r: Result<()> = with_retries(&policy, || {
            calls += 1;
            let n = calls;
            async move { Err(Failure::transport(Error::Api { status: 503, message: format!("try {n}") })) }
        })
        .await;
        assert_eq!(calls, 3);
        assert_eq!(r.unwrap_err().to_string(), "try 3");
    }

    #[tokio::test]
    async fn fatal_failures_are_not_retried() {
        let mut calls = 0;
        let r: Result<()> = with_retries(&RetryPolicy::default(), || {
            calls += 1;
            async { Err(Failure::fatal(Error::InvalidInput("bad".into()))) }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(r.is_err());
    }

    #[test]
    fn idempotency_keys_are_128_bit_hex_and_differ() {
        let (a, b) = (new_idempotency_key(), new_idempotency_key());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

//! `CloudApiClient`'s control requests against a scripted HTTP server:
//! what is retried, how often, how long it waits, and the Idempotency-Key.

use std::time::Duration;

use arkor_client::{CloudApiClient, Error, RetryPolicy, Scope};
use arkor_testkit::{MockHttp, Reply};
use serde_json::json;

/// Serves `script` in order (the last reply repeats); returns its base URL and the
/// server, which records the requests.
fn serve(script: Vec<Reply>) -> (String, MockHttp) {
    let server = MockHttp::script(script);
    (server.base.clone(), server)
}

fn fast() -> RetryPolicy {
    RetryPolicy { max_retries: 2, initial_delay: Duration::from_millis(5), max_delay: Duration::from_millis(20) }
}

fn scope() -> Scope {
    Scope { org_slug: "o".into(), project_slug: "p".into() }
}

const JOB: &str = r#"{"job":{"id":"job-1","status":"queued"}}"#;

#[tokio::test]
async fn job_creation_retries_a_503_with_the_same_idempotency_key() {
    let (url, seen) = serve(vec![Reply::json(503, r#"{"error":"busy"}"#), Reply::json(201, JOB)]);
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    let v = c.create_job(&scope(), "run", &json!({"model": "m"}), "k-123").await.unwrap();
    assert_eq!(v["job"]["id"], "job-1");
    let seen = seen.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.header("idempotency-key").as_deref() == Some("k-123")));
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let (url, seen) = serve(vec![Reply::Drop, Reply::json(200, r#"{"jobs":[]}"#)]);
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    assert_eq!(c.list_jobs(&scope()).await.unwrap(), json!({"jobs": []}));
    assert_eq!(seen.seen().len(), 2);
}

#[tokio::test]
async fn at_most_two_retries_then_the_last_error() {
    let (url, seen) = serve(vec![Reply::json(502, r#"{"error":"bad gateway"}"#)]);
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    let err = c.cancel_job("j", &scope()).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 502, .. }), "{err:?}");
    assert_eq!(err.to_string(), "bad gateway");
    assert_eq!(seen.seen().len(), 3);
}

#[tokio::test]
async fn conflicts_and_other_4xx_are_not_retried() {
    for status in [400, 404, 409, 422] {
        let (url, seen) = serve(vec![Reply::json(status, r#"{"error":"no"}"#)]);
        let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
        assert_eq!(c.create_project("o", "n", "s").await.unwrap_err().status(), Some(status));
        assert_eq!(seen.seen().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (url, seen) = serve(vec![
        Reply::json(429, r#"{"error":"slow"}"#).with_header("retry-after", "1"),
        Reply::json(200, r#"{"org":{},"projects":[]}"#),
    ]);
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    c.list_projects("o").await.unwrap();
    let seen = seen.seen();
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(950), "{gap:?}");
}

#[tokio::test]
async fn chat_and_the_generic_call_are_sent_once() {
    let (url, seen) = serve(vec![Reply::json(503, r#"{"error":"busy"}"#)]);
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    assert_eq!(c.chat(&scope(), &json!({"messages": []})).await.unwrap_err().status(), Some(503));
    assert_eq!(c.call(reqwest_method("POST"), "/v1/endpoints", &[], Some(&json!({}))).await.unwrap_err().status(), Some(503));
    assert_eq!(seen.seen().len(), 2);
}

fn reqwest_method(m: &str) -> arkor_client::http::Method {
    m.parse().unwrap()
}

#[tokio::test]
async fn anonymous_sign_up_is_retried() {
    let body = r#"{"token":"t","anonymousId":"a","kind":"cli","personalOrg":{"slug":"org","id":"1","name":"n"}}"#;
    let (url, seen) = serve(vec![Reply::Drop, Reply::json(200, body)]);
    let tok = arkor_client::credentials::request_anonymous_token_with(&url, "cli", &fast()).await.unwrap();
    assert_eq!(tok.org_slug, "org");
    assert_eq!(seen.seen().len(), 2);
}

#[tokio::test]
async fn anonymous_sign_up_refusal_keeps_upstreams_message() {
    let (url, _) = serve(vec![Reply::json(403, r#"{"error":"disabled"}"#)]);
    let err = arkor_client::credentials::request_anonymous_token_with(&url, "cli", &fast()).await.unwrap_err();
    assert_eq!(err.to_string(), r#"Failed to acquire anonymous token (403): {"error":"disabled"}"#);
    assert_eq!(err.status(), Some(403));
}

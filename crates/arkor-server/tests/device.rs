//! `ARKOR_DEVICE` asking for a GPU this build cannot use fails jobs and inference with
//! a message that names the setting and the fix. Its own test binary: it sets a
//! process-wide environment variable.
mod common;

use common::{data_of, tiny_config, write_dataset, TestServer};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_cuda_device_without_the_cuda_feature_fails_with_the_fix() {
    if cfg!(feature = "cuda") {
        eprintln!("built with the cuda feature: this checks the build without it");
        return;
    }
    // Before the server starts any thread that could read the environment.
    std::env::set_var("ARKOR_DEVICE", "cuda");
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 4);
    let (st, created) = s.create_job(tiny_config(&url, 1)).await;
    assert_eq!(st, 201, "{created}");
    let job_id = created["job"]["id"].as_str().unwrap().to_owned();
    let events = s.events(&job_id, None).await;
    let failed = events.iter().map(data_of).find(|d| d["type"] == "training.failed").expect("failed event");
    let msg = failed["error"].as_str().unwrap();
    assert!(msg.contains("ARKOR_DEVICE=cuda") && msg.contains("`cuda` feature"), "{msg}");
    let (_, got) = s.json(Method::GET, &format!("/v1/jobs/{job_id}"), None).await;
    assert_eq!(got["job"]["status"], "failed");

    let msgs = json!([{"role": "user", "content": "hello"}]);
    let (st, out) = s
        .json(Method::POST, "/v1/inference/chat?orgSlug=local&projectSlug=p",
              Some(json!({"messages": msgs, "baseModel": "arkor/tiny-gemma3", "stream": false, "maxTokens": 4})))
        .await;
    assert!(st >= 400, "{st} {out}");
    assert!(out.to_string().contains("ARKOR_DEVICE=cuda"), "{out}");
}

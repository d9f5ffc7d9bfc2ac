//! Eval loss in `training.log` and what `dryRun` does, over real HTTP with the
//! tiny model.

mod common;

use common::*;
use serde_json::{json, Value};

/// `rows` distinct chat rows (so a held-out share of them is really unseen).
fn distinct_dataset(dir: &std::path::Path, rows: usize) -> String {
    let mut s = String::new();
    for i in 0..rows {
        let q = format!("ticket {i}: {}", ["my login fails", "the app crashes", "refund please", "where is my order"][i % 4]);
        s.push_str(&json!({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": format!("{{\"n\":{i}}}")}]}).to_string());
        s.push('\n');
    }
    let path = dir.join("distinct.jsonl");
    std::fs::write(&path, s).unwrap();
    format!("file://{}", path.display())
}

/// Runs `config` to the end; the data of its events.
async fn run(s: &TestServer, config: Value) -> Vec<Value> {
    let (st, created) = s.create_job(config).await;
    assert_eq!(st, 201, "{created}");
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    s.events(&id, None).await.iter().map(data_of).collect()
}

fn logs(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|d| d["type"] == "training.log").collect()
}

fn completed(events: &[Value]) -> &Value {
    events.iter().find(|d| d["type"] == "training.completed").unwrap_or_else(|| panic!("no training.completed in {events:?}"))
}

#[tokio::test]
async fn training_log_carries_eval_loss_on_eval_steps_and_at_the_end() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config(&distinct_dataset(dir.path(), 40), 5);
    config["evalSteps"] = json!(2);
    let events = run(&s, config).await;
    let logs = logs(&events);
    let with_eval: Vec<u64> = logs.iter().filter(|l| l["evalLoss"].is_number()).map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(with_eval, vec![2, 4, 5], "{logs:?}");
    assert!(logs.iter().filter(|l| !with_eval.contains(&l["step"].as_u64().unwrap())).all(|l| l["evalLoss"].is_null()));
    assert!(logs.iter().filter_map(|l| l["evalLoss"].as_f64()).all(|e| e.is_finite() && e > 0.0));
    let m = &completed(&events)["metrics"];
    // 40 rows have no eval split: 5% of them, but at least 8, are held out.
    assert_eq!((m["examples"].as_u64(), m["evalExamples"].as_u64()), (Some(32), Some(8)), "{m}");
    assert_eq!(m["evalSource"], "held-out");
    assert_eq!(m["evalLoss"], logs.last().unwrap()["evalLoss"]);
}

#[tokio::test]
async fn eval_loss_is_null_without_eval_steps() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let events = run(&s, tiny_config(&distinct_dataset(dir.path(), 12), 3)).await;
    let logs = logs(&events);
    assert_eq!(logs.len(), 3);
    assert!(logs.iter().all(|l| l.get("evalLoss") == Some(&Value::Null)), "{logs:?}");
    let m = &completed(&events)["metrics"];
    assert_eq!(m["examples"], 12, "every row trains when nothing is evaluated: {m}");
    assert!(m["evalLoss"].is_null() && m["evalSource"].is_null());
}

/// Upstream's `dryRun`: the whole pipeline on truncated data with capped steps.
#[tokio::test]
async fn dry_run_truncates_the_data_and_caps_the_steps() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config(&distinct_dataset(dir.path(), 100), 50);
    config["dryRun"] = json!(true);
    config["evalSteps"] = json!(10);
    let events = run(&s, config).await;
    let m = &completed(&events)["metrics"];
    assert_eq!(m["steps"], 3, "{m}");
    assert_eq!(m["examples"], 16, "{m}");
    assert_eq!(m["evalExamples"], 8, "{m}");
    assert_eq!(logs(&events).iter().map(|l| l["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 2, 3]);
    // Every stage still runs: checkpoints, the eval pass at the end, the final adapter.
    assert!(events.iter().any(|d| d["type"] == "checkpoint.saved"));
    assert!(logs(&events).last().unwrap()["evalLoss"].is_number());
    assert_eq!(completed(&events)["artifacts"][0]["kind"], "final");
    // A smaller maxSteps stays as asked.
    let mut config = tiny_config(&distinct_dataset(dir.path(), 100), 2);
    config["dryRun"] = json!(true);
    assert_eq!(completed(&run(&s, config).await)["metrics"]["steps"], 2);
}

/// The worker's own failures reach the job as their message: here the
/// dataset's (too few rows to hold any out), which names the field and the fix.
#[tokio::test]
async fn eval_steps_on_one_row_fail_the_job_naming_the_field() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config(&distinct_dataset(dir.path(), 1), 3);
    config["evalSteps"] = json!(1);
    let events = run(&s, config).await;
    let failed = events.iter().find(|d| d["type"] == "training.failed").unwrap_or_else(|| panic!("no training.failed in {events:?}"));
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("`config.evalSteps` needs eval rows: the dataset has 1 row(s)") && error.contains("validation"), "{error}");
}

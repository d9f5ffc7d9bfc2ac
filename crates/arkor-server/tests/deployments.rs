//! Deployments over real HTTP: every `/v1/endpoints` route and its errors,
//! then each deployment served as an OpenAI-compatible API with the tiny
//! model, its key auth, and its runs kept by the retention mode.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const SCOPE: &str = "orgSlug=local&projectSlug=p";

fn base_target() -> Value {
    json!({"kind": "base_model", "baseModel": "arkor/tiny-gemma3"})
}

async fn ep(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let sep = if path.contains('?') { '&' } else { '?' };
    s.json(method, &format!("/v1/endpoints{path}{sep}{SCOPE}"), body).await
}

/// Creates a deployment; returns its DTO.
async fn create(s: &TestServer, body: Value) -> Value {
    let (st, got) = ep(s, Method::POST, "", Some(body)).await;
    assert_eq!(st, 201, "{got}");
    got["deployment"].clone()
}

/// A completed job of the local org, with a checkpoint at step 2 and a final adapter
/// (a deployment of an ended job must name an adapter it saved).
async fn some_job(s: &TestServer) -> String {
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 8);
    let (st, job) = s.create_job(tiny_config(&url, 2)).await;
    assert_eq!(st, 201, "{job}");
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(s.wait_job(&id).await["status"], "completed");
    id
}

/// An anonymous identity with project `q` of its own: (token, org slug).
async fn other_org(s: &TestServer) -> (String, String) {
    let anon: Value = s.http.post(format!("{}/v1/auth/anonymous", s.url)).send().await.unwrap().json().await.unwrap();
    let token = anon["token"].as_str().unwrap().to_owned();
    let org = anon["personalOrg"]["slug"].as_str().unwrap().to_owned();
    let res = s.http.post(format!("{}/v1/projects?orgSlug={org}", s.url)).bearer_auth(&token).json(&json!({"name": "Q", "slug": "q"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    (token, org)
}

#[tokio::test]
async fn create_get_list_update_and_delete_a_deployment() {
    let s = TestServer::new().await;
    s.project().await;
    let job = some_job(&s).await;
    let d = create(&s, json!({"slug": "support-bot", "target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": job}}, "authMode": "fixed_api_key"})).await;
    let id = d["id"].as_str().unwrap().to_owned();
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["authMode", "createdAt", "customDomain", "enabled", "id", "orgId", "projectId", "runRetentionDays", "runRetentionMode", "slug", "target", "updatedAt", "urlFormat"]
    );
    assert_eq!(d["slug"], "support-bot");
    assert_eq!(d["target"], json!({"kind": "adapter", "adapter": {"kind": "final", "jobId": job}}));
    assert_eq!((d["authMode"].as_str(), d["urlFormat"].as_str(), d["enabled"].as_bool()), (Some("fixed_api_key"), Some("openai_compat"), Some(true)));
    assert_eq!(d["customDomain"], Value::Null);
    assert_eq!((d["runRetentionMode"].as_str(), d["runRetentionDays"].as_u64()), (Some("days"), Some(7)), "upstream's default retention");
    let (_, projects) = s.json(Method::GET, "/v1/projects?orgSlug=local", None).await;
    assert_eq!(d["projectId"], projects["projects"][0]["id"]);

    let (st, got) = ep(&s, Method::GET, &format!("/{id}"), None).await;
    assert_eq!((st, &got["deployment"]), (200, &d));
    let (st, all) = ep(&s, Method::GET, "", None).await;
    assert_eq!((st, all["deployments"].clone()), (200, json!([d])));

    let patch = json!({"enabled": false, "target": {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": job, "step": 2}},
                       "runRetentionMode": "unlimited"});
    let (st, upd) = ep(&s, Method::PATCH, &format!("/{id}"), Some(patch)).await;
    assert_eq!(st, 200, "{upd}");
    let u = &upd["deployment"];
    assert_eq!(u["enabled"], false);
    assert_eq!(u["target"]["adapter"], json!({"kind": "checkpoint", "jobId": job, "step": 2}));
    assert_eq!(u["runRetentionMode"], "unlimited");
    assert!(u.get("runRetentionDays").is_none(), "{u}");
    assert_eq!((&u["authMode"], &u["slug"], &u["createdAt"]), (&d["authMode"], &d["slug"], &d["createdAt"]), "untouched fields stay");
    assert!(u["updatedAt"].as_str() >= d["updatedAt"].as_str());
    let (_, again) = ep(&s, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(&again["deployment"], u, "the update is stored");

    let res = s.req(Method::DELETE, &format!("/v1/endpoints/{id}?{SCOPE}")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    let (st, e) = ep(&s, Method::GET, &format!("/{id}"), None).await;
    assert_eq!(st, 404, "{e}");
    let (_, all) = ep(&s, Method::GET, "", None).await;
    assert_eq!(all["deployments"], json!([]));
}

#[tokio::test]
async fn bad_bodies_are_refused_naming_the_field() {
    let s = TestServer::new().await;
    s.project().await;
    let ok = json!({"slug": "ab", "target": base_target(), "authMode": "none"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("slug", json!("a")), "`slug`"),
        (with("slug", json!("Bad-Slug")), "`slug`"),
        (with("slug", json!("-ab")), "`slug`"),
        (with("slug", json!("x".repeat(51))), "`slug`"),
        (with("slug", json!("admin")), "reserved"),
        (with("target", json!({"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": "j"}})), "`target.adapter.step`"),
        (with("target", json!({"kind": "base_model", "baseModel": "gpt-9"})), "`target.baseModel`"),
        (with("target", json!({"kind": "nope"})), "`target.kind`"),
        (with("authMode", json!("password")), "`authMode`"),
        (with("runRetentionMode", json!("days")), "`runRetentionDays`"),
        (with("runRetentionDays", json!(3)), "`runRetentionDays`"),
        (with("colour", json!("red")), "`colour`"),
        (json!({"slug": "ab", "authMode": "none"}), "`target`"),
        (json!({"slug": "ab", "target": base_target()}), "`authMode`"),
        (json!([1]), "`body`"),
    ];
    for (body, field) in cases {
        let (st, e) = ep(&s, Method::POST, "", Some(body.clone())).await;
        assert_eq!(st, 400, "{body} -> {e}");
        assert!(e["error"].as_str().unwrap().contains(field), "{body}: {e} should name {field}");
    }
    let (st, e) = ep(&s, Method::POST, "", Some(with("target", json!({"kind": "adapter", "adapter": {"kind": "final", "jobId": "job_missing"}})))).await;
    assert_eq!(st, 404, "{e}");
    assert!(e["error"].as_str().unwrap().contains("target.adapter.jobId"), "{e}");
    let (_, all) = ep(&s, Method::GET, "", None).await;
    assert_eq!(all["deployments"], json!([]), "nothing was created");

    let id = create(&s, ok.clone()).await["id"].as_str().unwrap().to_owned();
    for (body, field) in [
        (json!({"slug": "cd"}), "cannot change"),
        (json!({"enabled": "no"}), "`enabled`"),
        (json!({"runRetentionMode": "days"}), "`runRetentionDays`"),
        (json!({"target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": 7}}}), "`target.adapter.jobId`"),
    ] {
        let (st, e) = ep(&s, Method::PATCH, &format!("/{id}"), Some(body.clone())).await;
        assert_eq!(st, 400, "{body} -> {e}");
        assert!(e["error"].as_str().unwrap().contains(field), "{body}: {e} should name {field}");
    }
    let (st, e) = s.json(Method::GET, "/v1/endpoints?orgSlug=local", None).await;
    assert!(st == 400 && e["error"].as_str().unwrap().contains("projectSlug"), "{st} {e}");
    let (st, e) = s.json(Method::GET, "/v1/endpoints?projectSlug=p", None).await;
    assert!(st == 400 && e["error"].as_str().unwrap().contains("orgSlug"), "{st} {e}");
    let (st, _) = s.json(Method::GET, "/v1/endpoints?orgSlug=local&projectSlug=nope", None).await;
    assert_eq!(st, 404);
    let res = s.http.get(format!("{}/v1/endpoints?{SCOPE}", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 401, "the management routes need the server's token");
}

#[tokio::test]
async fn a_taken_slug_is_409_even_in_another_org() {
    let s = TestServer::new().await;
    s.project().await;
    create(&s, json!({"slug": "taken", "target": base_target(), "authMode": "none"})).await;
    let (st, e) = ep(&s, Method::POST, "", Some(json!({"slug": "taken", "target": base_target(), "authMode": "none"}))).await;
    assert_eq!(st, 409, "{e}");
    assert!(e["error"].as_str().unwrap().contains("taken"), "{e}");
    let (token, org) = other_org(&s).await;
    let res = s
        .http
        .post(format!("{}/v1/endpoints?orgSlug={org}&projectSlug=q", s.url))
        .bearer_auth(&token)
        .json(&json!({"slug": "taken", "target": base_target(), "authMode": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "the slug is the URL, unique on the server");
}

#[tokio::test]
async fn another_orgs_deployment_is_404_on_every_route() {
    let s = TestServer::new().await;
    s.project().await;
    let id = create(&s, json!({"slug": "mine", "target": base_target(), "authMode": "fixed_api_key"})).await["id"].as_str().unwrap().to_owned();
    let (_, key) = ep(&s, Method::POST, &format!("/{id}/keys"), Some(json!({"label": "prod"}))).await;
    let key_id = key["key"]["id"].as_str().unwrap().to_owned();
    let (token, org) = other_org(&s).await;
    let theirs = format!("orgSlug={org}&projectSlug=q");
    let routes = [
        (Method::GET, format!("/v1/endpoints/{id}?{theirs}"), None),
        (Method::PATCH, format!("/v1/endpoints/{id}?{theirs}"), Some(json!({"enabled": false}))),
        (Method::DELETE, format!("/v1/endpoints/{id}?{theirs}"), None),
        (Method::GET, format!("/v1/endpoints/{id}/keys?{theirs}"), None),
        (Method::POST, format!("/v1/endpoints/{id}/keys?{theirs}"), Some(json!({"label": "x"}))),
        (Method::DELETE, format!("/v1/endpoints/{id}/keys/{key_id}?{theirs}"), None),
        (Method::GET, format!("/v1/endpoints/{id}/runs?{theirs}"), None),
        // Naming our org with their token is no way in either.
        (Method::GET, format!("/v1/endpoints/{id}?{SCOPE}"), None),
    ];
    for (m, path, body) in routes {
        let mut r = s.http.request(m.clone(), format!("{}{path}", s.url)).bearer_auth(&token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        assert_eq!(res.status(), 404, "{m} {path}");
    }
    let (_, list) = s.json(Method::GET, &format!("/v1/endpoints?{theirs}"), None).await;
    assert!(list["error"].is_string(), "our token cannot list their org: {list}");
    let (st, d) = ep(&s, Method::GET, &format!("/{id}"), None).await;
    assert_eq!((st, &d["deployment"]["enabled"]), (200, &json!(true)), "nothing changed");
    let (_, keys) = ep(&s, Method::GET, &format!("/{id}/keys"), None).await;
    assert_eq!(keys["keys"][0]["enabled"], true);
}

#[tokio::test]
async fn keys_are_shown_once_stored_hashed_and_revoked() {
    let s = TestServer::new().await;
    s.project().await;
    let id = create(&s, json!({"slug": "keyed", "target": base_target(), "authMode": "fixed_api_key"})).await["id"].as_str().unwrap().to_owned();
    let (st, made) = ep(&s, Method::POST, &format!("/{id}/keys"), Some(json!({"label": " production "}))).await;
    assert_eq!(st, 201, "{made}");
    let k = &made["key"];
    let plaintext = k["plaintext"].as_str().unwrap().to_owned();
    assert_eq!(k["label"], "production");
    assert!(plaintext.starts_with(k["prefix"].as_str().unwrap()) && plaintext.len() >= 40, "{k}");
    assert!(k["createdAt"].is_string() && k["id"].is_string());

    let (st, list) = ep(&s, Method::GET, &format!("/{id}/keys"), None).await;
    assert_eq!(st, 200);
    let row = &list["keys"][0];
    let mut fields: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["createdAt", "enabled", "id", "label", "lastUsedAt", "prefix"]);
    assert_eq!((&row["id"], &row["enabled"], &row["lastUsedAt"]), (&k["id"], &json!(true), &Value::Null));
    assert!(!list.to_string().contains(&plaintext));

    // Only a hash is on disk: the database never holds the key.
    let db = rusqlite::Connection::open(s.home.join("arkor.sqlite")).unwrap();
    let hash: String = db.query_row("SELECT hash FROM deployment_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(hash.len(), 64);
    assert_ne!(hash, plaintext);
    drop(db);
    let raw = std::fs::read(s.home.join("arkor.sqlite")).unwrap();
    let wal = std::fs::read(s.home.join("arkor.sqlite-wal")).unwrap_or_default();
    let secret = &plaintext.as_bytes()[plaintext.len() - 32..];
    assert!(!raw.windows(32).chain(wal.windows(32)).any(|w| w == secret), "the plaintext is not stored");

    for (body, field) in [(json!({"label": ""}), "`label`"), (json!({"label": "x".repeat(81)}), "`label`"), (json!({}), "`label`")] {
        let (st, e) = ep(&s, Method::POST, &format!("/{id}/keys"), Some(body)).await;
        assert!(st == 400 && e["error"].as_str().unwrap().contains(field), "{e}");
    }

    let key_id = k["id"].as_str().unwrap();
    let res = s.req(Method::DELETE, &format!("/v1/endpoints/{id}/keys/{key_id}?{SCOPE}")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let (_, list) = ep(&s, Method::GET, &format!("/{id}/keys"), None).await;
    assert_eq!(list["keys"][0]["enabled"], false);
    let (st, e) = ep(&s, Method::DELETE, &format!("/{id}/keys/key_missing"), None).await;
    assert_eq!(st, 404, "{e}");

    // Deleting the deployment deletes its keys.
    ep(&s, Method::DELETE, &format!("/{id}"), None).await;
    let db = rusqlite::Connection::open(s.home.join("arkor.sqlite")).unwrap();
    let n: i64 = db.query_row("SELECT count(*) FROM deployment_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

// ---- Serving -------------------------------------------------------------

/// `POST` an OpenAI chat body to deployment `slug`, by path (or by Host
/// `<slug>.localhost` with `by_host`), with `key` as a bearer token.
async fn call(s: &TestServer, slug: &str, by_host: bool, body: Value, key: Option<&str>) -> (u16, String) {
    let port = s.server.as_ref().unwrap().addr.port();
    let mut r = if by_host {
        s.http.post(format!("{}/v1/chat/completions", s.url)).header("host", format!("{slug}.localhost:{port}"))
    } else {
        s.http.post(format!("{}/deployments/{slug}/v1/chat/completions", s.url))
    };
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    let res = r.json(&body).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn call_json(s: &TestServer, slug: &str, body: Value, key: Option<&str>) -> (u16, Value) {
    let (st, text) = call(s, slug, false, body, key).await;
    (st, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn hi(extra: Value) -> Value {
    let mut b = json!({"model": "whatever", "messages": [{"role": "user", "content": "my login fails"}], "max_tokens": 6});
    b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    b
}

/// Asserts an OpenAI error object; returns it.
fn openai_error(st: u16, body: &Value, want: u16) -> Value {
    assert_eq!(st, want, "{body}");
    let e = &body["error"];
    assert!(e["message"].is_string() && e["type"].is_string() && e.get("param").is_some() && e.get("code").is_some(), "{body}");
    e.clone()
}

async fn runs(s: &TestServer, id: &str) -> Vec<Value> {
    let (st, r) = ep(s, Method::GET, &format!("/{id}/runs"), None).await;
    assert_eq!(st, 200, "{r}");
    r["runs"].as_array().unwrap().clone()
}

fn stored_runs(s: &TestServer) -> i64 {
    let db = rusqlite::Connection::open(s.home.join("arkor.sqlite")).unwrap();
    db.query_row("SELECT count(*) FROM deployment_runs", [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn a_deployment_answers_openai_chat_completions_by_host_and_by_path() {
    let s = TestServer::new().await;
    s.project().await;
    create(&s, json!({"slug": "open-bot", "target": base_target(), "authMode": "none"})).await;
    let (st, text) = call(&s, "open-bot", false, hi(json!({})), None).await;
    assert_eq!(st, 200, "{text}");
    let c: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((c["object"].as_str(), c["model"].as_str()), (Some("chat.completion"), Some("open-bot")));
    assert!(c["id"].as_str().unwrap().starts_with("chatcmpl"));
    let choice = &c["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    let answer = choice["message"]["content"].as_str().unwrap().to_owned();
    assert!(matches!(choice["finish_reason"].as_str(), Some("stop" | "length")), "{c}");
    let u = &c["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0 && u["completion_tokens"].as_u64().unwrap() <= 6);
    assert_eq!(u["total_tokens"].as_u64(), Some(u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()));

    // The same deployment by its Host, with the same (greedy) answer.
    let (st, text) = call(&s, "open-bot", true, hi(json!({})), None).await;
    assert_eq!(st, 200, "{text}");
    let by_host: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(by_host["choices"][0]["message"]["content"], json!(answer));

    // Both answer GET /v1/models with the one model they serve.
    let port = s.server.as_ref().unwrap().addr.port();
    for req in [
        s.http.get(format!("{}/deployments/open-bot/v1/models", s.url)),
        s.http.get(format!("{}/v1/models", s.url)).header("host", format!("open-bot.localhost:{port}")),
    ] {
        let m: Value = req.send().await.unwrap().json().await.unwrap();
        assert_eq!((m["object"].as_str(), m["data"][0]["id"].as_str(), m["data"][0]["object"].as_str()), (Some("list"), Some("open-bot"), Some("model")), "{m}");
    }

    // A streamed answer: a role chunk, content chunks, the finish, usage, [DONE].
    let (st, text) = call(&s, "open-bot", false, hi(json!({"stream": true, "stream_options": {"include_usage": true}})), None).await;
    assert_eq!(st, 200, "{text}");
    let frames: Vec<String> = parse_sse(&text).into_iter().map(|f| f.2).collect();
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = frames[..frames.len() - 1].iter().map(|f| serde_json::from_str(f).unwrap()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "open-bot"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(streamed, answer);
    let usage = chunks.last().unwrap();
    assert_eq!((usage["choices"].clone(), usage["usage"].clone()), (json!([]), c["usage"].clone()));
    assert_eq!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"], choice["finish_reason"]);
    let (_, text) = call(&s, "open-bot", false, hi(json!({"stream": true})), None).await;
    assert!(!text.contains("\"usage\""), "usage only when asked for: {text}");

    // A stop text cuts the answer where it first appears, streamed or not.
    let stop: String = answer.chars().take(1).collect();
    assert!(!stop.is_empty(), "the tiny model answers something");
    let (_, c) = call_json(&s, "open-bot", hi(json!({"stop": [stop, "zzz"]})), None).await;
    assert_eq!(c["choices"][0]["message"]["content"], json!(&answer[..answer.find(&stop).unwrap()]));
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
    let (_, text) = call(&s, "open-bot", false, hi(json!({"stop": stop, "stream": true})), None).await;
    assert!(text.contains(r#""finish_reason":"stop""#), "{text}");
}

#[tokio::test]
async fn serving_errors_use_openais_error_object() {
    let s = TestServer::new().await;
    s.project().await;
    let id = create(&s, json!({"slug": "err-bot", "target": base_target(), "authMode": "none"})).await["id"].as_str().unwrap().to_owned();
    let cases = [
        (hi(json!({"n": 2})), "n"),
        (hi(json!({"top_p": 2})), "top_p"),
        (hi(json!({"max_tokens": 0})), "max_tokens"),
        (hi(json!({"max_completion_tokens": -1})), "max_completion_tokens"),
        (hi(json!({"stop": ["a", "b", "c", "d", "e"]})), "stop"),
        (hi(json!({"stream_options": {"include_usage": true}})), "stream_options"),
        (json!({"messages": []}), "messages"),
        (json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}), "messages[0].content"),
    ];
    for (body, param) in cases {
        let (st, e) = call_json(&s, "err-bot", body.clone(), None).await;
        let e = openai_error(st, &e, 400);
        assert_eq!((e["type"].as_str(), e["param"].as_str()), (Some("invalid_request_error"), Some(param)), "{body}: {e}");
    }
    let res = s.http.post(format!("{}/deployments/err-bot/v1/chat/completions", s.url)).header("content-type", "application/json").body("{not json").send().await.unwrap();
    let st = res.status().as_u16();
    openai_error(st, &res.json().await.unwrap(), 400);
    let (st, e) = call_json(&s, "no-such-bot", hi(json!({})), None).await;
    assert_eq!(openai_error(st, &e, 404)["code"], "deployment_not_found");
    // The API's own Host names no deployment.
    let res = s.http.post(format!("{}/v1/chat/completions", s.url)).json(&hi(json!({}))).send().await.unwrap();
    let st = res.status().as_u16();
    assert!(openai_error(st, &res.json().await.unwrap(), 404)["message"].as_str().unwrap().contains("/deployments/<slug>"));

    // Other routes and methods under a deployment: OpenAI's shape as well.
    let res = s.http.get(format!("{}/deployments/err-bot/v1/chat/completions", s.url)).send().await.unwrap();
    let st = res.status().as_u16();
    assert!(openai_error(st, &res.json().await.unwrap(), 405)["message"].as_str().unwrap().contains("POST"));
    let res = s.http.post(format!("{}/deployments/err-bot/v1/embeddings", s.url)).send().await.unwrap();
    let st = res.status().as_u16();
    assert_eq!(openai_error(st, &res.json().await.unwrap(), 404)["code"], "unknown_url");

    // Disabled: 404, as upstream's edge answers; enabled again, it serves.
    ep(&s, Method::PATCH, &format!("/{id}"), Some(json!({"enabled": false}))).await;
    let (st, e) = call_json(&s, "err-bot", hi(json!({})), None).await;
    assert_eq!(openai_error(st, &e, 404)["code"], "deployment_disabled");
    let res = s.http.get(format!("{}/deployments/err-bot/v1/models", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    ep(&s, Method::PATCH, &format!("/{id}"), Some(json!({"enabled": true}))).await;
    assert_eq!(call_json(&s, "err-bot", hi(json!({})), None).await.0, 200);

    // An adapter missing at call time (removed here from under a completed job's
    // checkpoint) is a 404 then.
    let job = some_job(&s).await;
    let ckpt = s.home.join("jobs").join(&job).join("final");
    create(&s, json!({"slug": "ckpt-bot", "target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": job}}, "authMode": "none"})).await;
    std::fs::remove_dir_all(&ckpt).unwrap();
    let (st, e) = call_json(&s, "ckpt-bot", hi(json!({})), None).await;
    assert!(openai_error(st, &e, 404)["message"].as_str().unwrap().contains("has no final adapter"), "{e}");
}

#[tokio::test]
async fn fixed_api_key_deployments_need_a_live_key() {
    let s = TestServer::new().await;
    s.project().await;
    let id = create(&s, json!({"slug": "locked", "target": base_target(), "authMode": "fixed_api_key"})).await["id"].as_str().unwrap().to_owned();
    let (st, e) = call_json(&s, "locked", hi(json!({})), None).await;
    let e = openai_error(st, &e, 401);
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("authentication_error"), Some("missing_api_key")));
    let (st, e) = call_json(&s, "locked", hi(json!({})), Some("ark_live_wrong")).await;
    assert_eq!(openai_error(st, &e, 401)["code"], "invalid_api_key");
    let (st, e) = call_json(&s, "locked", hi(json!({})), Some(TOKEN)).await;
    openai_error(st, &e, 401); // the server's token is no deployment key
    let res = s.http.get(format!("{}/deployments/locked/v1/models", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 401);

    let (_, made) = ep(&s, Method::POST, &format!("/{id}/keys"), Some(json!({"label": "prod"}))).await;
    let key = made["key"]["plaintext"].as_str().unwrap().to_owned();
    let key_id = made["key"]["id"].as_str().unwrap().to_owned();
    let (st, c) = call_json(&s, "locked", hi(json!({})), Some(&key)).await;
    assert_eq!(st, 200, "{c}");
    let res = s.http.post(format!("{}/deployments/locked/v1/chat/completions", s.url)).header("x-api-key", &key).json(&hi(json!({}))).send().await.unwrap();
    assert_eq!(res.status(), 200, "x-api-key works as upstream documents");
    let (_, keys) = ep(&s, Method::GET, &format!("/{id}/keys"), None).await;
    assert!(keys["keys"][0]["lastUsedAt"].is_string(), "{keys}");
    // Another deployment's key does not open this one.
    let other = create(&s, json!({"slug": "other", "target": base_target(), "authMode": "fixed_api_key"})).await;
    assert_eq!(call_json(&s, "other", hi(json!({})), Some(&key)).await.0, 401, "{other}");

    // Revoked: refused on the very next call.
    ep(&s, Method::DELETE, &format!("/{id}/keys/{key_id}"), None).await;
    let (st, e) = call_json(&s, "locked", hi(json!({})), Some(&key)).await;
    assert_eq!(openai_error(st, &e, 401)["code"], "invalid_api_key");
    // Opened up: no key needed; locked again: the revoked key stays refused.
    ep(&s, Method::PATCH, &format!("/{id}"), Some(json!({"authMode": "none"}))).await;
    assert_eq!(call_json(&s, "locked", hi(json!({})), None).await.0, 200);
    ep(&s, Method::PATCH, &format!("/{id}"), Some(json!({"authMode": "fixed_api_key"}))).await;
    assert_eq!(call_json(&s, "locked", hi(json!({})), Some(&key)).await.0, 401);
    // Refused calls are not runs; answered ones are.
    let r = runs(&s, &id).await;
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[2]["keyId"], json!(key_id));
}

#[tokio::test]
async fn a_trained_adapter_is_served_final_and_by_checkpoint() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 8);
    let (_, job) = s.create_job(tiny_config(&url, 4)).await;
    let job_id = job["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(s.wait_job(&job_id).await["status"], "completed");
    create(&s, json!({"slug": "final-bot", "target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": job_id}}, "authMode": "none"})).await;
    create(&s, json!({"slug": "step-bot", "target": {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": job_id, "step": 2}}, "authMode": "none"})).await;
    let (_, direct) = s
        .json(Method::POST, "/v1/inference/chat?orgSlug=local&projectSlug=p", Some(json!({"messages": [{"role": "user", "content": "my login fails"}], "maxTokens": 6, "adapter": {"kind": "final", "jobId": job_id}})))
        .await;
    let (st, c) = call_json(&s, "final-bot", hi(json!({})), None).await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["choices"][0]["message"]["content"], direct["content"], "the deployment runs the job's final adapter");
    let (st, c) = call_json(&s, "step-bot", hi(json!({})), None).await;
    assert_eq!(st, 200, "{c}");
    // The job has ended: a checkpoint it never saved never will be, so it is refused at once.
    let (st, e) = ep(&s, Method::POST, "", Some(json!({"slug": "odd-bot", "target": {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": job_id, "step": 3}}, "authMode": "none"}))).await;
    assert_eq!(st, 400, "{e}");
    let msg = e["error"].as_str().unwrap_or_default();
    assert!(msg.contains("`target.adapter.step` cannot be served") && msg.contains("no checkpoint at step 3") && msg.contains("pick a step"), "{e}");
}

#[tokio::test]
async fn runs_are_recorded_and_kept_as_the_retention_mode_says() {
    let s = TestServer::new().await;
    s.project().await;
    let id = create(&s, json!({"slug": "kept", "target": base_target(), "authMode": "none", "runRetentionMode": "unlimited"})).await["id"].as_str().unwrap().to_owned();
    call_json(&s, "kept", hi(json!({})), None).await;
    call(&s, "kept", false, hi(json!({"stream": true})), None).await;
    call_json(&s, "kept", hi(json!({"n": 3})), None).await;
    let r = runs(&s, &id).await;
    assert_eq!(r.len(), 3, "{r:?}");
    let (bad, streamed, plain) = (&r[0], &r[1], &r[2]);
    assert_eq!((plain["status"].as_u64(), plain["stream"].as_bool()), (Some(200), Some(false)));
    assert!(plain["promptTokens"].as_u64().unwrap() > 0 && plain["completionTokens"].as_u64().unwrap() > 0, "{plain}");
    assert!(plain["latencyMs"].is_u64() && plain["createdAt"].is_string() && plain["finishReason"].is_string());
    assert_eq!((streamed["status"].as_u64(), streamed["stream"].as_bool()), (Some(200), Some(true)));
    assert_eq!(streamed["completionTokens"], plain["completionTokens"]);
    assert_eq!(bad["status"], 400);
    assert!(bad["error"].as_str().unwrap().contains("`n`"), "{bad}");
    let (st, e) = ep(&s, Method::GET, &format!("/{id}/runs?limit=0"), None).await;
    assert!(st == 400 && e["error"].as_str().unwrap().contains("limit"), "{e}");
    let (_, one) = ep(&s, Method::GET, &format!("/{id}/runs?limit=1"), None).await;
    assert_eq!(one["runs"].as_array().unwrap().len(), 1);

    // disabled: nothing recorded, and what was kept is deleted.
    ep(&s, Method::PATCH, &format!("/{id}"), Some(json!({"runRetentionMode": "disabled"}))).await;
    assert_eq!(stored_runs(&s), 0, "switching to disabled deletes the stored runs");
    call_json(&s, "kept", hi(json!({})), None).await;
    assert_eq!(runs(&s, &id).await.len(), 0);
    assert_eq!(stored_runs(&s), 0);

    // days: runs older than the window are deleted from the database.
    ep(&s, Method::PATCH, &format!("/{id}"), Some(json!({"runRetentionMode": "days", "runRetentionDays": 2}))).await;
    call_json(&s, "kept", hi(json!({})), None).await;
    call_json(&s, "kept", hi(json!({})), None).await;
    assert_eq!(runs(&s, &id).await.len(), 2);
    let db = rusqlite::Connection::open(s.home.join("arkor.sqlite")).unwrap();
    let old = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    db.execute("UPDATE deployment_runs SET created_at = ?1 WHERE id = (SELECT min(id) FROM deployment_runs)", [&old]).unwrap();
    drop(db);
    assert_eq!(runs(&s, &id).await.len(), 1, "the 3-day-old run is past a 2-day retention");
    assert_eq!(stored_runs(&s), 1, "and is gone from the database, not just hidden");

    // A stream the client drops midway is still a run, marked as cut short.
    ep(&s, Method::PATCH, &format!("/{id}"), Some(json!({"runRetentionMode": "unlimited"}))).await;
    let mut res = s
        .http
        .post(format!("{}/deployments/kept/v1/chat/completions", s.url))
        .json(&hi(json!({"stream": true, "max_tokens": 3500})))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.chunk().await.unwrap();
    drop(res);
    let mut cut = None;
    for _ in 0..500 {
        cut = runs(&s, &id).await.into_iter().find(|r| r["stream"] == true);
        if cut.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let cut = cut.expect("the dropped stream was recorded");
    assert_eq!((cut["status"].as_u64(), &cut["finishReason"]), (Some(200), &Value::Null), "{cut}");
    assert!(cut["error"].as_str().unwrap().contains("disconnected"), "{cut}");

    // Deleting the deployment deletes its runs.
    ep(&s, Method::DELETE, &format!("/{id}"), None).await;
    assert_eq!(stored_runs(&s), 0);
}

#[tokio::test]
async fn a_deployment_serves_response_format_and_tool_calls_in_openais_names() {
    let s = TestServer::new().await;
    s.project().await;
    create(&s, json!({"slug": "tool-bot", "target": base_target(), "authMode": "none"})).await;
    let (st, c) = call_json(&s, "tool-bot", hi(json!({"max_tokens": 20, "response_format": {"type": "json_schema", "json_schema": {"name": "u", "schema": {"type": "string", "enum": ["low", "high"]}}}})), None).await;
    assert_eq!(st, 200, "{c}");
    assert!(["\"low\"", "\"high\""].contains(&c["choices"][0]["message"]["content"].as_str().unwrap()), "{c}");
    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["n"], "additionalProperties": false}}}]);
    let (st, c) = call_json(&s, "tool-bot", hi(json!({"max_tokens": 60, "tools": tools, "tool_choice": "required"})), None).await;
    assert_eq!(st, 200, "{c}");
    let call = &c["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "lookup", "{c}");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["n"].as_u64().unwrap() <= 9, "{args}");
    let (st, c) = call_json(&s, "tool-bot", hi(json!({"structured_outputs": {"regex": "("}})), None).await;
    let e = openai_error(st, &c, 400);
    assert!(e["message"].as_str().unwrap().contains("`structured_outputs.regex`"), "{e}");
}

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

/// A job of the local org (its training is irrelevant here).
async fn some_job(s: &TestServer) -> String {
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 4);
    let (st, job) = s.create_job(tiny_config(&url, 1)).await;
    assert_eq!(st, 201, "{job}");
    job["job"]["id"].as_str().unwrap().to_owned()
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

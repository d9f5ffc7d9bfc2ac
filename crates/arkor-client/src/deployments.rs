//! Deployments: OpenAI-compatible endpoints for an adapter or a base model,
//! and their API keys (`/v1/endpoints…`, docs/PROTOCOL.md). Bodies and
//! answers are upstream's DTOs, passed through as JSON; each request is sent
//! once, as upstream's client does.

use serde_json::Value;

use crate::error::Result;
use crate::http::{CloudApiClient, Method, Scope};
use crate::wire::enc;

impl CloudApiClient {
    /// `GET /v1/endpoints` → `{ deployments }`.
    pub async fn list_deployments(&self, scope: &Scope) -> Result<Value> {
        self.call(Method::GET, "/v1/endpoints", &scope.query(), None).await
    }

    /// `POST /v1/endpoints` with a `CreateDeploymentInput` → `{ deployment }`.
    pub async fn create_deployment(&self, scope: &Scope, input: &Value) -> Result<Value> {
        self.call(Method::POST, "/v1/endpoints", &scope.query(), Some(input)).await
    }

    /// `GET /v1/endpoints/:id` → `{ deployment }`.
    pub async fn get_deployment(&self, id: &str, scope: &Scope) -> Result<Value> {
        self.call(Method::GET, &format!("/v1/endpoints/{}", enc(id)), &scope.query(), None).await
    }

    /// `PATCH /v1/endpoints/:id` with an `UpdateDeploymentInput` → `{ deployment }`.
    pub async fn update_deployment(&self, id: &str, scope: &Scope, input: &Value) -> Result<Value> {
        self.call(Method::PATCH, &format!("/v1/endpoints/{}", enc(id)), &scope.query(), Some(input)).await
    }

    /// `DELETE /v1/endpoints/:id` (204).
    pub async fn delete_deployment(&self, id: &str, scope: &Scope) -> Result<()> {
        self.call(Method::DELETE, &format!("/v1/endpoints/{}", enc(id)), &scope.query(), None).await.map(|_| ())
    }

    /// `GET /v1/endpoints/:id/keys` → `{ keys }`.
    pub async fn list_deployment_keys(&self, id: &str, scope: &Scope) -> Result<Value> {
        self.call(Method::GET, &format!("/v1/endpoints/{}/keys", enc(id)), &scope.query(), None).await
    }

    /// `POST /v1/endpoints/:id/keys` with `{ label? }` → `{ key: { id, label, plaintext, prefix, createdAt } }`: the only time the plaintext is shown.
    pub async fn create_deployment_key(&self, id: &str, scope: &Scope, input: &Value) -> Result<Value> {
        self.call(Method::POST, &format!("/v1/endpoints/{}/keys", enc(id)), &scope.query(), Some(input)).await
    }

    /// `GET /v1/endpoints/:id/runs?limit` → `{ runs }`, newest first: the
    /// calls the deployment answered, as its retention mode keeps them (a
    /// route of arkor's local backend; upstream's API has none).
    pub async fn list_deployment_runs(&self, id: &str, scope: &Scope, limit: Option<u32>) -> Result<Value> {
        let limit = limit.map(|l| l.to_string());
        let mut query = scope.query().to_vec();
        if let Some(l) = &limit {
            query.push(("limit", l));
        }
        self.call(Method::GET, &format!("/v1/endpoints/{}/runs", enc(id)), &query, None).await
    }

    /// `DELETE /v1/endpoints/:id/keys/:keyId`: the key stops working at once.
    pub async fn revoke_deployment_key(&self, id: &str, key_id: &str, scope: &Scope) -> Result<()> {
        let path = format!("/v1/endpoints/{}/keys/{}", enc(id), enc(key_id));
        self.call(Method::DELETE, &path, &scope.query(), None).await.map(|_| ())
    }
}

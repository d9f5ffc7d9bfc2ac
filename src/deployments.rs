//! The deployment methods of `NativeClient` (arkor_client::deployments).

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

use crate::client::NativeClient;
use crate::errors::IntoNapi;
use crate::objects::ScopeObject;
use arkor_client::Scope;

#[napi]
impl NativeClient {
    /// `GET /v1/endpoints` → `{ deployments }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn list_deployments<'env>(&self, env: &'env Env, scope: ScopeObject) -> Result<PromiseRaw<'env, Value>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.list_deployments(&scope).await.napi() })
    }

    /// `POST /v1/endpoints` → `{ deployment }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn create_deployment<'env>(&self, env: &'env Env, scope: ScopeObject, input: Value) -> Result<PromiseRaw<'env, Value>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.create_deployment(&scope, &input).await.napi() })
    }

    /// `GET /v1/endpoints/:id` → `{ deployment }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn get_deployment<'env>(&self, env: &'env Env, id: String, scope: ScopeObject) -> Result<PromiseRaw<'env, Value>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.get_deployment(&id, &scope).await.napi() })
    }

    /// `PATCH /v1/endpoints/:id` → `{ deployment }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn update_deployment<'env>(&self, env: &'env Env, id: String, scope: ScopeObject, input: Value) -> Result<PromiseRaw<'env, Value>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.update_deployment(&id, &scope, &input).await.napi() })
    }

    /// `DELETE /v1/endpoints/:id`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete_deployment<'env>(&self, env: &'env Env, id: String, scope: ScopeObject) -> Result<PromiseRaw<'env, ()>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.delete_deployment(&id, &scope).await.napi() })
    }

    /// `GET /v1/endpoints/:id/keys` → `{ keys }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn list_deployment_keys<'env>(&self, env: &'env Env, id: String, scope: ScopeObject) -> Result<PromiseRaw<'env, Value>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.list_deployment_keys(&id, &scope).await.napi() })
    }

    /// `POST /v1/endpoints/:id/keys` → `{ key: { id, label, plaintext, prefix, createdAt } }`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn create_deployment_key<'env>(&self, env: &'env Env, id: String, scope: ScopeObject, input: Value) -> Result<PromiseRaw<'env, Value>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.create_deployment_key(&id, &scope, &input).await.napi() })
    }

    /// `GET /v1/endpoints/:id/runs?limit` → `{ runs }` (arkor's local backend only).
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn list_deployment_runs<'env>(&self, env: &'env Env, id: String, scope: ScopeObject, limit: Option<u32>) -> Result<PromiseRaw<'env, Value>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.list_deployment_runs(&id, &scope, limit).await.napi() })
    }

    /// `DELETE /v1/endpoints/:id/keys/:keyId`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn revoke_deployment_key<'env>(&self, env: &'env Env, id: String, key_id: String, scope: ScopeObject) -> Result<PromiseRaw<'env, ()>> {
        let (client, scope) = (self.inner.clone(), Scope::from(scope));
        env.spawn_future(async move { client.revoke_deployment_key(&id, &key_id, &scope).await.napi() })
    }
}

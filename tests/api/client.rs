//! One method per `/api/v1` endpoint that the tests use, named after API.md, on [`Api`].
//!
//! Each method returns the raw [`Response`], so a test still asserts the status and the error
//! shape itself. A `_ok` variant asserts the success status (200 for reads) and returns the
//! parsed JSON body. Bodies the tests vary (valid and invalid) are passed as JSON values; a
//! `_raw` variant sends a JSON text as is, for malformed bodies. `query` arguments are the query
//! string without its `?` (`"action=login&actor=dev"`), or `""` for none.
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::Api;

const V1: &str = "/api/v1";

/// `path`, with `?query` when `query` is not empty.
fn with_query(path: String, query: &str) -> String {
    if query.is_empty() { path } else { format!("{path}?{query}") }
}

impl Api {
    // ----- tokens and the caller ----------------------------------------------------------

    /// `POST /api/v1/auth/token` `{"username","password"}`.
    pub async fn auth_token(&self, username: &str, password: &str) -> Response {
        self.post(&format!("{V1}/auth/token"), &json!({"username": username, "password": password})).await
    }
    /// `POST /api/v1/auth/token` with `body` sent as is.
    pub async fn auth_token_raw(&self, body: &str) -> Response {
        self.post_raw(&format!("{V1}/auth/token"), body).await
    }
    /// `GET /api/v1/me`.
    pub async fn get_me(&self) -> Response {
        self.get(&format!("{V1}/me")).await
    }
    pub async fn get_me_ok(&self) -> Value {
        self.json(&format!("{V1}/me")).await
    }

    // ----- people ---------------------------------------------------------------------------

    /// `POST /api/v1/users` `{"username","password","display_name"?,"email"?,"is_admin"?}`.
    pub async fn create_user(&self, body: &Value) -> Response {
        self.post(&format!("{V1}/users"), body).await
    }
    pub async fn create_user_raw(&self, body: &str) -> Response {
        self.post_raw(&format!("{V1}/users"), body).await
    }
    /// `GET /api/v1/users[?query]`.
    pub async fn list_users(&self, query: &str) -> Response {
        self.get(&with_query(format!("{V1}/users"), query)).await
    }
    pub async fn list_users_ok(&self, query: &str) -> Value {
        self.json(&with_query(format!("{V1}/users"), query)).await
    }
    /// `PATCH /api/v1/users/{username}` `{"is_active"?,"is_admin"?,"password"?,"current_password"?,"email"?,"display_name"?}`.
    pub async fn update_user(&self, username: &str, body: &Value) -> Response {
        self.patch(&format!("{V1}/users/{username}"), body).await
    }
    /// `POST /api/v1/groups` `{"name","description"?}`.
    pub async fn create_group(&self, body: &Value) -> Response {
        self.post(&format!("{V1}/groups"), body).await
    }
    /// `GET /api/v1/groups`.
    pub async fn list_groups_ok(&self) -> Value {
        self.json(&format!("{V1}/groups")).await
    }
    /// `GET /api/v1/groups/{group}`.
    pub async fn get_group(&self, group: &str) -> Response {
        self.get(&format!("{V1}/groups/{group}")).await
    }
    pub async fn get_group_ok(&self, group: &str) -> Value {
        self.json(&format!("{V1}/groups/{group}")).await
    }
    /// `PUT /api/v1/groups/{group}/members/{username}` `{"role"}`.
    pub async fn set_member(&self, group: &str, username: &str, role: &str) -> Response {
        self.put(&format!("{V1}/groups/{group}/members/{username}"), &json!({"role": role})).await
    }
    /// `DELETE /api/v1/groups/{group}/members/{username}`.
    pub async fn remove_member(&self, group: &str, username: &str) -> Response {
        self.delete(&format!("{V1}/groups/{group}/members/{username}")).await
    }
    /// `PUT /api/v1/groups/{group}/quota` `{"max_containers"?,"max_memory_mb"?,"max_cpus"?}`.
    pub async fn set_quota(&self, group: &str, body: &Value) -> Response {
        self.put(&format!("{V1}/groups/{group}/quota"), body).await
    }
    /// `PUT /api/v1/settings/local-login` `{"enabled"}`.
    pub async fn set_local_login(&self, enabled: bool) -> Response {
        self.put(&format!("{V1}/settings/local-login"), &json!({"enabled": enabled})).await
    }

    // ----- personal API tokens ----------------------------------------------------------------

    /// `POST /api/v1/tokens` `{"name","expires_in_days"?}`.
    pub async fn create_token(&self, body: &Value) -> Response {
        self.post(&format!("{V1}/tokens"), body).await
    }
    /// `GET /api/v1/tokens[?query]` (`all=true` for everyone's, admins only).
    pub async fn list_tokens(&self, query: &str) -> Response {
        self.get(&with_query(format!("{V1}/tokens"), query)).await
    }
    pub async fn list_tokens_ok(&self, query: &str) -> Value {
        self.json(&with_query(format!("{V1}/tokens"), query)).await
    }
    /// `DELETE /api/v1/tokens/{id}`.
    pub async fn revoke_token(&self, id: i64) -> Response {
        self.delete(&format!("{V1}/tokens/{id}")).await
    }

    // ----- audit --------------------------------------------------------------------------------

    /// `GET /api/v1/audit[?query]` (filters `actor`, `action`, `since`; paging).
    pub async fn get_audit(&self, query: &str) -> Response {
        self.get(&with_query(format!("{V1}/audit"), query)).await
    }
    pub async fn get_audit_ok(&self, query: &str) -> Value {
        self.json(&with_query(format!("{V1}/audit"), query)).await
    }

    // ----- hosts --------------------------------------------------------------------------------

    /// `POST /api/v1/hosts` `{"name","endpoint","tls"?,"labels"?,"max_containers"?,…}`.
    pub async fn register_host(&self, body: &Value) -> Response {
        self.post(&format!("{V1}/hosts"), body).await
    }
    /// `GET /api/v1/hosts`.
    pub async fn list_hosts(&self) -> Response {
        self.get(&format!("{V1}/hosts")).await
    }
    pub async fn list_hosts_ok(&self) -> Value {
        self.json(&format!("{V1}/hosts")).await
    }
    /// `GET /api/v1/hosts/{id or name}`.
    pub async fn get_host(&self, host: &str) -> Response {
        self.get(&format!("{V1}/hosts/{host}")).await
    }
    pub async fn get_host_ok(&self, host: &str) -> Value {
        self.json(&format!("{V1}/hosts/{host}")).await
    }
    /// `DELETE /api/v1/hosts/{id or name}`.
    pub async fn remove_host(&self, host: &str) -> Response {
        self.delete(&format!("{V1}/hosts/{host}")).await
    }

    // ----- blueprints and the catalog -----------------------------------------------------------

    /// `POST /api/v1/blueprints` with the YAML as the body (`application/yaml`).
    pub async fn publish_blueprint(&self, yaml: &str) -> Response {
        self.client_post_yaml(&format!("{V1}/blueprints"), yaml).await
    }
    /// `POST /api/v1/blueprints` `{"source": yaml}`.
    pub async fn publish_blueprint_source(&self, yaml: &str) -> Response {
        self.post(&format!("{V1}/blueprints"), &json!({"source": yaml})).await
    }
    /// `POST /api/v1/blueprints` with a JSON `body` sent as is.
    pub async fn publish_blueprint_raw(&self, body: &str) -> Response {
        self.post_raw(&format!("{V1}/blueprints"), body).await
    }
    /// `GET /api/v1/blueprints`.
    pub async fn list_blueprints_ok(&self) -> Value {
        self.json(&format!("{V1}/blueprints")).await
    }
    /// `GET /api/v1/blueprints/{id}`.
    pub async fn get_blueprint(&self, id: &str) -> Response {
        self.get(&format!("{V1}/blueprints/{id}")).await
    }
    pub async fn get_blueprint_ok(&self, id: &str) -> Value {
        self.json(&format!("{V1}/blueprints/{id}")).await
    }
    /// `POST /api/v1/blueprints/{id}/deploy` `{"inputs"?,"name"?,"version"?,"host_selector"?}`.
    pub async fn deploy_blueprint(&self, id: &str, body: &Value) -> Response {
        self.post(&format!("{V1}/blueprints/{id}/deploy"), body).await
    }
    /// `POST /api/v1/catalog-items` `{"id","name","category","blueprint","lease",…}`.
    pub async fn create_catalog_item(&self, body: &Value) -> Response {
        self.post(&format!("{V1}/catalog-items"), body).await
    }
    /// `POST /api/v1/entitlements` `{"group","catalog_items"?,"categories"?,"actions"?}`.
    pub async fn create_entitlement(&self, body: &Value) -> Response {
        self.post(&format!("{V1}/entitlements"), body).await
    }
    /// `POST /api/v1/approval-policies` `{"name","scope"?,"condition"?,"levels"}`.
    pub async fn create_approval_policy(&self, body: &Value) -> Response {
        self.post(&format!("{V1}/approval-policies"), body).await
    }
    /// `GET /api/v1/approval-policies`.
    pub async fn list_approval_policies_ok(&self) -> Value {
        self.json(&format!("{V1}/approval-policies")).await
    }

    // ----- requests and approvals ---------------------------------------------------------------

    /// `POST /api/v1/requests` `{"catalog_item","group","inputs"?,"lease_days"?,"reason"?}`.
    pub async fn submit_request(&self, body: &Value) -> Response {
        self.post(&format!("{V1}/requests"), body).await
    }
    /// `GET /api/v1/requests[?query]`.
    pub async fn list_requests_ok(&self, query: &str) -> Value {
        self.json(&with_query(format!("{V1}/requests"), query)).await
    }
    /// `GET /api/v1/requests/{id}`.
    pub async fn get_request(&self, id: &str) -> Response {
        self.get(&format!("{V1}/requests/{id}")).await
    }
    pub async fn get_request_ok(&self, id: &str) -> Value {
        self.json(&format!("{V1}/requests/{id}")).await
    }
    /// `POST /api/v1/requests/{id}/approve` `{}`.
    pub async fn approve(&self, id: &str) -> Response {
        self.post(&format!("{V1}/requests/{id}/approve"), &json!({})).await
    }
    /// `POST /api/v1/requests/{id}/approve` `{"comment"}`.
    pub async fn approve_with_comment(&self, id: &str, comment: &str) -> Response {
        self.post(&format!("{V1}/requests/{id}/approve"), &json!({"comment": comment})).await
    }
    /// `POST /api/v1/requests/{id}/approve` with `body` sent as is (`""`: no body at all).
    pub async fn approve_raw(&self, id: &str, body: &str) -> Response {
        self.post_raw(&format!("{V1}/requests/{id}/approve"), body).await
    }
    /// `POST /api/v1/requests/{id}/cancel` `{}`.
    pub async fn cancel_request(&self, id: &str) -> Response {
        self.post(&format!("{V1}/requests/{id}/cancel"), &json!({})).await
    }
    /// `GET /api/v1/approvals`: the requests waiting on the caller.
    pub async fn list_approvals_ok(&self) -> Value {
        self.json(&format!("{V1}/approvals")).await
    }

    // ----- deployments --------------------------------------------------------------------------

    /// `GET /api/v1/deployments`.
    pub async fn list_deployments_ok(&self) -> Value {
        self.json(&format!("{V1}/deployments")).await
    }
    /// `GET /api/v1/deployments/{id}`.
    pub async fn get_deployment(&self, id: &str) -> Response {
        self.get(&format!("{V1}/deployments/{id}")).await
    }
    pub async fn get_deployment_ok(&self, id: &str) -> Value {
        self.json(&format!("{V1}/deployments/{id}")).await
    }
    /// `POST /api/v1/deployments/{id}/actions` `{"action"}` (`destroy`, `retry`, `stop`, …).
    pub async fn deployment_action(&self, id: &str, action: &str) -> Response {
        self.post(&format!("{V1}/deployments/{id}/actions"), &json!({"action": action})).await
    }

    // ----- the OpenAPI document -----------------------------------------------------------------

    /// `GET /api/v1/openapi.json`.
    pub async fn get_openapi_ok(&self) -> Value {
        self.json(&format!("{V1}/openapi.json")).await
    }
}

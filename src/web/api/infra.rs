//! `/api/v1` for hosts, blueprints and deployments (admins, until the request flow opens
//! deployments to their owners).
use std::collections::BTreeMap;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page_response;
use crate::docker::TlsMaterial;
use crate::services::deployments::{self, DeployInput, DeploymentFilter};
use crate::services::{PageRequest, blueprints, hosts};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Admin, Signed};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hosts", web::get().to(list_hosts))
        .route("/hosts", web::post().to(create_host))
        .route("/hosts/{id}", web::get().to(get_host))
        .route("/hosts/{id}", web::delete().to(delete_host))
        .route("/blueprints", web::get().to(list_blueprints))
        .route("/blueprints", web::post().to(create_blueprint))
        .route("/blueprints/{id}", web::get().to(get_blueprint))
        .route("/blueprints/{id}/deploy", web::post().to(deploy))
        .route("/deployments", web::get().to(list_deployments))
        .route("/deployments/{id}", web::get().to(get_deployment))
        .route("/deployments/{id}/actions", web::post().to(act));
}

// ----- hosts --------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TlsBody {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HostBody {
    name: String,
    endpoint: String,
    tls: Option<TlsBody>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    max_containers: Option<i32>,
    publish_address: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/hosts", tag = "hosts", description = "Register a Docker engine; Wharf connects to it first (admins).", request_body = HostBody, responses((status = 201, body = crate::services::hosts::HostView), super::doc::Errors))]
async fn create_host(admin: Admin, state: web::Data<AppState>, body: web::Json<HostBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = hosts::HostInput {
        name: b.name,
        endpoint: b.endpoint,
        tls: b.tls.map(|t| TlsMaterial { ca_pem: t.ca_pem, cert_pem: t.cert_pem, key_pem: t.key_pem }),
        labels: b.labels,
        max_containers: b.max_containers,
        publish_address: b.publish_address,
    };
    let host = hosts::register(&state.db, &admin.principal.username, input, true).await?;
    Ok(HttpResponse::Created().json(host))
}

#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts", description = "Hosts and their health (admins).", responses((status = 200, body = Vec<crate::services::hosts::HostView>), super::doc::Errors))]
async fn list_hosts(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(hosts::list(&state.db).await?))
}

#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "hosts", description = "One host (admins).", params(("id" = String, Path, description = "id or name")), responses((status = 200, body = crate::services::hosts::HostView), super::doc::Errors))]
async fn get_host(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(hosts::view(hosts::find(&state.db, &id).await?)))
}

#[derive(Deserialize)]
struct ForceQuery {
    #[serde(default)]
    force: bool,
}

#[utoipa::path(delete, path = "/api/v1/hosts/{id}", tag = "hosts", description = "Remove a host; 409 while live deployments run there unless force (admins).", params(("id" = String, Path, description = "id or name"), ("force" = Option<bool>, Query)), responses((status = 204, description = "done"), super::doc::Errors))]
async fn delete_host(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<ForceQuery>,
) -> Result<HttpResponse, AppError> {
    hosts::remove(&state.db, state.engine.pool(), &admin.principal.username, &id, q.force).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----- blueprints ---------------------------------------------------------------------------

/// The body is the YAML itself (`application/yaml`, `text/yaml`, `text/plain`), or JSON
/// `{"source": "<yaml>"}`.
#[utoipa::path(post, path = "/api/v1/blueprints", tag = "blueprints", description = "Publish a blueprint version (admins); 200 when this exact version exists.", request_body(content((String = "application/yaml"), (super::doc::SourceBody = "application/json"))), responses((status = 201, body = crate::services::blueprints::Published), super::doc::Errors))]
async fn create_blueprint(req: HttpRequest, admin: Admin, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let text = std::str::from_utf8(&body).map_err(|_| AppError::BadRequest("the body is not UTF-8 text".into()))?;
    let source = match req.content_type() {
        "application/json" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                source: String,
            }
            serde_json::from_str::<Body>(text).map_err(|e| AppError::BadRequest(format!("malformed JSON body: {e}")))?.source
        }
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" | "text/plain" | "" => text.to_string(),
        other => {
            return Err(AppError::BadRequest(format!("send the blueprint as application/yaml or as JSON {{\"source\": …}}, not {other}")));
        }
    };
    let published = blueprints::publish(&state.db, &admin.principal.username, &source).await?;
    let status = if published.created { actix_web::http::StatusCode::CREATED } else { actix_web::http::StatusCode::OK };
    Ok(HttpResponse::build(status).json(json!({"id": published.id, "version": published.version, "created": published.created})))
}

#[utoipa::path(get, path = "/api/v1/blueprints", tag = "blueprints", description = "Blueprints (admins).", responses((status = 200, body = Vec<crate::services::blueprints::BlueprintSummary>), super::doc::Errors))]
async fn list_blueprints(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(blueprints::list(&state.db).await?))
}

#[utoipa::path(get, path = "/api/v1/blueprints/{id}", tag = "blueprints", description = "A blueprint with its versions (admins).", params(("id" = String, Path)), responses((status = 200, body = crate::services::blueprints::BlueprintDetail), super::doc::Errors))]
async fn get_blueprint(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(blueprints::detail(&state.db, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    version: Option<i32>,
    name: Option<String>,
    #[serde(default)]
    inputs: serde_json::Map<String, Value>,
    #[serde(default)]
    host_selector: BTreeMap<String, String>,
}

#[utoipa::path(post, path = "/api/v1/blueprints/{id}/deploy", tag = "blueprints", description = "Deploy a blueprint to try it (admins).", params(("id" = String, Path)), request_body = DeployBody, responses((status = 202, body = crate::services::deployments::DeploymentView), super::doc::Errors))]
async fn deploy(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<DeployBody>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = DeployInput {
        blueprint: id.into_inner(),
        version: b.version,
        name: b.name,
        inputs: b.inputs,
        host_selector: b.host_selector,
        owner_id: Some(admin.principal.user_id),
        group_id: None,
    };
    let d = deployments::deploy(&state.ctx, &admin.principal.username, input).await?;
    Ok(HttpResponse::Accepted().json(d))
}

// ----- deployments --------------------------------------------------------------------------

#[derive(Deserialize)]
struct ListQuery {
    page: Option<u64>,
    per_page: Option<u64>,
    status: Option<String>,
    blueprint: Option<String>,
    group: Option<String>,
    owner: Option<String>,
}

/// Owners see theirs, managers their groups', admins all.
#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", description = "Deployments: own, managed groups', or all for admins.", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50"), ("status" = Option<crate::domain::states::DeploymentStatus>, Query), ("blueprint" = Option<String>, Query), ("group" = Option<String>, Query), ("owner" = Option<String>, Query)), responses((status = 200, body = Vec<crate::services::deployments::DeploymentSummary>), super::doc::Errors))]
async fn list_deployments(
    req: HttpRequest,
    user: Signed,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let status = DeploymentFilter::parse_status(q.status.as_deref())?;
    let filter = DeploymentFilter { status, blueprint: q.blueprint, group: q.group, owner: q.owner };
    let page = deployments::list(&state.db, &user.principal, &filter, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "deployments", description = "A deployment with its containers, ports and outputs.", params(("id" = String, Path)), responses((status = 200, body = crate::services::deployments::DeploymentView), super::doc::Errors))]
async fn get_deployment(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(deployments::get_for(&state.ctx, &user.principal, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    action: String,
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/actions", tag = "deployments", description = "A day-2 action (destroy, retry), as the entitlement allows.", params(("id" = String, Path)), request_body = ActionBody, responses((status = 202, body = crate::services::deployments::DeploymentView), super::doc::Errors))]
async fn act(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<ActionBody>,
) -> Result<HttpResponse, AppError> {
    let d = deployments::act_for(&state.ctx, &user.principal, &id, &body.action).await?;
    Ok(HttpResponse::Accepted().json(d))
}

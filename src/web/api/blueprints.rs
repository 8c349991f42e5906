//! `/api/v1/blueprints`: publish and read blueprints, and deploy one to try it (admins).
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::doc;
use crate::services::blueprints;
use crate::services::deployments::{self, DeployInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/blueprints", web::get().to(list_blueprints))
        .route("/blueprints", web::post().to(create_blueprint))
        .route("/blueprints/import-compose", web::post().to(import_compose))
        .route("/blueprints/{id}", web::get().to(get_blueprint))
        .route("/blueprints/{id}/deploy", web::post().to(deploy))
        .route("/blueprints/{id}/versions/{version}/compose", web::get().to(compose));
}

/// The body is the YAML itself (`application/yaml`, `text/yaml`, `text/plain`), or JSON
/// `{"source": "<yaml>"}`.
#[utoipa::path(post, path = "/api/v1/blueprints", tag = "blueprints", description = "Publish a blueprint version (admins); 200 when this exact version exists.", request_body(content((String = "application/yaml"), (doc::SourceBody = "application/json"))), responses((status = 201, body = crate::services::blueprints::Published), doc::Errors))]
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
    let published = blueprints::publish(&state.ctx.db, &admin.principal.username, &source).await?;
    let status = if published.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(json!({"id": published.id, "version": published.version, "created": published.created})))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// The blueprint's id (else the Compose file's `name:`, else `file`'s name).
    id: Option<String>,
    /// The Compose file's name, for the draft's description and a default id.
    file: Option<String>,
}

/// The body is the Compose file itself (YAML).
#[utoipa::path(post, path = "/api/v1/blueprints/import-compose", tag = "blueprints", description = "Convert a Compose file into a blueprint draft (admins); nothing is stored. 200 with the draft and what was left out (each at its line and column); 422 with every construct that cannot be mapped (`build:`, host networking, `privileged`, host bind mounts, `extends`, …) at its line and column.", params(ImportQuery), request_body(content((String = "application/yaml"))), responses((status = 200, body = crate::services::blueprints::ComposeDraft), doc::Errors))]
async fn import_compose(_: Admin, query: web::Query<ImportQuery>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let text = std::str::from_utf8(&body).map_err(|_| AppError::BadRequest("the body is not UTF-8 text".into()))?;
    let q = query.into_inner();
    let draft = blueprints::import_compose(text, q.id.as_deref(), q.file.as_deref().unwrap_or("compose.yaml"))?;
    Ok(HttpResponse::Ok().json(draft))
}

#[utoipa::path(get, path = "/api/v1/blueprints", tag = "blueprints", description = "Blueprints (admins).", responses((status = 200, body = Vec<crate::services::blueprints::BlueprintSummary>), doc::Errors))]
async fn list_blueprints(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(blueprints::list(&state.ctx.db).await?))
}

#[utoipa::path(get, path = "/api/v1/blueprints/{id}", tag = "blueprints", description = "A blueprint with its versions (admins).", params(("id" = String, Path)), responses((status = 200, body = crate::services::blueprints::BlueprintDetail), doc::Errors))]
async fn get_blueprint(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(blueprints::detail(&state.ctx.db, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/blueprints/{id}/versions/{version}/compose", tag = "blueprints", description = "A blueprint version as a Compose file to run locally with `docker compose up`: a service per component, each input a `${VARIABLE}` (admins).", params(("id" = String, Path), ("version" = i32, Path)), responses((status = 200, description = "A Compose file (YAML: a map with name, services and volumes)", body = Object, content_type = "application/yaml"), doc::Errors))]
async fn compose(_: Admin, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, AppError> {
    let (id, version) = path.into_inner();
    let number = version
        .parse::<i32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AppError::NotFound(format!("blueprint `{id}` has no version `{version}`: versions are numbers from 1")))?;
    let (bp, number) = blueprints::load(&state.ctx, &id, Some(number)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .insert_header(("content-disposition", format!("attachment; filename=\"{}-v{number}.compose.yaml\"", bp.id)))
        .body(crate::domain::blueprint::compose::export(&bp)))
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

#[utoipa::path(post, path = "/api/v1/blueprints/{id}/deploy", tag = "blueprints", description = "Deploy a blueprint to try it (admins).", params(("id" = String, Path)), request_body = DeployBody, responses((status = 202, body = crate::services::deployments::DeploymentView), doc::Errors))]
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

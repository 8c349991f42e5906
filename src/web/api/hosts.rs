//! `/api/v1/hosts`: the Docker engines Wharf places deployments on (admins).
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::doc;
use crate::docker::TlsMaterial;
use crate::services::hosts;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hosts", web::get().to(list_hosts))
        .route("/hosts", web::post().to(create_host))
        .route("/hosts/{id}", web::get().to(get_host))
        .route("/hosts/{id}", web::delete().to(delete_host));
}

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
    /// A local IP of the engine's machine that published ports bind to (default:
    /// `publish_address` when it is an IP, else every interface).
    bind_address: Option<String>,
    /// `MIN-MAX`: the range host ports taken from inputs must stay within (none allowed when unset).
    host_ports: Option<String>,
    /// `engine` (default) or `swarm`: the endpoint of a Docker Swarm manager, where each
    /// component becomes a service.
    kind: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/hosts", tag = "hosts", description = "Register a Docker engine; Wharf connects to it first (admins).", request_body = HostBody, responses((status = 201, body = crate::services::hosts::HostView), doc::Errors))]
async fn create_host(admin: Admin, state: web::Data<AppState>, body: web::Json<HostBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = hosts::HostInput {
        name: b.name,
        endpoint: b.endpoint,
        tls: b.tls.map(|t| TlsMaterial { ca_pem: t.ca_pem, cert_pem: t.cert_pem, key_pem: t.key_pem }),
        labels: b.labels,
        max_containers: b.max_containers,
        publish_address: b.publish_address,
        bind_address: b.bind_address,
        host_ports: b.host_ports,
        kind: b.kind,
    };
    let host = hosts::register(&state.ctx.db, &admin.principal.username, input, state.host_registration()).await?;
    Ok(HttpResponse::Created().json(host))
}

#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts", description = "Hosts and their health (admins).", responses((status = 200, body = Vec<crate::services::hosts::HostView>), doc::Errors))]
async fn list_hosts(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(hosts::list(&state.ctx.db).await?))
}

#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "hosts", description = "One host (admins).", params(("id" = String, Path, description = "id or name")), responses((status = 200, body = crate::services::hosts::HostView), doc::Errors))]
async fn get_host(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(hosts::view(hosts::find(&state.ctx.db, &id).await?)))
}

#[derive(Deserialize)]
struct ForceQuery {
    #[serde(default)]
    force: bool,
}

#[utoipa::path(delete, path = "/api/v1/hosts/{id}", tag = "hosts", description = "Remove a host; 409 while live deployments run there unless force (admins).", params(("id" = String, Path, description = "id or name"), ("force" = Option<bool>, Query)), responses((status = 204, description = "removed"), doc::Errors))]
async fn delete_host(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<ForceQuery>,
) -> Result<HttpResponse, AppError> {
    hosts::remove(&state.ctx.db, state.engine.pool(), &admin.principal.username, &id, q.force).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! Admin pages for hosts, blueprints and deployments: register a host, publish a blueprint,
//! deploy it from its page, and follow the deployment.
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::{FormErrors, form_errors, render, see_other};
use crate::docker::TlsMaterial;
use crate::domain::blueprint::Blueprint;
use crate::services::blueprints::{self, BlueprintDetail, BlueprintSummary};
use crate::domain::states::DeploymentStatus;
use crate::services::deployments::{self, Allowed, DeployInput, DeploymentFilter, DeploymentSummary, DeploymentView};
use crate::services::hosts::{self, HostView};
use crate::services::{FieldError, Page, PageRequest, ServiceError};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::views::{InputField, Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/hosts", web::get().to(host_list))
        .route("/admin/hosts", web::post().to(host_create))
        .route("/admin/hosts/{name}/remove", web::post().to(host_remove))
        .route("/admin/blueprints", web::get().to(blueprint_list))
        .route("/admin/blueprints", web::post().to(blueprint_publish))
        .route("/admin/blueprints/{id}", web::get().to(blueprint_page))
        .route("/admin/blueprints/{id}/deploy", web::post().to(blueprint_deploy))
        .route("/admin/deployments", web::get().to(deployment_list))
        .route("/admin/deployments/{id}", web::get().to(deployment_page))
        .route("/admin/deployments/{id}/actions", web::post().to(deployment_action));
}

fn layout(admin: &Admin, section: &'static str, title: &str) -> Layout {
    Layout::for_user(&admin.principal, &admin.ctx.csrf_token, section, title)
}

// ----- hosts --------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct HostForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    labels: String,
    #[serde(default)]
    max_containers: String,
    #[serde(default)]
    publish_address: String,
    #[serde(default)]
    tls_ca: String,
    #[serde(default)]
    tls_cert: String,
    #[serde(default)]
    tls_key: String,
}

#[derive(Template)]
#[template(path = "pages/admin/hosts.html")]
struct HostsPage {
    layout: Layout,
    hosts: Vec<HostView>,
    form: HostForm,
    errors: FormErrors,
}

impl HostsPage {
    fn labels_of(&self, h: &HostView) -> String {
        h.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
}

async fn host_list(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let hosts = hosts::list(&state.db).await?;
    render(
        StatusCode::OK,
        &HostsPage { layout: layout(&admin, "hosts", "Hosts"), hosts, form: HostForm::default(), errors: FormErrors::default() },
    )
}

fn parse_host_form(form: &HostForm) -> Result<hosts::HostInput, ServiceError> {
    let mut errors = Vec::new();
    let mut labels = BTreeMap::new();
    for part in form.labels.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => {
                labels.insert(k.trim().to_string(), v.trim().to_string());
            }
            None => errors.push(FieldError::new("labels", format!("`{part}` is not KEY=VALUE"))),
        }
    }
    let max_containers = match form.max_containers.trim() {
        "" => None,
        n => match n.parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(FieldError::new("max_containers", format!("`{n}` is not a whole number")));
                None
            }
        },
    };
    let tls = match (form.tls_ca.trim(), form.tls_cert.trim(), form.tls_key.trim()) {
        ("", "", "") => None,
        (ca, cert, key) if !ca.is_empty() && !cert.is_empty() && !key.is_empty() => {
            Some(TlsMaterial { ca_pem: ca.into(), cert_pem: cert.into(), key_pem: key.into() })
        }
        _ => {
            errors.push(FieldError::new("tls", "TLS needs all three: the CA, the client certificate and its key"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    Ok(hosts::HostInput {
        name: form.name.trim().to_string(),
        endpoint: form.endpoint.trim().to_string(),
        tls,
        labels,
        max_containers,
        publish_address: Some(form.publish_address.clone()),
    })
}

async fn host_create(admin: Admin, state: web::Data<AppState>, form: web::Form<HostForm>) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let result = match parse_host_form(&form) {
        Ok(input) => hosts::register(&state.db, &admin.principal.username, input, true).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other("/admin/hosts")),
        Err(e) => {
            let errors = form_errors(e)?;
            let hosts = hosts::list(&state.db).await?;
            // The key is never sent back to the browser.
            let form = HostForm { tls_key: String::new(), ..form };
            render(StatusCode::UNPROCESSABLE_ENTITY, &HostsPage { layout: layout(&admin, "hosts", "Hosts"), hosts, form, errors })
        }
    }
}

#[derive(Deserialize)]
struct RemoveForm {
    force: Option<String>,
}

async fn host_remove(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<RemoveForm>,
) -> Result<HttpResponse, AppError> {
    match hosts::remove(&state.db, state.engine.pool(), &admin.principal.username, &name, form.force.is_some()).await {
        Ok(()) => Ok(see_other("/admin/hosts")),
        Err(ServiceError::Conflict(m)) => {
            let errors = FormErrors(vec![FieldError::new("", m)]);
            let hosts = hosts::list(&state.db).await?;
            render(StatusCode::CONFLICT, &HostsPage { layout: layout(&admin, "hosts", "Hosts"), hosts, form: HostForm::default(), errors })
        }
        Err(e) => Err(e.into()),
    }
}

// ----- blueprints ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "pages/admin/blueprints.html")]
struct BlueprintsPage {
    layout: Layout,
    blueprints: Vec<BlueprintSummary>,
    source: String,
    errors: FormErrors,
}

async fn blueprint_list(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let blueprints = blueprints::list(&state.db).await?;
    render(
        StatusCode::OK,
        &BlueprintsPage {
            layout: layout(&admin, "blueprints", "Blueprints"),
            blueprints,
            source: String::new(),
            errors: FormErrors::default(),
        },
    )
}

#[derive(Deserialize)]
struct PublishForm {
    #[serde(default)]
    source: String,
}

async fn blueprint_publish(admin: Admin, state: web::Data<AppState>, form: web::Form<PublishForm>) -> Result<HttpResponse, AppError> {
    let source = form.into_inner().source.replace("\r\n", "\n");
    match blueprints::publish(&state.db, &admin.principal.username, &source).await {
        Ok(p) => Ok(see_other(&format!("/admin/blueprints/{}", p.id))),
        Err(e) => {
            let errors = form_errors(e)?;
            let blueprints = blueprints::list(&state.db).await?;
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &BlueprintsPage { layout: layout(&admin, "blueprints", "Blueprints"), blueprints, source, errors },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "pages/admin/blueprint.html")]
struct BlueprintPage {
    layout: Layout,
    detail: BlueprintDetail,
    components: Vec<(String, String, u32)>,
    fields: Vec<InputField>,
    name: String,
    selector: String,
    errors: FormErrors,
}

fn components_of(bp: &Blueprint) -> Vec<(String, String, u32)> {
    bp.start_order()
        .iter()
        .map(|c| {
            let image = c.image.as_literal().unwrap_or_else(|| "(from an input)".into());
            let replicas = match &c.replicas {
                crate::domain::blueprint::types::IntField::Literal(n, _) => u32::try_from(*n).unwrap_or(1),
                crate::domain::blueprint::types::IntField::Tmpl(_) => 0,
            };
            (c.name.clone(), image, replicas)
        })
        .collect()
}

async fn blueprint_page(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let detail = blueprints::detail(&state.db, &id).await?;
    let (bp, _) = blueprints::load(&state.ctx, &id, None).await?;
    let fields = bp.inputs.iter().map(|i| InputField::for_spec(i, None, None)).collect();
    render(
        StatusCode::OK,
        &BlueprintPage {
            layout: layout(&admin, "blueprints", &bp.name),
            components: components_of(&bp),
            detail,
            fields,
            name: String::new(),
            selector: String::new(),
            errors: FormErrors::default(),
        },
    )
}

async fn blueprint_deploy(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let pairs = form.into_inner();
    let (bp, version) = blueprints::load(&state.ctx, &id, None).await?;
    // Later values win, so a checkbox's "true" overrides its hidden "false".
    let mut given: BTreeMap<String, String> = BTreeMap::new();
    let (mut name, mut selector) = (String::new(), String::new());
    for (k, v) in pairs {
        if let Some(input) = k.strip_prefix("input.") {
            given.insert(input.to_string(), v);
        } else if k == "name" {
            name = v;
        } else if k == "host_selector" {
            selector = v;
        }
    }
    let inputs: serde_json::Map<String, Value> = given.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let mut host_selector = BTreeMap::new();
    let mut errors = Vec::new();
    for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => {
                host_selector.insert(k.trim().to_string(), v.trim().to_string());
            }
            None => errors.push(FieldError::new("host_selector", format!("`{part}` is not KEY=VALUE"))),
        }
    }
    let result = if errors.is_empty() {
        let input = DeployInput {
            blueprint: bp.id.clone(),
            version: Some(version),
            name: Some(name.clone()),
            inputs,
            host_selector,
            owner_id: Some(admin.principal.user_id),
            group_id: None,
        };
        deployments::deploy(&state.ctx, &admin.principal.username, input).await
    } else {
        Err(ServiceError::Invalid(errors))
    };
    match result {
        Ok(d) => Ok(see_other(&format!("/admin/deployments/{}", d.id))),
        Err(e) => {
            let errors = form_errors(e)?;
            let fields = bp
                .inputs
                .iter()
                .map(|i| {
                    let err = errors.get(&format!("inputs.{}", i.name)).map(str::to_string);
                    InputField::for_spec(i, given.get(&i.name).map(String::as_str), err)
                })
                .collect();
            let detail = blueprints::detail(&state.db, &id).await?;
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &BlueprintPage {
                    layout: layout(&admin, "blueprints", &bp.name),
                    components: components_of(&bp),
                    detail,
                    fields,
                    name,
                    selector,
                    errors,
                },
            )
        }
    }
}

// ----- deployments --------------------------------------------------------------------------

#[derive(Deserialize)]
struct ListQuery {
    page: Option<u64>,
    status: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/deployments.html")]
struct DeploymentsPage {
    layout: Layout,
    pager: Pager,
    deployments: Page<DeploymentSummary>,
    /// The status filter, as typed (empty: any).
    status: String,
    statuses: &'static [DeploymentStatus],
}

async fn deployment_list(admin: Admin, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let status = q.status.unwrap_or_default();
    let filter = DeploymentFilter { status: DeploymentFilter::parse_status(Some(&status))?, ..Default::default() };
    let deployments = deployments::list(&state.db, &admin.principal, &filter, PageRequest::new(q.page, None)).await?;
    let query = format!("status={}", url::form_urlencoded::byte_serialize(status.as_bytes()).collect::<String>());
    render(
        StatusCode::OK,
        &DeploymentsPage {
            layout: layout(&admin, "all-deployments", "Deployments"),
            pager: Pager::of(&deployments, &query),
            deployments,
            status,
            statuses: DeploymentStatus::ALL,
        },
    )
}

#[derive(Template)]
#[template(path = "pages/deployments/show.html")]
pub(super) struct DeploymentPage {
    pub layout: Layout,
    pub d: DeploymentView,
    pub outputs: Vec<(String, String)>,
    pub busy: bool,
    /// What the caller may do now (entitlement and state both checked).
    pub can_destroy: bool,
    pub can_retry: bool,
    pub failed: bool,
    pub error: Option<String>,
    /// Where the list and the actions are: `/admin/deployments` or `/deployments`.
    pub base: &'static str,
}

impl DeploymentPage {
    pub fn new(layout: Layout, d: DeploymentView, allowed: Allowed, error: Option<String>, base: &'static str) -> Self {
        let outputs = d.outputs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let busy = d.status.has_job();
        let failed = d.status == DeploymentStatus::Failed;
        Self { layout, d, outputs, busy, can_destroy: allowed.destroy, can_retry: allowed.retry, failed, error, base }
    }
}

async fn deployment_page(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    show_deployment(&admin, &state, &id, StatusCode::OK, None).await
}

async fn show_deployment(
    admin: &Admin,
    state: &AppState,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let d = deployments::get(&state.ctx, id).await?;
    let allowed = deployments::allowed(&state.ctx, &admin.principal, &d).await?;
    render(status, &DeploymentPage::new(layout(admin, "all-deployments", &d.name), d, allowed, error, "/admin/deployments"))
}

#[derive(Deserialize)]
struct ActionForm {
    action: String,
}

async fn deployment_action(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, AppError> {
    match deployments::act(&state.ctx, &admin.principal.username, &id, &form.action).await {
        Ok(_) => Ok(see_other(&format!("/admin/deployments/{id}"))),
        Err(e @ (ServiceError::Conflict(_) | ServiceError::Invalid(_))) => {
            let message = AppError::from(e).to_string();
            show_deployment(&admin, &state, &id, StatusCode::CONFLICT, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

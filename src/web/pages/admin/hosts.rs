//! `/admin/hosts`: the Docker engines, their health, registering and removing one.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::key_values;
use crate::docker::TlsMaterial;
#[allow(unused_imports)] // used by the template
use crate::domain::states::HostKind;
use crate::services::hosts::{self, HostView};
use crate::services::{FieldError, ServiceError};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{form_errors, layout, render, see_other};
use crate::web::views::{FormErrors, Layout};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/hosts", web::get().to(host_list))
        .route("/admin/hosts", web::post().to(host_create))
        .route("/admin/hosts/{name}/remove", web::post().to(host_remove));
}

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
    bind_address: String,
    #[serde(default)]
    host_ports: String,
    #[serde(default)]
    kind: String,
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
    async fn build(admin: &Admin, state: &AppState, form: HostForm, errors: FormErrors) -> Result<Self, AppError> {
        Ok(Self { layout: layout(&admin.ctx, "hosts", "Hosts"), hosts: hosts::list(&state.ctx.db).await?, form, errors })
    }
    fn labels_of(&self, h: &HostView) -> String {
        h.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
    /// The TLS section starts open when it was filled in or is wrong.
    fn tls_open(&self) -> bool {
        !self.form.tls_ca.is_empty() || self.errors.get("tls").is_some()
    }
}

async fn host_list(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &HostsPage::build(&admin, &state, HostForm::default(), FormErrors::default()).await?)
}

fn parse_host_form(form: &HostForm) -> Result<hosts::HostInput, ServiceError> {
    let mut errors = Vec::new();
    let labels = key_values(&form.labels, "labels", &mut errors);
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
        bind_address: Some(form.bind_address.clone()),
        host_ports: Some(form.host_ports.clone()),
        kind: Some(form.kind.clone()),
    })
}

async fn host_create(admin: Admin, state: web::Data<AppState>, form: web::Form<HostForm>) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let result = match parse_host_form(&form) {
        Ok(input) => hosts::register(&state.ctx.db, &admin.principal.username, input, state.host_registration()).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other("/admin/hosts")),
        Err(e) => {
            let errors = form_errors(e)?;
            // The key is never sent back to the browser.
            let form = HostForm { tls_key: String::new(), ..form };
            render(StatusCode::UNPROCESSABLE_ENTITY, &HostsPage::build(&admin, &state, form, errors).await?)
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
    match hosts::remove(&state.ctx.db, state.engine.pool(), &admin.principal.username, &name, form.force.is_some()).await {
        Ok(()) => Ok(see_other("/admin/hosts")),
        Err(ServiceError::Conflict(m)) => {
            let errors = FormErrors(vec![FieldError::new("", m)]);
            render(StatusCode::CONFLICT, &HostsPage::build(&admin, &state, HostForm::default(), errors).await?)
        }
        Err(e) => Err(e.into()),
    }
}

//! `/admin/blueprints`: the blueprints and the publish form; `/admin/blueprints/{id}`: one
//! blueprint, its versions, and a form to deploy it (generated from its typed inputs).
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::key_values;
use crate::domain::blueprint::Blueprint;
use crate::domain::blueprint::types::IntField;
use crate::services::ServiceError;
use crate::services::blueprints::{self, BlueprintDetail, BlueprintSummary, ImportNote};
use crate::services::deployments::{self, DeployInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{form_errors, layout, render, see_other};
use crate::web::views::{FormErrors, InputField, Layout};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/blueprints", web::get().to(blueprint_list))
        .route("/admin/blueprints", web::post().to(blueprint_publish))
        .route("/admin/blueprints/import-compose", web::post().to(compose_import))
        .route("/admin/blueprints/{id}", web::get().to(blueprint_page))
        .route("/admin/blueprints/{id}/deploy", web::post().to(blueprint_deploy));
}

// ----- /admin/blueprints ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "pages/admin/blueprints/index.html")]
struct BlueprintsPage {
    layout: Layout,
    blueprints: Vec<BlueprintSummary>,
    source: String,
    errors: FormErrors,
    /// The Compose import form: the text given, the id, what was left out (a draft was made:
    /// it is in `source`) or what could not be mapped.
    compose: String,
    compose_id: String,
    imported: Option<Vec<ImportNote>>,
    import_errors: Vec<String>,
}

impl BlueprintsPage {
    async fn build(admin: &Admin, state: &AppState, source: String, errors: FormErrors) -> Result<Self, AppError> {
        Ok(Self {
            layout: layout(&admin.ctx, "blueprints", "Blueprints"),
            blueprints: blueprints::list(&state.ctx.db).await?,
            source,
            errors,
            compose: String::new(),
            compose_id: String::new(),
            imported: None,
            import_errors: Vec::new(),
        })
    }
}

#[derive(Deserialize)]
struct ComposeForm {
    #[serde(default)]
    compose: String,
    #[serde(default)]
    id: String,
    /// The chosen file's name (set by the page's script), for the draft's description.
    #[serde(default)]
    file: String,
}

/// Converts a Compose file (pasted, or read from a chosen file by the page's script) into a
/// draft shown in the publish form, with what was left out; nothing is stored until the admin
/// publishes the draft.
async fn compose_import(admin: Admin, state: web::Data<AppState>, form: web::Form<ComposeForm>) -> Result<HttpResponse, AppError> {
    let f = form.into_inner();
    let compose = f.compose.replace("\r\n", "\n");
    let file = if f.file.trim().is_empty() { "compose.yaml".to_string() } else { f.file.trim().to_string() };
    let base = BlueprintsPage::build(&admin, &state, String::new(), FormErrors::default()).await?;
    let page = match blueprints::import_compose(&compose, Some(f.id.as_str()), &file) {
        Ok(draft) => BlueprintsPage { source: draft.source, imported: Some(draft.notes), compose, compose_id: f.id, ..base },
        Err(ServiceError::Blueprint(errors)) => {
            let import_errors = errors
                .iter()
                .map(|e| if e.line > 0 { format!("line {}, column {}: {}", e.line, e.column, e.message) } else { e.message.clone() })
                .collect();
            let page = BlueprintsPage { compose, compose_id: f.id, import_errors, ..base };
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        Err(e) => return Err(e.into()),
    };
    render(StatusCode::OK, &page)
}

async fn blueprint_list(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &BlueprintsPage::build(&admin, &state, String::new(), FormErrors::default()).await?)
}

#[derive(Deserialize)]
struct PublishForm {
    #[serde(default)]
    source: String,
}

async fn blueprint_publish(admin: Admin, state: web::Data<AppState>, form: web::Form<PublishForm>) -> Result<HttpResponse, AppError> {
    let source = form.into_inner().source.replace("\r\n", "\n");
    match blueprints::publish(&state.ctx.db, &admin.principal.username, &source).await {
        Ok(p) => Ok(see_other(&format!("/admin/blueprints/{}", p.id))),
        Err(e) => {
            let errors = form_errors(e)?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &BlueprintsPage::build(&admin, &state, source, errors).await?)
        }
    }
}

// ----- /admin/blueprints/{id} ----------------------------------------------------------------

#[derive(Template)]
#[template(path = "pages/admin/blueprints/show.html")]
struct BlueprintPage {
    layout: Layout,
    detail: BlueprintDetail,
    components: Vec<(String, String, u32)>,
    fields: Vec<InputField>,
    name: String,
    selector: String,
    errors: FormErrors,
    /// Why its latest version takes no new request (published before a rule it breaks).
    outdated: Option<String>,
}

impl BlueprintPage {
    /// The page of `bp` with the deploy form as given (`inputs`, `name`, `selector`).
    fn new(
        admin: &Admin,
        bp: &Blueprint,
        detail: BlueprintDetail,
        inputs: &BTreeMap<String, String>,
        name: String,
        selector: String,
        errors: FormErrors,
    ) -> Self {
        Self {
            layout: layout(&admin.ctx, "blueprints", &bp.name),
            detail,
            components: components_of(bp),
            fields: InputField::for_inputs(&bp.inputs, inputs, &errors),
            name,
            selector,
            errors,
            outdated: blueprints::outdated(bp, i32::try_from(bp.version).unwrap_or(i32::MAX)),
        }
    }
}

/// Each component's name, image and replicas (0: set by an input), in start order.
fn components_of(bp: &Blueprint) -> Vec<(String, String, u32)> {
    bp.start_order()
        .iter()
        .map(|c| {
            let image = c.image.as_literal().unwrap_or_else(|| "(from an input)".into());
            let replicas = match &c.replicas {
                IntField::Literal(n, _) => u32::try_from(*n).unwrap_or(1),
                IntField::Tmpl(_) => 0,
            };
            (c.name.clone(), image, replicas)
        })
        .collect()
}

async fn blueprint_page(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let detail = blueprints::detail(&state.ctx.db, &id).await?;
    let (bp, _) = blueprints::load(&state.ctx, &id, None).await?;
    render(StatusCode::OK, &BlueprintPage::new(&admin, &bp, detail, &BTreeMap::new(), String::new(), String::new(), FormErrors::default()))
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
    let mut errors = Vec::new();
    let host_selector = key_values(&selector, "host_selector", &mut errors);
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
            let detail = blueprints::detail(&state.ctx.db, &id).await?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &BlueprintPage::new(&admin, &bp, detail, &given, name, selector, errors))
        }
    }
}

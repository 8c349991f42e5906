//! `/catalog`: what the caller's groups may request; `/catalog/{item}`: the request form,
//! generated from the blueprint's typed inputs, and its submission.
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::{FormErrors, form_errors, layout, render, see_other};
use crate::services::catalog::{self, CatalogEntry};
use crate::services::requests::{self, NewRequest};
use crate::services::{ServiceError, blueprints};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{InputField, Layout};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/catalog", web::get().to(catalog_page))
        .route("/catalog/{item}", web::get().to(request_form))
        .route("/catalog/{item}", web::post().to(request_submit));
}

#[derive(Deserialize)]
struct CatalogQuery {
    q: Option<String>,
    category: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/catalog/index.html")]
struct CatalogPage {
    layout: Layout,
    entries: Vec<CatalogEntry>,
    categories: Vec<String>,
    q: String,
    category: String,
}

async fn catalog_page(user: Signed, state: web::Data<AppState>, q: web::Query<CatalogQuery>) -> Result<HttpResponse, AppError> {
    let all = catalog::catalog_for(&state.ctx, &user.principal).await?;
    let mut categories: Vec<String> = all.iter().map(|e| e.item.category.clone()).collect();
    categories.sort();
    categories.dedup();
    let search = q.q.clone().unwrap_or_default().trim().to_lowercase();
    let category = q.category.clone().unwrap_or_default();
    let entries = all
        .iter()
        .filter(|e| category.is_empty() || e.item.category == category)
        .filter(|e| search.is_empty() || format!("{} {} {}", e.item.name, e.item.description, e.item.id).to_lowercase().contains(&search))
        .cloned()
        .collect();
    render(StatusCode::OK, &CatalogPage { layout: layout(&user.ctx, "catalog", "Catalog"), entries, categories, q: search, category })
}

#[derive(Template)]
#[template(path = "pages/catalog/show.html")]
struct RequestForm {
    layout: Layout,
    entry: CatalogEntry,
    fields: Vec<InputField>,
    group: String,
    lease_days: String,
    reason: String,
    errors: FormErrors,
}

async fn entry_for(state: &AppState, user: &Signed, item: &str) -> Result<CatalogEntry, AppError> {
    catalog::catalog_for(&state.ctx, &user.principal)
        .await?
        .iter()
        .find(|e| e.item.id == item)
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("no catalog item `{item}` that your groups may request")))
}

async fn fields_for(
    state: &AppState,
    entry: &CatalogEntry,
    given: &BTreeMap<String, String>,
    errors: &FormErrors,
) -> Result<Vec<InputField>, AppError> {
    let (bp, _) = blueprints::load(&state.ctx, &entry.item.blueprint, entry.item.blueprint_version).await?;
    Ok(InputField::for_inputs(&bp.inputs, given, errors))
}

async fn request_form(user: Signed, state: web::Data<AppState>, item: web::Path<String>) -> Result<HttpResponse, AppError> {
    let entry = entry_for(&state, &user, &item).await?;
    let fields = fields_for(&state, &entry, &BTreeMap::new(), &FormErrors::default()).await?;
    let group = entry.groups.first().cloned().unwrap_or_default();
    let lease_days = entry.item.lease.default_days.to_string();
    render(
        StatusCode::OK,
        &RequestForm {
            layout: layout(&user.ctx, "catalog", &entry.item.name),
            entry,
            fields,
            group,
            lease_days,
            reason: String::new(),
            errors: FormErrors::default(),
        },
    )
}

async fn request_submit(
    user: Signed,
    state: web::Data<AppState>,
    item: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let entry = entry_for(&state, &user, &item).await?;
    let mut given = BTreeMap::new();
    let (mut group, mut lease_days, mut reason) = (String::new(), String::new(), String::new());
    for (k, v) in form.into_inner() {
        match k.as_str() {
            "group" => group = v,
            "lease_days" => lease_days = v,
            "reason" => reason = v,
            _ => {
                if let Some(name) = k.strip_prefix("input.") {
                    given.insert(name.to_string(), v);
                }
            }
        }
    }
    let lease = match lease_days.trim() {
        "" => Ok(None),
        s => s.parse::<i32>().map(Some).map_err(|_| ServiceError::invalid("lease_days", format!("`{s}` is not a number of days"))),
    };
    let result = match lease {
        Ok(lease) => {
            let inputs = given.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            let input = NewRequest {
                catalog_item: entry.item.id.clone(),
                group: group.clone(),
                inputs,
                lease_days: lease,
                reason: Some(reason.clone()),
            };
            requests::submit(&state.ctx, &user.principal, input).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(see_other(&format!("/requests/{}", r.id))),
        Err(e) => {
            let status = match &e {
                ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
                ServiceError::OverQuota(_) => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let errors = form_errors(e)?;
            let fields = fields_for(&state, &entry, &given, &errors).await?;
            render(
                status,
                &RequestForm { layout: layout(&user.ctx, "catalog", &entry.item.name), entry, fields, group, lease_days, reason, errors },
            )
        }
    }
}

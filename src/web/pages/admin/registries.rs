//! `/admin/registries`: the private registries hosts pull from, registering one (its password
//! never shown again), checking one from Wharf's network, replacing its credentials, removing it.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::domain::Secret;
use crate::services::ServiceError;
use crate::services::registries::{self, CheckView, RegistryInput, RegistryUpdate, RegistryView};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{form_errors, layout, render, see_other};
use crate::web::views::{FormErrors, Layout};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/registries", web::get().to(registry_list))
        .route("/admin/registries", web::post().to(registry_create))
        .route("/admin/registries/{id}/check", web::post().to(registry_check))
        .route("/admin/registries/{id}/credentials", web::post().to(registry_credentials))
        .route("/admin/registries/{id}/remove", web::post().to(registry_remove));
}

#[derive(Template)]
#[template(path = "pages/admin/registries.html")]
struct RegistriesPage {
    layout: Layout,
    registries: Vec<RegistryView>,
    /// What the form held (never the password).
    address: String,
    username: String,
    ca_pem: String,
    errors: FormErrors,
    /// A check's outcome, with the registry it was about.
    checked: Option<(String, CheckView)>,
    /// A credentials form that failed: the registry's id and its errors.
    update_errors: Option<(i64, FormErrors)>,
}

impl RegistriesPage {
    async fn build(admin: &Admin, state: &AppState) -> Result<Self, AppError> {
        Ok(Self {
            layout: layout(&admin.ctx, "registries", "Registries"),
            registries: registries::list(&state.ctx).await?,
            address: String::new(),
            username: String::new(),
            ca_pem: String::new(),
            errors: FormErrors::default(),
            checked: None,
            update_errors: None,
        })
    }
}

type Fields = web::Form<Vec<(String, String)>>;

fn field(form: &[(String, String)], name: &str) -> String {
    form.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

async fn registry_list(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &RegistriesPage::build(&admin, &state).await?)
}

async fn registry_create(admin: Admin, state: web::Data<AppState>, form: Fields) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let (address, username, ca_pem) = (field(&form, "address"), field(&form, "username"), field(&form, "ca_pem"));
    let input = RegistryInput {
        address: address.clone(),
        username: Some(username.clone()),
        password: Some(Secret::new(field(&form, "password"))),
        ca_pem: Some(ca_pem.clone()),
    };
    match registries::create(&state.ctx, &admin.principal.username, input).await {
        Ok(_) => Ok(see_other("/admin/registries")),
        Err(e) => {
            // The password is never sent back to the browser.
            let errors = form_errors(e)?;
            let page = RegistriesPage { address, username, ca_pem, errors, ..RegistriesPage::build(&admin, &state).await? };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

async fn registry_check(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let found = registries::check(&state.ctx, &admin.principal.username, id).await?;
    let address = registries::get(&state.ctx, id).await?.address;
    render(StatusCode::OK, &RegistriesPage { checked: Some((address, found)), ..RegistriesPage::build(&admin, &state).await? })
}

async fn registry_credentials(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let form = form.into_inner();
    let password = field(&form, "password");
    let ca_pem = field(&form, "ca_pem");
    let input = RegistryUpdate {
        username: Some(field(&form, "username")),
        password: (!password.is_empty()).then(|| Secret::new(password)),
        ca_pem: (!ca_pem.trim().is_empty()).then_some(ca_pem),
    };
    match registries::update(&state.ctx, &admin.principal.username, id, input).await {
        Ok(_) => Ok(see_other("/admin/registries")),
        Err(e @ ServiceError::NotFound(_)) => Err(e.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &RegistriesPage { update_errors: Some((id, errors)), ..RegistriesPage::build(&admin, &state).await? },
            )
        }
    }
}

async fn registry_remove(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    registries::remove(&state.ctx, &admin.principal.username, id.into_inner()).await?;
    Ok(see_other("/admin/registries"))
}

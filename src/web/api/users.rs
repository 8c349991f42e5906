//! `/api/v1/users`: local accounts (admins).
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{PageQuery, doc, page_response};
use crate::domain::Secret;
use crate::services::PageRequest;
use crate::services::accounts::{self, NewUserInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Admin, Signed};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list_users))
        .route("/users", web::post().to(create_user))
        .route("/users/{username}", web::patch().to(update_user));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUserBody {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: Secret,
    display_name: Option<String>,
    email: Option<String>,
    #[serde(default)]
    is_admin: bool,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "people", description = "Create a local account (admins).", request_body = CreateUserBody, responses((status = 201, body = crate::services::accounts::UserView), doc::Errors))]
async fn create_user(admin: Admin, state: web::Data<AppState>, body: web::Json<CreateUserBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = NewUserInput {
        username: b.username,
        password: Some(b.password),
        display_name: b.display_name,
        email: b.email,
        is_admin: b.is_admin,
    };
    let user = accounts::create_user(&state.ctx.db, &admin.principal.username, input).await?;
    Ok(HttpResponse::Created().json(user))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "people", description = "Accounts (admins); total in X-Total-Count.", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50")), responses((status = 200, body = Vec<crate::services::accounts::UserView>), doc::Errors))]
async fn list_users(req: HttpRequest, _: Admin, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let page = accounts::list_users(&state.ctx.db, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}

#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "people",
    description = "Change an account: admins any (enable, disable, promote, demote, reset the password); anyone their own password (with `current_password`), display name and e-mail. Disabling or an admin's reset ends all the account's sessions and API tokens; one's own new password ends one's other sessions and all one's tokens.",
    params(("username" = String, Path, description = "the account")), request_body = crate::services::accounts::UserPatch,
    responses((status = 200, body = crate::services::accounts::UserView), doc::Errors))]
async fn update_user(
    req: HttpRequest,
    user: Signed,
    state: web::Data<AppState>,
    username: web::Path<String>,
    body: web::Json<accounts::UserPatch>,
) -> Result<HttpResponse, AppError> {
    let mut patch = body.into_inner();
    let own = username.trim().eq_ignore_ascii_case(&user.principal.username);
    let current = patch.current_password.take();
    let verified = own && patch.password.is_some() && verify_current_password(&req, &state, &user, current).await?;
    let view = accounts::update_user(&state.ctx.db, &user.principal, user.ctx.session_token.as_deref(), &username, patch, verified).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// One's current password, checked as a login is (throttled, bounded): `false` when none was given.
pub(crate) async fn verify_current_password(
    req: &HttpRequest,
    state: &AppState,
    user: &Signed,
    current: Option<crate::domain::Secret>,
) -> Result<bool, AppError> {
    let Some(password) = current else { return Ok(false) };
    let attempt =
        accounts::Attempt { username: user.principal.username.clone(), password, address: crate::web::extract::client_address(req) };
    match accounts::check_password(&state.ctx, &state.settings, &attempt).await {
        Ok(_) => Ok(true),
        Err(crate::services::ServiceError::Unauthorized(_)) => {
            Err(crate::services::ServiceError::invalid("current_password", "is not your current password").into())
        }
        Err(e) => Err(e.into()),
    }
}

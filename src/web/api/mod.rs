//! `/api/v1`: the JSON contract of API.md. Lists are JSON arrays; their paging is in the
//! `X-Total-Count` and `Link` headers.
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::error::AppError;
use super::extract::{Admin, Signed, client_address};
use crate::domain::{Role, Secret};
use crate::services::accounts::{self, Attempt, NewGroupInput, NewUserInput};
use crate::services::audit::{self, AuditFilter};
use crate::services::{FieldError, Page, PageRequest, ServiceError};

pub mod doc;
mod infra;
mod requests;
mod tokens;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(infra::routes).configure(requests::routes).configure(tokens::routes);
    cfg.route("/auth/token", web::post().to(create_token))
        .route("/me", web::get().to(me))
        .route("/users", web::get().to(list_users))
        .route("/users", web::post().to(create_user))
        .route("/groups", web::get().to(list_groups))
        .route("/groups", web::post().to(create_group))
        .route("/groups/{group}", web::get().to(get_group))
        .route("/groups/{group}/members/{username}", web::put().to(set_member))
        .route("/groups/{group}/members/{username}", web::delete().to(remove_member))
        .route("/audit", web::get().to(list_audit))
        .route("/settings/local-login", web::get().to(get_local_login))
        .route("/settings/local-login", web::put().to(set_local_login));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LocalLoginBody {
    enabled: bool,
}

#[utoipa::path(get, path = "/api/v1/settings/local-login", tag = "settings", description = "Whether password logins are on (admins).", responses((status = 200, body = doc::LocalLoginView), doc::Errors))]
async fn get_local_login(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(json!({"enabled": accounts::local_login_enabled(&state.db).await?})))
}

/// Turning local login off is refused while no admin can log in through OpenID Connect.
#[utoipa::path(put, path = "/api/v1/settings/local-login", tag = "settings", description = "Turn password logins on or off (admins; off needs an admin who can use single sign-on).", request_body = LocalLoginBody, responses((status = 200, body = doc::LocalLoginView), doc::Errors))]
async fn set_local_login(admin: Admin, state: web::Data<AppState>, body: web::Json<LocalLoginBody>) -> Result<HttpResponse, AppError> {
    accounts::set_local_login(&state.db, &admin.principal.username, body.enabled).await?;
    Ok(HttpResponse::Ok().json(json!({"enabled": body.enabled})))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<u64>,
    per_page: Option<u64>,
}

/// A page as a JSON array, with `X-Total-Count` and a `Link` to the next page.
pub(super) fn page_response<T: Serialize>(req: &HttpRequest, page: Page<T>) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header(("X-Total-Count", page.total.to_string()));
    if page.has_next() {
        let mut url = url::Url::parse("http://x").ok().and_then(|b| b.join(&req.uri().to_string()).ok());
        if let Some(url) = url.as_mut() {
            let others: Vec<(String, String)> =
                url.query_pairs().filter(|(k, _)| k != "page" && k != "per_page").map(|(k, v)| (k.into(), v.into())).collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(others)
                .append_pair("page", &(page.page + 1).to_string())
                .append_pair("per_page", &page.per_page.to_string());
            let link = format!("<{}?{}>; rel=\"next\"", url.path(), url.query().unwrap_or_default());
            res.insert_header((header::LINK, link));
        }
    }
    res.json(page.items)
}

// ----- tokens and me ------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: Secret,
}

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", description = "Log in with a local account; returns a token for Bearer authentication.", request_body = TokenBody, responses((status = 201, body = doc::TokenIssued), doc::Errors), security(()))]
async fn create_token(req: HttpRequest, state: web::Data<AppState>, body: web::Json<TokenBody>) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let attempt = Attempt { username: body.username, password: body.password, address: client_address(&req) };
    let issued = accounts::issue_token(&state.db, &state.settings, &attempt).await?;
    Ok(HttpResponse::Created().json(json!({"token": issued.token, "expires_at": issued.expires_at})))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth", description = "Who is calling, and their groups.", responses((status = 200, body = doc::MeView), doc::Errors))]
async fn me(user: Signed) -> HttpResponse {
    let p = user.principal;
    let groups: Vec<_> = p.groups.iter().map(|g| json!({"name": g.name, "role": g.role})).collect();
    HttpResponse::Ok().json(json!({
        "username": p.username,
        "display_name": p.display_name,
        "is_admin": p.is_admin,
        "groups": groups,
    }))
}

// ----- users --------------------------------------------------------------------------------

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
    let user = accounts::create_user(&state.db, &admin.principal.username, input).await?;
    Ok(HttpResponse::Created().json(user))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "people", description = "Accounts (admins); total in X-Total-Count.", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50")), responses((status = 200, body = Vec<crate::services::accounts::UserView>), doc::Errors))]
async fn list_users(req: HttpRequest, _: Admin, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let page = accounts::list_users(&state.db, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}

// ----- groups and memberships ---------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateGroupBody {
    name: String,
    description: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "people", description = "Create a group (admins).", request_body = CreateGroupBody, responses((status = 201, body = crate::services::accounts::GroupSummary), doc::Errors))]
async fn create_group(admin: Admin, state: web::Data<AppState>, body: web::Json<CreateGroupBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let group =
        accounts::create_group(&state.db, &admin.principal.username, NewGroupInput { name: b.name, description: b.description }).await?;
    Ok(HttpResponse::Created().json(group))
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "people", description = "Groups (admins).", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50")), responses((status = 200, body = Vec<crate::services::accounts::GroupSummary>), doc::Errors))]
async fn list_groups(req: HttpRequest, _: Admin, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let page = accounts::list_groups(&state.db, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}

/// Admins see every group; a member or manager sees their own. Others get 404, as for a
/// group that does not exist.
#[utoipa::path(get, path = "/api/v1/groups/{group}", tag = "people", description = "A group and its members (admins and members).", params(("group" = String, Path)), responses((status = 200, body = crate::services::accounts::GroupDetail), doc::Errors))]
async fn get_group(user: Signed, state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let visible = user.principal.is_admin || user.principal.groups.iter().any(|g| g.name == *name);
    if !visible {
        return Err(AppError::NotFound(format!("no group `{name}`")));
    }
    Ok(HttpResponse::Ok().json(accounts::group_detail(&state.db, &name).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    role: String,
}

#[utoipa::path(put, path = "/api/v1/groups/{group}/members/{username}", tag = "people", description = "Add a member or change their role (admins).", params(("group" = String, Path), ("username" = String, Path)), request_body = MemberBody, responses((status = 200, body = doc::MembershipView), doc::Errors))]
async fn set_member(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<MemberBody>,
) -> Result<HttpResponse, AppError> {
    let (group, username) = path.into_inner();
    let role: Role = body.role.parse().map_err(|e: crate::domain::NameError| ServiceError::Invalid(vec![FieldError::new("role", e.0)]))?;
    accounts::set_membership(&state.db, &admin.principal.username, &group, &username, role).await?;
    Ok(HttpResponse::build(StatusCode::OK).json(json!({"group": group, "username": username.to_ascii_lowercase(), "role": role})))
}

#[utoipa::path(delete, path = "/api/v1/groups/{group}/members/{username}", tag = "people", description = "Remove a member (admins).", params(("group" = String, Path), ("username" = String, Path)), responses((status = 204, description = "done"), doc::Errors))]
async fn remove_member(admin: Admin, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, AppError> {
    let (group, username) = path.into_inner();
    accounts::remove_membership(&state.db, &admin.principal.username, &group, &username).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----- audit --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct AuditQuery {
    page: Option<u64>,
    per_page: Option<u64>,
    actor: Option<String>,
    action: Option<String>,
    since: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", description = "The audit log, newest first (admins).", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50"), ("actor" = Option<String>, Query), ("action" = Option<String>, Query, description = "an action or its prefix"), ("since" = Option<chrono::DateTime<chrono::Utc>>, Query)), responses((status = 200, body = Vec<crate::services::audit::AuditEntry>), doc::Errors))]
async fn list_audit(req: HttpRequest, _: Admin, state: web::Data<AppState>, q: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let filter = AuditFilter { actor: q.actor, action: q.action, since: q.since };
    let page = audit::list(&state.db, &filter, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}

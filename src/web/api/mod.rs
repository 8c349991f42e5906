//! `/api/v1`: the JSON contract of API.md, one module per resource (`hosts.rs` serves
//! `/api/v1/hosts…`, `catalog_items.rs` `/api/v1/catalog-items…`). Lists are JSON arrays; their
//! paging is in the `X-Total-Count` and `Link` headers.
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::services::Page;

mod approval_policies;
mod audit;
mod auth;
mod blueprints;
mod catalog;
mod catalog_items;
mod console;
mod deployments;
pub mod doc;
mod entitlements;
mod groups;
mod hosts;
pub mod metrics;
mod notifications;
mod observe;
mod registries;
mod requests;
mod settings;
mod tokens;
mod users;

pub(crate) use users::verify_current_password;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(auth::routes)
        .configure(users::routes)
        .configure(groups::routes)
        .configure(audit::routes)
        .configure(settings::routes)
        .configure(tokens::routes)
        .configure(hosts::routes)
        .configure(blueprints::routes)
        .configure(deployments::routes)
        .configure(observe::routes)
        .configure(console::routes)
        .configure(notifications::routes)
        .configure(registries::routes)
        .configure(catalog_items::routes)
        .configure(entitlements::routes)
        .configure(approval_policies::routes)
        .configure(catalog::routes)
        .configure(requests::routes);
}

use super::views::PageQuery;

/// A body's `id` (the one `GET` gives): none when Wharf makes the thing (`own` is `None`),
/// else the thing's own; `what` names it in the error.
fn check_id(given: Option<i64>, own: Option<i64>, what: &str) -> Result<(), crate::services::ServiceError> {
    use crate::services::{FieldError, ServiceError};
    match (given, own) {
        (Some(given), Some(own)) if given != own => {
            Err(ServiceError::Invalid(vec![FieldError::new("id", format!("{what} keeps its id: {own}"))]))
        }
        (Some(_), None) => Err(ServiceError::Invalid(vec![FieldError::new("id", "Wharf gives the id: leave it out")])),
        _ => Ok(()),
    }
}

/// A page as a JSON array, with `X-Total-Count` and a `Link` to the next page.
fn page_response<T: Serialize>(req: &HttpRequest, page: Page<T>) -> HttpResponse {
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

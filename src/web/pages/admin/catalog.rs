//! `/admin/catalog`: catalog items, entitlements and approval policies, each listed with the
//! form that adds one (`/admin/catalog/items`, `/entitlements`, `/policies`), and each one's
//! page, to change it (`/admin/catalog/items/{id}`, `/entitlements/{id}`, `/policies/{id}`).
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{key_values, list, number};
use crate::domain::policy::{Approvers, Level, Mode, Outcome, Scope};
use crate::services::blueprints::{self, BlueprintSummary};
use crate::services::catalog::{self, ACTIONS, EntitlementInput, EntitlementView, ItemInput, ItemView, PolicyInput, PolicyView};
use crate::services::{FieldError, PageRequest, ServiceError, accounts};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{form_errors, layout, render, see_other};
use crate::web::views::{FormErrors, Layout};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/catalog", web::get().to(page))
        .route("/admin/catalog/items", web::post().to(create_item))
        .route("/admin/catalog/items/{id}", web::get().to(item_page))
        .route("/admin/catalog/items/{id}", web::post().to(update_item))
        .route("/admin/catalog/items/{id}/retire", web::post().to(retire_item))
        .route("/admin/catalog/items/{id}/restore", web::post().to(restore_item))
        .route("/admin/catalog/entitlements", web::post().to(create_entitlement))
        .route("/admin/catalog/entitlements/{id}", web::get().to(entitlement_page))
        .route("/admin/catalog/entitlements/{id}", web::post().to(update_entitlement))
        .route("/admin/catalog/entitlements/{id}/remove", web::post().to(remove_entitlement))
        .route("/admin/catalog/policies", web::post().to(create_policy))
        .route("/admin/catalog/policies/{id}", web::get().to(policy_page))
        .route("/admin/catalog/policies/{id}", web::post().to(update_policy))
        .route("/admin/catalog/policies/{id}/remove", web::post().to(remove_policy));
}

/// The page's three forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Item,
    Entitlement,
    Policy,
}

/// One form of the page: empty and closed, or open with what a failed submission sent and why
/// it failed.
#[derive(Debug, Default)]
struct FormState {
    open: bool,
    values: BTreeMap<String, String>,
    errors: FormErrors,
}

impl FormState {
    /// The item form of a new item: the usual leases filled in.
    fn new_item() -> Self {
        let values = [("lease.default_days", "7"), ("lease.max_days", "30"), ("lease.grace_days", "3")];
        Self {
            open: false,
            values: values.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            errors: FormErrors::default(),
        }
    }
    /// The item form filled with `i` as it is.
    fn item(i: &ItemView) -> Self {
        let join = |v: Vec<String>| v.join(", ");
        let values = [
            ("id", i.id.clone()),
            ("name", i.name.clone()),
            ("category", i.category.clone()),
            ("icon", i.icon.clone()),
            ("description", i.description.clone()),
            ("blueprint", i.blueprint.clone()),
            ("blueprint_version", i.blueprint_version.map(|v| v.to_string()).unwrap_or_default()),
            ("lease.default_days", i.lease.default_days.to_string()),
            ("lease.max_days", i.lease.max_days.to_string()),
            ("lease.grace_days", i.lease.grace_days.to_string()),
            ("host_selector", join(i.host_selector.iter().map(|(k, v)| format!("{k}={v}")).collect())),
            ("allowed_images", join(i.allowed_images.clone())),
            ("console_record", if i.console_record { "true".into() } else { String::new() }),
        ];
        Self { open: true, values: values.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), errors: FormErrors::default() }
    }
    /// The entitlement form filled with `e` as it is.
    fn entitlement(e: &EntitlementView) -> Self {
        let values = [
            ("group", e.group.clone()),
            ("catalog_items", e.catalog_items.join(", ")),
            ("categories", e.categories.join(", ")),
            ("actions", e.actions.join(",")),
        ];
        Self { open: true, values: values.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), errors: FormErrors::default() }
    }
    /// The policy form of a new policy: governs new requests, the group's managers approve.
    fn new_policy() -> Self {
        let values = [("actions", "request"), ("level1.approvers", "group_managers")];
        Self {
            open: false,
            values: values.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            errors: FormErrors::default(),
        }
    }
    /// The policy form filled with `p` as it is.
    fn policy(p: &PolicyView) -> Self {
        let mut values: BTreeMap<String, String> = [
            ("name", p.name.clone()),
            ("condition", p.condition.clone().unwrap_or_default()),
            ("scope.catalog_items", p.scope.catalog_items.join(", ")),
            ("scope.categories", p.scope.categories.join(", ")),
            ("scope.groups", p.scope.groups.join(", ")),
            ("actions", p.actions.join(",")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (i, l) in p.levels.iter().enumerate() {
            let n = i + 1;
            let who: Vec<&str> = [(l.approvers.group_managers, "group_managers"), (l.approvers.admins, "admins")]
                .into_iter()
                .filter_map(|(on, w)| on.then_some(w))
                .collect();
            values.insert(format!("level{n}.approvers"), who.join(","));
            values.insert(format!("level{n}.users"), l.approvers.users.join(", "));
            values.insert(format!("level{n}.mode"), l.mode.as_str().to_string());
            values.insert(format!("level{n}.timeout_hours"), l.timeout_hours.map(|h| h.to_string()).unwrap_or_default());
            let on = l.on_timeout.map(|o| if o == Outcome::Approve { "approve" } else { "reject" });
            values.insert(format!("level{n}.on_timeout"), on.unwrap_or_default().to_string());
        }
        Self { open: true, values, errors: FormErrors::default() }
    }
    fn failed(values: BTreeMap<String, String>, errors: FormErrors) -> Self {
        Self { open: true, values, errors }
    }
    /// The value sent for `key`, to fill the field back in.
    fn v(&self, key: &str) -> String {
        self.values.get(key).cloned().unwrap_or_default()
    }
    /// Whether `value` is among the values sent for `key` (a check box, a selected option).
    fn has(&self, key: &str, value: &str) -> bool {
        self.values.get(key).is_some_and(|v| v.split(',').any(|x| x == value))
    }
    /// The policy form's level rows: every level filled in, one more to add, at least three.
    fn level_rows(&self) -> Vec<LevelRow> {
        let filled = (1..=MAX_LEVELS)
            .filter(|n| {
                ["approvers", "users", "timeout_hours", "on_timeout"].iter().any(|k| !self.v(&format!("level{n}.{k}")).trim().is_empty())
            })
            .max()
            .unwrap_or(0);
        (1..=(filled + 1).clamp(3, MAX_LEVELS))
            .map(|n| LevelRow {
                n,
                managers: self.has(&format!("level{n}.approvers"), "group_managers"),
                admins: self.has(&format!("level{n}.approvers"), "admins"),
                users: self.v(&format!("level{n}.users")),
                all: self.v(&format!("level{n}.mode")) == Mode::All.as_str(),
                timeout_hours: self.v(&format!("level{n}.timeout_hours")),
                on_timeout: self.v(&format!("level{n}.on_timeout")),
            })
            .collect()
    }
    /// What the policy form offers to govern: new requests and the day-2 actions that are
    /// requests (log views and the console are not, but are kept when a policy names them).
    fn policy_actions(&self) -> Vec<&'static str> {
        std::iter::once("request")
            .chain(ACTIONS.into_iter().filter(|a| !matches!(*a, "logs" | "console") || self.has("actions", a)))
            .collect()
    }
}

/// The most levels the policy form shows (the API takes more).
const MAX_LEVELS: usize = 10;

/// One level of the policy form, as it is filled in.
struct LevelRow {
    n: usize,
    managers: bool,
    admins: bool,
    users: String,
    all: bool,
    timeout_hours: String,
    on_timeout: String,
}

#[derive(Template)]
#[template(path = "pages/admin/catalog.html")]
struct CatalogPage {
    layout: Layout,
    items: Vec<ItemView>,
    entitlements: Vec<EntitlementView>,
    policies: Vec<PolicyView>,
    blueprints: Vec<BlueprintSummary>,
    groups: Vec<String>,
    actions: Vec<&'static str>,
    item: FormState,
    entitlement: FormState,
    policy: FormState,
    /// (The item form's fields are shared with the item's page, which changes one.)
    editing: bool,
}

/// One entitlement's page: its form, to change it.
#[derive(Template)]
#[template(path = "pages/admin/catalog_entitlement.html")]
struct EntitlementPage {
    layout: Layout,
    id: i64,
    group: String,
    groups: Vec<String>,
    actions: Vec<&'static str>,
    entitlement: FormState,
}

/// One approval policy's page: its form, to change it.
#[derive(Template)]
#[template(path = "pages/admin/catalog_policy.html")]
struct PolicyPage {
    layout: Layout,
    id: i64,
    name: String,
    policy: FormState,
}

/// One catalog item's page: its form, to change it.
#[derive(Template)]
#[template(path = "pages/admin/catalog_item.html")]
struct ItemPage {
    layout: Layout,
    id: String,
    name: String,
    blueprints: Vec<BlueprintSummary>,
    item: FormState,
    editing: bool,
    /// When it was retired (`YYYY-MM-DD HH:MM UTC`).
    retired_at: Option<String>,
}

impl CatalogPage {
    fn level_text(&self, l: &Level) -> String {
        let mut who = Vec::new();
        if l.approvers.group_managers {
            who.push("group managers".to_string());
        }
        if !l.approvers.users.is_empty() {
            who.push(l.approvers.users.join(", "));
        }
        if l.approvers.admins {
            who.push("admins".to_string());
        }
        let mode = if l.mode == Mode::All { "all of" } else { "any of" };
        let timeout = match (l.timeout_hours, l.on_timeout) {
            (Some(h), Some(o)) => format!(" · {} after {h} h", if o == Outcome::Approve { "approve" } else { "reject" }),
            _ => String::new(),
        };
        format!("{mode} {}{timeout}", who.join(" + "))
    }
    fn scope_text(&self, s: &Scope) -> String {
        let mut parts = Vec::new();
        if !s.catalog_items.is_empty() {
            parts.push(format!("items {}", s.catalog_items.join(", ")));
        }
        if !s.categories.is_empty() {
            parts.push(format!("categories {}", s.categories.join(", ")));
        }
        if !s.groups.is_empty() {
            parts.push(format!("groups {}", s.groups.join(", ")));
        }
        if parts.is_empty() { "every request".into() } else { parts.join("; ") }
    }
}

/// The page, with `failed` open on what was sent when a form failed.
async fn build(state: &AppState, admin: &Admin, failed: Option<(Form, FormState)>) -> Result<CatalogPage, AppError> {
    let groups = groups(state).await?;
    let mut page = CatalogPage {
        layout: layout(&admin.ctx, "governance", "Catalog & policies"),
        items: catalog::list_items(&state.ctx.db).await?,
        entitlements: catalog::list_entitlements(&state.ctx.db).await?,
        policies: catalog::list_policies(&state.ctx.db).await?,
        blueprints: blueprints::list(&state.ctx.db).await?,
        groups,
        actions: ACTIONS.to_vec(),
        item: FormState::new_item(),
        entitlement: FormState::default(),
        policy: FormState::new_policy(),
        editing: false,
    };
    if let Some((form, s)) = failed {
        *match form {
            Form::Item => &mut page.item,
            Form::Entitlement => &mut page.entitlement,
            Form::Policy => &mut page.policy,
        } = s;
    }
    Ok(page)
}

async fn page(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &build(&state, &admin, None).await?)
}

type Fields = web::Form<Vec<(String, String)>>;

/// Form pairs as a map (the values of a repeated key, check boxes say, joined by commas, to
/// fill the form back in) and the list values of each key.
fn collect(form: Fields) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let mut many: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form.into_inner() {
        many.entry(k).or_default().push(v);
    }
    let one = many.iter().map(|(k, v)| (k.clone(), v.join(","))).collect();
    (one, many)
}

/// Back to the page when it worked; the page with `form` open on its errors when not.
async fn answer(
    state: &AppState,
    admin: &Admin,
    form: Form,
    values: BTreeMap<String, String>,
    result: Result<(), ServiceError>,
) -> Result<HttpResponse, AppError> {
    match result {
        Ok(()) => Ok(see_other("/admin/catalog")),
        Err(e) => {
            let errors = form_errors(e)?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &build(state, admin, Some((form, FormState::failed(values, errors)))).await?)
        }
    }
}

/// The item form's fields as an item, and what does not parse.
fn item_input(v: &BTreeMap<String, String>) -> (ItemInput, Vec<crate::services::FieldError>) {
    let mut errors = Vec::new();
    let selector = key_values(&v.get("host_selector").cloned().unwrap_or_default(), "host_selector", &mut errors);
    let input = ItemInput {
        id: v.get("id").cloned().unwrap_or_default().trim().to_string(),
        name: v.get("name").cloned().unwrap_or_default(),
        description: v.get("description").cloned().unwrap_or_default(),
        category: v.get("category").cloned().unwrap_or_default(),
        icon: v.get("icon").cloned().unwrap_or_default(),
        blueprint: v.get("blueprint").cloned().unwrap_or_default(),
        blueprint_version: number(v, "blueprint_version", &mut errors),
        host_selector: selector,
        default_days: number(v, "lease.default_days", &mut errors).unwrap_or(7),
        max_days: number(v, "lease.max_days", &mut errors).unwrap_or(30),
        grace_days: number(v, "lease.grace_days", &mut errors).unwrap_or(3),
        console_record: v.get("console_record").is_some_and(|s| s == "true"),
        allowed_images: list(&v.get("allowed_images").cloned().unwrap_or_default()),
    };
    (input, errors)
}

/// One field on the form for the whole list: `allowed_images[2]`'s error shows under it.
fn on_the_form(e: ServiceError) -> ServiceError {
    match e {
        ServiceError::Invalid(list) => ServiceError::Invalid(
            list.into_iter()
                .map(|mut f| {
                    if f.field.starts_with("allowed_images[") {
                        f.field = "allowed_images".into();
                    }
                    f
                })
                .collect(),
        ),
        other => other,
    }
}

async fn create_item(admin: Admin, state: web::Data<AppState>, form: Fields) -> Result<HttpResponse, AppError> {
    let (v, _) = collect(form);
    let (input, errors) = item_input(&v);
    let result = if errors.is_empty() {
        catalog::create_item(&state.ctx, &admin.principal.username, input).await.map(|_| ())
    } else {
        Err(ServiceError::Invalid(errors))
    };
    answer(&state, &admin, Form::Item, v, result.map_err(on_the_form)).await
}

async fn item_page(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let item = catalog::get_item(&state.ctx.db, &id).await?;
    let page = ItemPage {
        layout: layout(&admin.ctx, "governance", &format!("Catalog item {}", item.name)),
        id: item.id.clone(),
        name: item.name.clone(),
        blueprints: blueprints::list(&state.ctx.db).await?,
        item: FormState::item(&item),
        editing: true,
        retired_at: item.retired_at.map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
    };
    render(StatusCode::OK, &page)
}

async fn update_item(admin: Admin, state: web::Data<AppState>, id: web::Path<String>, form: Fields) -> Result<HttpResponse, AppError> {
    // A page for an item that is not there is a 404, whatever was sent.
    let item = catalog::get_item(&state.ctx.db, &id).await?;
    let (v, _) = collect(form);
    let (input, errors) = item_input(&v);
    let result = if errors.is_empty() {
        catalog::update_item(&state.ctx, &admin.principal.username, &id, Some(|_| input), catalog::Retirement::Keep).await.map(|_| ())
    } else {
        Err(ServiceError::Invalid(errors))
    };
    match result.map_err(on_the_form) {
        Ok(()) => Ok(see_other("/admin/catalog")),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = ItemPage {
                layout: layout(&admin.ctx, "governance", &format!("Catalog item {}", item.name)),
                id: item.id.clone(),
                name: item.name,
                blueprints: blueprints::list(&state.ctx.db).await?,
                item: FormState::failed(v, errors),
                editing: true,
                retired_at: item.retired_at.map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// The entitlement form's fields as an entitlement.
fn entitlement_input(v: &BTreeMap<String, String>, many: &BTreeMap<String, Vec<String>>) -> EntitlementInput {
    EntitlementInput {
        group: v.get("group").cloned().unwrap_or_default(),
        catalog_items: list(&v.get("catalog_items").cloned().unwrap_or_default()),
        categories: list(&v.get("categories").cloned().unwrap_or_default()),
        actions: many.get("actions").cloned().unwrap_or_default(),
    }
}

async fn create_entitlement(admin: Admin, state: web::Data<AppState>, form: Fields) -> Result<HttpResponse, AppError> {
    let (v, many) = collect(form);
    let result = catalog::create_entitlement(&state.ctx.db, &admin.principal.username, entitlement_input(&v, &many)).await.map(|_| ());
    answer(&state, &admin, Form::Entitlement, v, result).await
}

async fn groups(state: &AppState) -> Result<Vec<String>, AppError> {
    Ok(accounts::list_groups(&state.ctx.db, PageRequest::new(None, Some(200))).await?.items.into_iter().map(|g| g.name).collect())
}

async fn entitlement_page(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let e = catalog::get_entitlement(&state.ctx.db, *id).await?;
    let page = EntitlementPage {
        layout: layout(&admin.ctx, "governance", &format!("Entitlement of {}", e.group)),
        id: e.id,
        group: e.group.clone(),
        groups: groups(&state).await?,
        actions: ACTIONS.to_vec(),
        entitlement: FormState::entitlement(&e),
    };
    render(StatusCode::OK, &page)
}

async fn update_entitlement(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>, form: Fields) -> Result<HttpResponse, AppError> {
    // A page for an entitlement that is not there is a 404, whatever was sent.
    let e = catalog::get_entitlement(&state.ctx.db, *id).await?;
    let (v, many) = collect(form);
    match catalog::update_entitlement(&state.ctx.db, &admin.principal.username, e.id, entitlement_input(&v, &many)).await {
        Ok(_) => Ok(see_other("/admin/catalog")),
        Err(err) => {
            let page = EntitlementPage {
                layout: layout(&admin.ctx, "governance", &format!("Entitlement of {}", e.group)),
                id: e.id,
                group: e.group,
                groups: groups(&state).await?,
                actions: ACTIONS.to_vec(),
                entitlement: FormState::failed(v, form_errors(err)?),
            };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

async fn retire_item(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    catalog::set_retired(&state.ctx, &admin.principal.username, &id, true).await?;
    Ok(see_other(&format!("/admin/catalog/items/{id}")))
}

async fn restore_item(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    catalog::set_retired(&state.ctx, &admin.principal.username, &id, false).await?;
    Ok(see_other(&format!("/admin/catalog/items/{id}")))
}

async fn remove_entitlement(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    catalog::delete_entitlement(&state.ctx.db, &admin.principal.username, id.into_inner()).await?;
    Ok(see_other("/admin/catalog"))
}

async fn remove_policy(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    catalog::delete_policy(&state.ctx.db, &admin.principal.username, id.into_inner()).await?;
    Ok(see_other("/admin/catalog"))
}

/// The policy form's fields as a policy, and what does not parse. A level is a row with
/// approvers, users or a timeout; rows left empty are skipped.
fn policy_input(v: &BTreeMap<String, String>, many: &BTreeMap<String, Vec<String>>) -> (PolicyInput, Vec<FieldError>) {
    let mut errors = Vec::new();
    let mut levels = Vec::new();
    for n in 1..=MAX_LEVELS {
        let get = |k: &str| v.get(&format!("level{n}.{k}")).map(|s| s.trim().to_string()).unwrap_or_default();
        let who = many.get(&format!("level{n}.approvers")).cloned().unwrap_or_default();
        let users = list(&get("users"));
        let on_timeout = get("on_timeout");
        if who.iter().all(|w| w.is_empty()) && users.is_empty() && get("timeout_hours").is_empty() && on_timeout.is_empty() {
            continue;
        }
        let approvers =
            Approvers { group_managers: who.iter().any(|w| w == "group_managers"), users, admins: who.iter().any(|w| w == "admins") };
        let key = format!("level{n}.timeout_hours");
        let timeout_hours = number::<f64>(v, &key, &mut errors);
        let on_timeout = match on_timeout.as_str() {
            "approve" => Some(Outcome::Approve),
            "reject" => Some(Outcome::Reject),
            "" => None,
            other => {
                errors.push(FieldError::new("levels", format!("level {n}: `{other}` is not approve or reject")));
                None
            }
        };
        levels.push(Level {
            approvers,
            mode: if get("mode") == Mode::All.as_str() { Mode::All } else { Mode::Any },
            timeout_hours,
            on_timeout,
        });
    }
    // A timeout that does not parse is an error of its level, shown with the others.
    for e in &mut errors {
        if e.field.starts_with("level") && e.field.ends_with(".timeout_hours") {
            let n = e.field.trim_start_matches("level").trim_end_matches(".timeout_hours").to_string();
            e.message = format!("level {n}: timeout hours: {}", e.message);
            e.field = "levels".into();
        }
    }
    let input = PolicyInput {
        name: v.get("name").cloned().unwrap_or_default(),
        scope: Scope {
            catalog_items: list(&v.get("scope.catalog_items").cloned().unwrap_or_default()),
            categories: list(&v.get("scope.categories").cloned().unwrap_or_default()),
            groups: list(&v.get("scope.groups").cloned().unwrap_or_default()),
        },
        condition: v.get("condition").cloned(),
        actions: many.get("actions").cloned().unwrap_or_default(),
        levels,
    };
    (input, errors)
}

async fn create_policy(admin: Admin, state: web::Data<AppState>, form: Fields) -> Result<HttpResponse, AppError> {
    let (v, many) = collect(form);
    let (input, errors) = policy_input(&v, &many);
    let result = if errors.is_empty() {
        catalog::create_policy(&state.ctx.db, &admin.principal.username, input).await.map(|_| ())
    } else {
        Err(ServiceError::Invalid(errors))
    };
    answer(&state, &admin, Form::Policy, v, result).await
}

async fn policy_page(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let p = catalog::get_policy(&state.ctx.db, *id).await?;
    let page = PolicyPage {
        layout: layout(&admin.ctx, "governance", &format!("Approval policy {}", p.name)),
        id: p.id,
        name: p.name.clone(),
        policy: FormState::policy(&p),
    };
    render(StatusCode::OK, &page)
}

async fn update_policy(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>, form: Fields) -> Result<HttpResponse, AppError> {
    // A page for a policy that is not there is a 404, whatever was sent.
    let p = catalog::get_policy(&state.ctx.db, *id).await?;
    let (v, many) = collect(form);
    let (input, errors) = policy_input(&v, &many);
    let result = if errors.is_empty() {
        catalog::update_policy(&state.ctx.db, &admin.principal.username, p.id, input).await.map(|_| ())
    } else {
        Err(ServiceError::Invalid(errors))
    };
    match result {
        Ok(()) => Ok(see_other("/admin/catalog")),
        Err(err) => {
            let page = PolicyPage {
                layout: layout(&admin.ctx, "governance", &format!("Approval policy {}", p.name)),
                id: p.id,
                name: p.name,
                policy: FormState::failed(v, form_errors(err)?),
            };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

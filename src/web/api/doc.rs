//! The OpenAPI document of `/api/v1`, generated from the handlers, served at
//! `/api/v1/openapi.json` with a docs page at `/api/docs/`.
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// Every error: `{"error": {"code", "message", "details"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A machine code: bad_request, unauthorized, forbidden, csrf_failed, not_found, conflict,
    /// invalid_input, too_many_attempts, internal, unavailable, method_not_allowed, …
    pub code: String,
    /// For people.
    pub message: String,
    /// For invalid_input: a list of `{field, message}` or `{line, column, message}`.
    pub details: Option<serde_json::Value>,
}

/// The error answers any endpoint may give.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    /// Malformed body, path or query.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No or bad credentials.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Not allowed (role, entitlement, CSRF).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Not found, or not visible to the caller.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Method not allowed on this path.
    #[response(status = 405)]
    MethodNotAllowed(ErrorBody),
    /// Conflict: taken name, illegal state change, over quota.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// Body too large.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Unsupported content type.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// Invalid input, with details.
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// Too many failed logins.
    #[response(status = 429)]
    TooManyAttempts(ErrorBody),
}

#[derive(Serialize, ToSchema)]
pub struct TokenIssued {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub groups: Vec<crate::services::accounts::GroupMembershipView>,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub group: String,
    pub username: String,
    pub role: crate::domain::Role,
}

#[derive(Serialize, ToSchema)]
pub struct QuotaView {
    pub group: String,
    pub max_containers: Option<i64>,
    pub max_memory_mb: Option<i64>,
    pub max_cpus: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct LocalLoginView {
    pub enabled: bool,
}

/// A new personal token: the token itself is in this answer only.
#[derive(Serialize, ToSchema)]
pub struct NewTokenView {
    #[serde(flatten)]
    pub token_view: crate::auth::tokens::TokenView,
    pub token: String,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from POST /api/v1/auth/token or the profile page"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Wharf API", version = "1", description = "Self-service containers: catalog, requests, approvals, deployments."),
    modifiers(&Security),
    components(schemas(ErrorBody, ErrorDetail, EventPayload, RequestEventData, LeaseEventData, HostEventData)),
    security(("bearer" = [])),
    paths(
        super::auth::create_token, super::auth::me, super::users::create_user, super::users::list_users, super::users::update_user, super::deployments::update_deployment,
        super::groups::create_group, super::groups::list_groups, super::groups::get_group, super::groups::set_member,
        super::groups::remove_member, super::audit::list_audit, super::settings::get_local_login, super::settings::set_local_login,
        super::hosts::create_host, super::hosts::list_hosts, super::hosts::get_host, super::hosts::delete_host,
        super::blueprints::create_blueprint, super::blueprints::list_blueprints, super::blueprints::get_blueprint, super::blueprints::deploy, super::blueprints::compose, super::blueprints::import_compose,
        super::deployments::list_deployments, super::deployments::get_deployment, super::deployments::act, super::deployments::act_on_many, super::deployments::set_lease, super::deployments::history,
        super::observe::get_logs, super::observe::get_stats, super::console::open_console, super::console::get_session, super::console::list_sessions,
        super::notifications::list_notifications, super::notifications::read_notifications, super::notifications::create_webhook,
        super::notifications::list_webhooks, super::notifications::delete_webhook, super::notifications::deliveries, super::notifications::retry_delivery,
        super::notifications::get_preferences, super::notifications::put_preferences, super::notifications::mail_deliveries,
        super::notifications::retry_mail,
        super::registries::create_registry, super::registries::list_registries, super::registries::get_registry,
        super::registries::update_registry, super::registries::delete_registry, super::registries::check_registry,
        super::catalog_items::create_item, super::catalog_items::list_items, super::catalog_items::get_item, super::catalog_items::update_item,
        super::catalog_items::retire_item,
        super::entitlements::create_entitlement, super::entitlements::list_entitlements,
        super::entitlements::get_entitlement, super::entitlements::update_entitlement, super::entitlements::delete_entitlement,
        super::approval_policies::create_policy, super::approval_policies::list_policies,
        super::approval_policies::get_policy, super::approval_policies::update_policy, super::approval_policies::delete_policy,
        super::groups::set_quota, super::catalog::catalog,
        super::requests::submit, super::requests::list_requests, super::requests::get_request, super::requests::approve,
        super::requests::reject, super::requests::cancel, super::requests::approvals,
        super::tokens::list, super::tokens::create, super::tokens::revoke,
    )
)]
pub struct ApiDoc;

/// `POST /api/v1/blueprints` as JSON.
#[derive(Serialize, ToSchema)]
pub struct SourceBody {
    /// The blueprint's YAML.
    pub source: String,
}

/// What a webhook receives: one event, signed (`X-Wharf-Timestamp`, `X-Wharf-Signature:
/// sha256=<hex HMAC-SHA256 of "timestamp.body">`). The same `id` comes again only if a delivery
/// is repeated (a crash between sending and recording it): receivers drop what they have seen.
#[derive(Serialize, ToSchema)]
pub struct EventPayload {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: crate::domain::events::EventType,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `RequestEventData` for `request.*`, `LeaseEventData` for `lease.*` and
    /// `deployment.destroyed`, `HostEventData` for `host.*`.
    pub data: serde_json::Value,
}

/// The `data` of `request.submitted`, `.pending`, `.approved`, `.rejected`, `.succeeded`,
/// `.failed`, `.cancelled`.
#[derive(Serialize, ToSchema)]
pub struct RequestEventData {
    pub request_id: String,
    pub kind: crate::domain::states::RequestKind,
    pub action: Option<crate::domain::states::Day2Action>,
    pub catalog_item: String,
    pub group: String,
    pub requester: String,
    pub status: crate::domain::states::RequestStatus,
    /// The approval level it is at (from 1).
    pub level: i32,
    pub deployment_id: Option<String>,
    pub message: String,
}

/// The `data` of `lease.warning`, `lease.expired` and `deployment.destroyed`.
#[derive(Serialize, ToSchema)]
pub struct LeaseEventData {
    pub deployment_id: String,
    pub name: String,
    pub lease_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub message: String,
}

/// The `data` of `host.down` and `host.up`.
#[derive(Serialize, ToSchema)]
pub struct HostEventData {
    pub host: String,
    /// The status it had before.
    pub from: crate::domain::states::HostStatus,
}

//! Table shapes. These are not API shapes: services convert them into domain or view types.
mod accounts;
mod catalog;
mod engine;
mod notify;

pub use accounts::{api_token, audit, group, login_throttle, membership, session, setting, user};
pub use catalog::{approval_policy, catalog_item, entitlement, quota, request, request_decision, request_event};
pub use engine::{
    blueprint, blueprint_version, console_session, deployment, deployment_event, host, job, pool_network, registry, replica, resource,
};
pub use notify::{notification, outbox, outbox_attempt, webhook};

//! Database migrations for Wharf: one file per change, applied at start-up and by `wharf migrate`.
//! A migration that has landed is never edited; a change is a new file.
pub use sea_orm_migration::prelude::*;

mod m20261130_000001_accounts;
mod m20261130_000002_hosts_blueprints_engine;
mod m20261130_000003_catalog_requests;
mod m20261130_000004_oidc;
mod m20261201_000001_engine_faults;
mod m20261201_000002_host_binding;
mod m20261201_000003_replicas;
mod m20261201_000004_lifecycle;
mod m20261201_000005_console;
mod m20261201_000006_outbox;
mod m20261201_000007_mail;
mod m20261201_000008_epochs;
mod m20261201_000009_network_pool;
mod m20261201_000010_audit_lookup;
mod m20261202_000001_dashboards;
mod m20261202_000002_swarm;
mod m20261202_000003_registries;
mod m20261202_000004_retired_items;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_accounts::Migration),
            Box::new(m20261130_000002_hosts_blueprints_engine::Migration),
            Box::new(m20261130_000003_catalog_requests::Migration),
            Box::new(m20261130_000004_oidc::Migration),
            Box::new(m20261201_000001_engine_faults::Migration),
            Box::new(m20261201_000002_host_binding::Migration),
            Box::new(m20261201_000003_replicas::Migration),
            Box::new(m20261201_000004_lifecycle::Migration),
            Box::new(m20261201_000005_console::Migration),
            Box::new(m20261201_000006_outbox::Migration),
            Box::new(m20261201_000007_mail::Migration),
            Box::new(m20261201_000008_epochs::Migration),
            Box::new(m20261201_000009_network_pool::Migration),
            Box::new(m20261201_000010_audit_lookup::Migration),
            Box::new(m20261202_000001_dashboards::Migration),
            Box::new(m20261202_000002_swarm::Migration),
            Box::new(m20261202_000003_registries::Migration),
            Box::new(m20261202_000004_retired_items::Migration),
        ]
    }
}

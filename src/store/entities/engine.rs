//! What runs: hosts, blueprints and their versions, deployments with their resources, durable jobs.

pub mod host {
    use sea_orm::entity::prelude::*;

    use crate::domain::states::{HostKind, HostStatus};
    use crate::store::columns::StringMap;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "hosts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub name: String,
        pub endpoint: String,
        pub tls_ca: Option<String>,
        pub tls_cert: Option<String>,
        /// The client key, sealed (`sealing`): used to connect, never sent back by the API or pages.
        pub tls_key: Option<String>,
        pub labels: StringMap,
        pub max_containers: Option<i32>,
        pub publish_address: String,
        pub status: HostStatus,
        pub last_error: Option<String>,
        pub engine_version: Option<String>,
        pub cpus: Option<i32>,
        pub memory_mb: Option<i64>,
        pub containers: i32,
        pub checked_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        /// The local IP published ports bind to; when unset, `publish_address` if it is an IP.
        pub bind_address: Option<String>,
        /// The range host ports from inputs must stay within; none allowed when unset.
        pub host_port_min: Option<i32>,
        pub host_port_max: Option<i32>,
        /// An engine, or a Swarm manager (deployments become services there).
        pub kind: HostKind,
    }

    impl Model {
        /// Where published ports bind: `None` is every interface (said on the hosts page).
        pub fn bind_ip(&self) -> Option<std::net::IpAddr> {
            self.bind_address.as_deref().or(Some(self.publish_address.as_str())).and_then(|a| a.parse().ok())
        }

        /// The range input-driven host ports must stay within, when one is set.
        pub fn host_ports(&self) -> Option<std::ops::RangeInclusive<u16>> {
            let (min, max) = (u16::try_from(self.host_port_min?).ok()?, u16::try_from(self.host_port_max?).ok()?);
            Some(min..=max)
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod blueprint {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blueprints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub description: String,
        pub category: String,
        pub latest_version: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod blueprint_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blueprint_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub blueprint_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        pub source: String,
        pub sha256: String,
        pub trusted: bool,
        pub created_by: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod deployment {
    use sea_orm::entity::prelude::*;

    use crate::domain::blueprint::inputs::StoredInputs;
    use crate::domain::states::DeploymentStatus;
    use crate::store::columns::StringMap;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "deployments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub blueprint_id: String,
        pub blueprint_version: i32,
        /// The validated inputs, secrets included (they are needed to provision again);
        /// masked whenever they are shown.
        pub inputs: StoredInputs,
        pub host_id: Option<i64>,
        pub host_selector: StringMap,
        pub status: DeploymentStatus,
        pub error: Option<String>,
        pub outputs: StringMap,
        pub owner_id: Option<i64>,
        pub group_id: Option<i64>,
        pub lease_expires_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub catalog_item_id: Option<String>,
        pub request_id: Option<String>,
        /// The containers it plans to run (replicas counted), known before they exist.
        pub containers: i32,
        /// The name of the host it was placed on, kept if the host is removed.
        pub host_name: Option<String>,
        /// What it holds against its group's quota besides its containers.
        pub memory_mb: i64,
        pub cpus: f64,
        /// Days between the end of its lease and its destruction (its catalog item's grace).
        pub lease_grace_days: Option<i32>,
        /// The latest its lease may be extended to (`created_at` + the item's `max_days`).
        pub lease_max_expires_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod resource {
    use sea_orm::entity::prelude::*;

    use crate::domain::states::{ResourceKind, ResourceStatus};
    use crate::store::columns::PublishedPorts;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "deployment_resources")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deployment_id: String,
        pub kind: ResourceKind,
        pub component: String,
        pub replica: i32,
        pub name: String,
        pub docker_id: Option<String>,
        pub host_id: i64,
        pub status: ResourceStatus,
        pub ports: PublishedPorts,
        pub updated_at: DateTimeUtc,
        /// A Swarm service's replicas wanted and tasks running, as last seen.
        pub desired: Option<i32>,
        pub running: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pool_network {
    use sea_orm::entity::prelude::*;

    /// A network the pool made on a host ahead of time; `deployment_id` once one claimed it.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "pool_networks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub host_id: i64,
        #[sea_orm(unique)]
        pub name: String,
        pub docker_id: String,
        pub deployment_id: Option<String>,
        pub created_at: DateTimeUtc,
        pub claimed_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod job {
    use sea_orm::entity::prelude::*;

    use crate::domain::states::{JobKind, JobStatus};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: JobKind,
        pub deployment_id: String,
        pub status: JobStatus,
        pub attempts: i32,
        pub lease_owner: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub progress: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// The day-2 request it carries out, if any.
        pub request_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod deployment_event {
    use sea_orm::entity::prelude::*;

    use crate::domain::states::DeploymentEventKind;

    /// An entry on a deployment's own timeline.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deployment_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deployment_id: String,
        pub at: DateTimeUtc,
        pub kind: DeploymentEventKind,
        pub message: String,
        /// Set on events that happen once (a lease warning): unique per deployment.
        pub once_key: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod replica {
    use sea_orm::entity::prelude::*;

    /// A Wharf process serving this database, as of its last heartbeat.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "replicas")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub hostname: String,
        pub pid: i32,
        pub version: String,
        pub started_at: DateTimeUtc,
        pub seen_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod console_session {
    use sea_orm::entity::prelude::*;

    /// One web console session: who opened a shell in which container, when, bytes each way,
    /// and (when recorded) its output, sealed.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "console_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub deployment_id: String,
        pub component: String,
        pub replica: i32,
        pub container: String,
        pub user_id: i64,
        pub username: String,
        pub client_address: String,
        pub started_at: DateTimeUtc,
        pub ended_at: Option<DateTimeUtc>,
        /// Keystrokes and pastes sent to the shell.
        pub bytes_in: i64,
        /// What the shell printed.
        pub bytes_out: i64,
        pub recorded: bool,
        pub transcript: Option<String>,
        pub transcript_truncated: bool,
        pub close_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod registry {
    use sea_orm::entity::prelude::*;

    /// A private registry hosts pull from with its credentials: the password (or token) sealed
    /// (`sealing::Kind::RegistryPassword`), never shown again; the CA certificate is public.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// `host[:port]`, as image names write it (`domain::registry::RegistryAddress`).
        #[sea_orm(unique)]
        pub address: String,
        pub username: Option<String>,
        pub password: Option<String>,
        pub ca_pem: Option<String>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

//! What is offered and asked for: catalog items, entitlements, approval policies, quotas, requests with their decisions and timelines.

pub mod catalog_item {
    use sea_orm::entity::prelude::*;

    use crate::store::columns::{StringList, StringMap};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "catalog_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub description: String,
        pub category: String,
        pub icon: String,
        pub blueprint_id: String,
        /// `None`: the blueprint's latest version at request time.
        pub blueprint_version: Option<i32>,
        pub host_selector: StringMap,
        pub lease_default_days: i32,
        pub lease_max_days: i32,
        pub lease_grace_days: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Console sessions on its deployments keep a transcript.
        pub console_record: bool,
        /// Repository patterns its deployments' images must match (`domain::registry::
        /// AllowedImages`); empty: any image.
        pub allowed_images: StringList,
        /// When it was retired: offered no more, taking no new request (kept for what names it).
        pub retired_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod entitlement {
    use sea_orm::entity::prelude::*;

    use crate::store::columns::StringList;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "entitlements")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub group_id: i64,
        pub catalog_items: StringList,
        pub categories: StringList,
        pub actions: StringList,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod approval_policy {
    use sea_orm::entity::prelude::*;

    use crate::domain::policy::Scope;
    use crate::store::columns::{Levels, StringList};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "approval_policies")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub name: String,
        pub scope: Scope,
        pub condition: Option<String>,
        pub actions: StringList,
        pub levels: Levels,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod quota {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "quotas")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: i64,
        pub max_containers: Option<i32>,
        pub max_memory_mb: Option<i64>,
        pub max_cpus: Option<f64>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod request {
    use sea_orm::entity::prelude::*;

    use crate::domain::blueprint::inputs::StoredInputs;
    use crate::domain::policy::Explain;
    use crate::domain::states::{Day2Action, RequestKind, RequestStatus};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub catalog_item_id: String,
        pub group_id: i64,
        pub requester_id: i64,
        /// Validated inputs, secrets included (masked whenever shown).
        pub inputs: StoredInputs,
        pub lease_days: i32,
        pub reason: String,
        pub status: RequestStatus,
        pub explain: Explain,
        pub policy_id: Option<i64>,
        /// The approval level waiting for decisions (0-based).
        pub level: i32,
        pub level_started_at: Option<DateTimeUtc>,
        pub deployment_id: Option<String>,
        pub error: Option<String>,
        /// Whether the request still counts against its group's quota.
        pub holds_quota: bool,
        pub containers: i32,
        pub memory_mb: i64,
        pub cpus: f64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// The blueprint version it was validated, quota-checked and approved with: the one
        /// that is deployed. `None` for requests made before it was recorded.
        pub blueprint_version: Option<i32>,
        pub kind: RequestKind,
        /// For a day-2 request: what it does to `deployment_id` (its parameters are `inputs`).
        pub action: Option<Day2Action>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod request_decision {
    use sea_orm::entity::prelude::*;

    use crate::domain::states::Decision;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "request_decisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub request_id: String,
        pub level: i32,
        pub approver_id: Option<i64>,
        pub approver: String,
        pub decision: Decision,
        pub comment: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod request_event {
    use sea_orm::entity::prelude::*;

    use crate::domain::states::TimelineKind;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "request_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub request_id: String,
        pub at: DateTimeUtc,
        pub kind: TimelineKind,
        pub message: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

//! Notifications: the outbox, each delivery try, webhooks, and the portal's notifications.

pub mod outbox {
    use sea_orm::entity::prelude::*;

    use crate::domain::states::OutboxStatus;

    /// One message to deliver to one target (a webhook, an e-mail address), claimed by one
    /// sender at a time with a lease, like a job.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The event's id: the same in every message of one event, and in a message delivered
        /// twice (a crash between sending and recording), so that receivers can drop duplicates.
        pub event_id: String,
        pub event_type: String,
        /// `webhook` or `email`.
        pub channel: String,
        /// The webhook's id, or the e-mail address.
        pub target: String,
        /// The webhook's JSON body, or the e-mail's JSON (subject, text, html).
        pub payload: String,
        pub status: OutboxStatus,
        /// Tries so far; each claim takes the next number, which fences the claim's writes.
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub lease_owner: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub last_status: Option<i32>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbox_attempt {
    use sea_orm::entity::prelude::*;

    /// One try to deliver a message: the answer's status, or the error.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_attempts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub outbox_id: String,
        pub at: DateTimeUtc,
        pub status_code: Option<i32>,
        pub error: Option<String>,
        pub millis: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook {
    use sea_orm::entity::prelude::*;

    use crate::store::columns::StringList;

    /// A URL that receives the events it subscribes to, signed with its secret (sealed).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhooks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub url: String,
        /// Event types, or `*`.
        pub events: StringList,
        pub secret: String,
        pub created_by: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod notification {
    use sea_orm::entity::prelude::*;

    /// What one user sees in the portal's notification list.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub event_id: String,
        pub event_type: String,
        pub title: String,
        /// A page of Wharf's (a path).
        pub link: Option<String>,
        pub created_at: DateTimeUtc,
        pub read_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

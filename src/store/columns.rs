//! Typed columns: the domain's status enums stored as their wire words, and structured JSON
//! columns stored as JSON. A stored value that does not read back as its type is an error
//! (`DbErr::TryIntoErr` / `Type`), never a silent default.
//!
//! These are the trait impls sea-orm's `DeriveValueType` and `FromJsonQueryResult` would
//! generate; they live here so that `domain` stays free of persistence.
use crate::domain::Role;
use crate::domain::blueprint::inputs::StoredInputs;
use crate::domain::deployment::PublishedPort;
use crate::domain::policy::{Explain, Level, Scope};
use crate::domain::states::{
    Day2Action, Decision, DeploymentEventKind, DeploymentStatus, HostKind, HostStatus, JobKind, JobStatus, OutboxStatus, RequestKind,
    RequestStatus, ResourceKind, ResourceStatus, TimelineKind,
};

/// A `FromStr` + `as_str` enum stored as text.
macro_rules! text_column {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for sea_orm::Value {
            fn from(v: $t) -> Self {
                v.as_str().into()
            }
        }

        impl sea_orm::TryGetable for $t {
            fn try_get_by<I: sea_orm::ColIdx>(res: &sea_orm::QueryResult, idx: I) -> Result<Self, sea_orm::TryGetError> {
                let word = String::try_get_by(res, idx)?;
                word.parse::<$t>().map_err(|e| {
                    sea_orm::TryGetError::DbErr(sea_orm::DbErr::TryIntoErr {
                        from: "String",
                        into: stringify!($t),
                        source: std::sync::Arc::new(e),
                    })
                })
            }
        }

        impl sea_orm::sea_query::ValueType for $t {
            fn try_from(v: sea_orm::Value) -> Result<Self, sea_orm::sea_query::ValueTypeErr> {
                let word = <String as sea_orm::sea_query::ValueType>::try_from(v)?;
                word.parse::<$t>().map_err(|_| sea_orm::sea_query::ValueTypeErr)
            }
            fn type_name() -> String {
                stringify!($t).to_owned()
            }
            fn array_type() -> sea_orm::sea_query::ArrayType {
                sea_orm::sea_query::ArrayType::String
            }
            fn column_type() -> sea_orm::sea_query::ColumnType {
                sea_orm::sea_query::ColumnType::String(sea_orm::sea_query::StringLen::None)
            }
        }

        impl sea_orm::sea_query::Nullable for $t {
            fn null() -> sea_orm::Value {
                sea_orm::Value::String(None)
            }
        }

        impl sea_orm::IntoActiveValue<$t> for $t {
            fn into_active_value(self) -> sea_orm::ActiveValue<$t> {
                sea_orm::ActiveValue::Set(self)
            }
        }
    )*};
}

text_column!(
    Role,
    RequestStatus,
    RequestKind,
    Day2Action,
    Decision,
    TimelineKind,
    DeploymentStatus,
    DeploymentEventKind,
    ResourceKind,
    ResourceStatus,
    JobKind,
    JobStatus,
    HostStatus,
    HostKind,
    OutboxStatus
);

/// A serde type stored in a JSON column.
macro_rules! json_column {
    ($($t:ty),* $(,)?) => {$(
        impl sea_orm::TryGetableFromJson for $t {}

        impl From<$t> for sea_orm::Value {
            fn from(v: $t) -> Self {
                // Serializing plain data structs (strings, numbers, maps) cannot fail.
                sea_orm::Value::Json(Some(Box::new(serde_json::to_value(&v).unwrap_or(serde_json::Value::Null))))
            }
        }

        impl sea_orm::sea_query::ValueType for $t {
            fn try_from(v: sea_orm::Value) -> Result<Self, sea_orm::sea_query::ValueTypeErr> {
                match v {
                    sea_orm::Value::Json(Some(json)) => serde_json::from_value(*json).map_err(|_| sea_orm::sea_query::ValueTypeErr),
                    _ => Err(sea_orm::sea_query::ValueTypeErr),
                }
            }
            fn type_name() -> String {
                stringify!($t).to_owned()
            }
            fn array_type() -> sea_orm::sea_query::ArrayType {
                sea_orm::sea_query::ArrayType::Json
            }
            fn column_type() -> sea_orm::sea_query::ColumnType {
                sea_orm::sea_query::ColumnType::Json
            }
        }

        impl sea_orm::sea_query::Nullable for $t {
            fn null() -> sea_orm::Value {
                sea_orm::Value::Json(None)
            }
        }

        impl sea_orm::IntoActiveValue<$t> for $t {
            fn into_active_value(self) -> sea_orm::ActiveValue<$t> {
                sea_orm::ActiveValue::Set(self)
            }
        }
    )*};
}

json_column!(Scope, Levels, StringList, StringMap, StoredInputs, PublishedPorts, Explain);

/// A list of strings in a JSON column (an entitlement's items, categories and actions).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

/// A string-to-string map in a JSON column (labels, host selectors).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StringMap(pub std::collections::BTreeMap<String, String>);

/// An approval policy's levels in a JSON column.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Levels(pub Vec<Level>);

/// A container's published ports in a JSON column.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PublishedPorts(pub Vec<PublishedPort>);

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, EntityTrait};

    use crate::domain::states::HostStatus;
    use crate::store::entities::host;

    async fn db_with_host(status: &str, labels: &str) -> sea_orm::DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        crate::store::migrate(&db).await.unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO hosts (name, endpoint, labels, publish_address, status, containers, created_at) \
             VALUES ('h1', 'unix:///x.sock', '{labels}', '127.0.0.1', '{status}', 0, '2026-12-01T00:00:00Z')"
        ))
        .await
        .unwrap();
        db
    }

    #[tokio::test]
    async fn stored_words_and_json_read_back_typed() {
        let db = db_with_host("up", r#"{"zone":"a"}"#).await;
        let h = host::Entity::find().one(&db).await.unwrap().unwrap();
        assert_eq!(h.status, HostStatus::Up);
        assert_eq!(h.labels.0.get("zone").map(String::as_str), Some("a"));
    }

    #[tokio::test]
    async fn a_stored_value_of_the_wrong_shape_is_an_error_not_a_default() {
        let db = db_with_host("sideways", "{}").await;
        let err = host::Entity::find().one(&db).await.unwrap_err().to_string();
        assert!(err.contains("`sideways` is not a host status"), "{err}");
        let db = db_with_host("up", "[1, 2]").await;
        assert!(host::Entity::find().one(&db).await.is_err(), "labels must be a map of strings");
    }
}

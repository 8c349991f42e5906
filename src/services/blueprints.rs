//! Publishing blueprint versions (from the API, the pages or the catalog folder), and reading them.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Context, ServiceError, ServiceResult, audit};
use crate::domain::blueprint::{self, Blueprint, BlueprintError};
use crate::store::entities::{blueprint as bp_entity, blueprint_version};

/// Largest blueprint source accepted.
pub const MAX_SOURCE: usize = 256 * 1024;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Published {
    pub id: String,
    pub version: i32,
    /// False when this exact version was published before (nothing changed).
    pub created: bool,
}

/// Parses, checks and stores a new version. The same version again with the same text is a
/// no-op; with other text it is refused: a published version never changes.
pub async fn publish(db: &DatabaseConnection, actor: &str, source: &str) -> ServiceResult<Published> {
    if source.len() > MAX_SOURCE {
        return Err(ServiceError::Blueprint(vec![BlueprintError {
            line: 1,
            column: 1,
            message: format!("the blueprint is larger than {} KiB", MAX_SOURCE / 1024),
        }]));
    }
    let bp = blueprint::parse(source).map_err(ServiceError::Blueprint)?;
    let sha = hex::encode(Sha256::digest(source.as_bytes()));
    let version = i32::try_from(bp.version).unwrap_or(i32::MAX);
    let txn = crate::store::begin(db).await?;
    if let Some(existing) = blueprint_version::Entity::find_by_id((bp.id.clone(), version)).one(&txn).await? {
        if existing.sha256 == sha {
            return Ok(Published { id: bp.id, version, created: false });
        }
        return Err(ServiceError::Conflict(format!(
            "version {version} of blueprint `{}` is published and cannot change; publish it as version {}",
            bp.id,
            latest(&txn, &bp.id).await?.map(|v| v + 1).unwrap_or(version + 1)
        )));
    }
    let now = Utc::now();
    match bp_entity::Entity::find_by_id(bp.id.clone()).one(&txn).await? {
        None => {
            bp_entity::ActiveModel {
                id: Set(bp.id.clone()),
                name: Set(bp.name.clone()),
                description: Set(bp.description.clone()),
                category: Set(bp.category.clone()),
                latest_version: Set(version),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
        Some(row) if version > row.latest_version => {
            let mut a: bp_entity::ActiveModel = row.into();
            a.name = Set(bp.name.clone());
            a.description = Set(bp.description.clone());
            a.category = Set(bp.category.clone());
            a.latest_version = Set(version);
            a.updated_at = Set(now);
            a.update(&txn).await?;
        }
        Some(_) => {}
    }
    blueprint_version::ActiveModel {
        blueprint_id: Set(bp.id.clone()),
        version: Set(version),
        source: Set(source.to_string()),
        sha256: Set(sha),
        trusted: Set(bp.trusted),
        created_by: Set(actor.to_string()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, actor, "blueprint.publish", &format!("blueprint:{}", bp.id), json!({"version": version, "trusted": bp.trusted}))
        .await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::CATALOG).await?;
    txn.commit().await?;
    Ok(Published { id: bp.id, version, created: true })
}

async fn latest(db: &impl sea_orm::ConnectionTrait, id: &str) -> Result<Option<i32>, sea_orm::DbErr> {
    Ok(bp_entity::Entity::find_by_id(id.to_string()).one(db).await?.map(|b| b.latest_version))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlueprintSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub latest_version: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    pub version: i32,
    pub trusted: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlueprintDetail {
    #[serde(flatten)]
    pub summary: BlueprintSummary,
    pub versions: Vec<VersionView>,
    /// The latest version's text.
    pub source: String,
}

fn summary(b: bp_entity::Model) -> BlueprintSummary {
    BlueprintSummary {
        id: b.id,
        name: b.name,
        description: b.description,
        category: b.category,
        latest_version: b.latest_version,
        updated_at: b.updated_at,
    }
}

pub async fn list(db: &DatabaseConnection) -> ServiceResult<Vec<BlueprintSummary>> {
    Ok(bp_entity::Entity::find()
        .order_by_asc(bp_entity::Column::Category)
        .order_by_asc(bp_entity::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(summary)
        .collect())
}

pub async fn detail(db: &DatabaseConnection, id: &str) -> ServiceResult<BlueprintDetail> {
    let b = bp_entity::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no blueprint `{id}`")))?;
    let versions = blueprint_version::Entity::find()
        .filter(blueprint_version::Column::BlueprintId.eq(id))
        .order_by_desc(blueprint_version::Column::Version)
        .all(db)
        .await?;
    let source = versions.iter().find(|v| v.version == b.latest_version).map(|v| v.source.clone()).unwrap_or_default();
    Ok(BlueprintDetail {
        summary: summary(b),
        versions: versions
            .into_iter()
            .map(|v| VersionView {
                version: v.version,
                trusted: v.trusted,
                created_by: v.created_by,
                created_at: v.created_at,
                sha256: v.sha256,
            })
            .collect(),
        source,
    })
}

/// Parsed versions. A published version never changes, so a parse is good forever.
#[derive(Clone, Default)]
pub struct Cache(Arc<RwLock<HashMap<(String, i32), Blueprint>>>);

/// A published version (`None`: the latest), parsed once per process.
/// A version new work may start from: it follows today's rules on what inputs may reach (a
/// version published before a rule was added keeps its deployments, but new requests and
/// catalog items need a version that follows it). `None` when it does; else why not.
pub fn outdated(bp: &Blueprint, version: i32) -> Option<String> {
    let risks = blueprint::input_risks(bp);
    let first = risks.first()?;
    Some(format!(
        "blueprint `{}` version {version} was published before a rule it breaks (line {}, column {}: {}): an admin publishes a version that follows it",
        bp.id, first.line, first.column, first.message
    ))
}

pub async fn load(ctx: &Context, id: &str, version: Option<i32>) -> ServiceResult<(Blueprint, i32)> {
    let db = &ctx.db;
    let version = match version {
        Some(v) => v,
        None => latest(db, id).await?.ok_or_else(|| ServiceError::NotFound(format!("no blueprint `{id}`")))?,
    };
    let key = (id.to_string(), version);
    if let Some(bp) = ctx.blueprints().0.read().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok((bp, version));
    }
    let row = blueprint_version::Entity::find_by_id(key.clone())
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("blueprint `{id}` has no version {version}")))?;
    let bp = blueprint::parse_stored(&row.source).map_err(ServiceError::Blueprint)?;
    if let Ok(mut m) = ctx.blueprints().0.write() {
        m.insert(key, bp.clone());
    }
    Ok((bp, version))
}

/// The latest version of every blueprint, in one query.
pub async fn latest_versions(db: &DatabaseConnection) -> ServiceResult<std::collections::HashMap<String, i32>> {
    Ok(bp_entity::Entity::find().all(db).await?.into_iter().map(|b| (b.id, b.latest_version)).collect())
}

/// What one file of a catalog folder gave.
#[derive(Debug)]
pub enum FileOutcome {
    Published(Published),
    Invalid(Vec<BlueprintError>),
    Refused(String),
}

/// The blueprint files of a folder (`*.yaml`, `*.yml`), sorted.
pub fn catalog_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}

/// The files of a folder that did not pass, each with its errors.
pub type FileErrors = Vec<(PathBuf, Vec<BlueprintError>)>;

/// Checks every file of a folder without storing anything: how many files, and the bad ones.
pub fn validate_dir(dir: &Path) -> std::io::Result<(usize, FileErrors)> {
    let files = catalog_files(dir)?;
    let mut bad = Vec::new();
    let mut ids: std::collections::HashMap<(String, u32), PathBuf> = std::collections::HashMap::new();
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                bad.push((f.clone(), vec![BlueprintError { line: 1, column: 1, message: format!("cannot read the file: {e}") }]));
                continue;
            }
        };
        match blueprint::parse(&text) {
            Ok(bp) => {
                if let Some(other) = ids.insert((bp.id.clone(), bp.version), f.clone()) {
                    bad.push((
                        f.clone(),
                        vec![BlueprintError {
                            line: 1,
                            column: 1,
                            message: format!("blueprint `{}` version {} is also defined in {}", bp.id, bp.version, other.display()),
                        }],
                    ));
                }
            }
            Err(errs) => bad.push((f.clone(), errs)),
        }
    }
    Ok((files.len(), bad))
}

/// Imports a catalog folder: new versions are added, published ones are left as they are, and
/// every refusal is returned (and logged by the caller) with its file.
pub async fn import_dir(db: &DatabaseConnection, dir: &Path) -> std::io::Result<Vec<(PathBuf, FileOutcome)>> {
    let mut out = Vec::new();
    for f in catalog_files(dir)? {
        let outcome = match std::fs::read_to_string(&f) {
            Err(e) => FileOutcome::Refused(format!("cannot read the file: {e}")),
            Ok(text) => match publish(db, "catalog", &text).await {
                Ok(p) => FileOutcome::Published(p),
                Err(ServiceError::Blueprint(errs)) => FileOutcome::Invalid(errs),
                Err(e) => FileOutcome::Refused(e.to_string()),
            },
        };
        out.push((f, outcome));
    }
    Ok(out)
}

/// Something the Compose import left out or changed, at its line and column of the Compose file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportNote {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A blueprint draft converted from a Compose file, and what was left out of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComposeDraft {
    /// The draft (blueprint format v1), checked as any blueprint: publish it as it is, or edit it first.
    pub source: String,
    pub notes: Vec<ImportNote>,
}

/// Converts a Compose file into a blueprint draft (nothing is stored): what cannot be mapped is
/// an error at its line and column. `id` names the blueprint (else the file's `name:`, else
/// `file`'s stem).
pub fn import_compose(text: &str, id: Option<&str>, file: &str) -> ServiceResult<ComposeDraft> {
    let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("compose");
    let stem = stem.strip_suffix(".compose").unwrap_or(stem);
    let id = id.map(str::trim).filter(|s| !s.is_empty());
    let fallback = if stem == "compose" || stem == "docker-compose" { "imported-compose" } else { stem };
    let imported = blueprint::compose_import::import(text, id, fallback).map_err(ServiceError::Blueprint)?;
    Ok(ComposeDraft {
        source: imported.source,
        notes: imported.notes.into_iter().map(|n| ImportNote { line: n.line, column: n.column, message: n.message }).collect(),
    })
}

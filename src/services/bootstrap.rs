//! First start: make sure someone can log in as admin; `serve --demo`: a demo organisation.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use super::accounts::{self, NewGroupInput, NewUserInput};
use super::{ServiceResult, audit};
use crate::auth::{password, sessions};
use crate::domain::{Role, Secret};
use crate::store::entities::user;

pub const ADMIN: &str = "admin";

/// With no admin at all, makes `admin` one, with `configured` as its password or a random one.
/// Returns the password when it was generated, so that the caller prints it once.
pub async fn ensure_admin(db: &DatabaseConnection, configured: Option<&Secret>) -> ServiceResult<Option<Secret>> {
    if user::Entity::find().filter(user::Column::IsAdmin.eq(true)).count(db).await? > 0 {
        return Ok(None);
    }
    let (pw, generated) = match configured {
        Some(pw) => (pw.clone(), false),
        None => (password::generate(), true),
    };
    match accounts::find_user(db, ADMIN).await? {
        None => {
            accounts::create_user(
                db,
                audit::SYSTEM,
                NewUserInput {
                    username: ADMIN.into(),
                    password: Some(pw.clone()),
                    display_name: Some("Administrator".into()),
                    email: None,
                    is_admin: true,
                },
            )
            .await?;
        }
        Some(existing) => {
            // A user called admin exists but nobody is an admin: restore it as the way in.
            let hash = password::hash(pw.clone()).await?;
            let txn = crate::store::begin(db).await?;
            let id = existing.id;
            let mut active: user::ActiveModel = existing.into();
            active.is_admin = Set(true);
            active.is_active = Set(true);
            active.password_hash = Set(Some(hash));
            active.updated_at = Set(Utc::now());
            active.update(&txn).await?;
            sessions::delete_for_user(&txn, id).await?;
            audit::record(&txn, audit::SYSTEM, "user.restore_admin", "user:admin", json!({})).await?;
            crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
            txn.commit().await?;
        }
    }
    Ok(generated.then_some(pw))
}

pub struct DemoAccount {
    pub username: &'static str,
    pub password: Secret,
    pub role: &'static str,
}

/// The demo organisation: `dev` (member of `team-a`), `lead` (its manager) and `admin`.
/// Each start with `--demo` gives the three accounts fresh passwords, printed by the caller.
pub async fn seed_demo(ctx: &super::Context) -> ServiceResult<Vec<DemoAccount>> {
    let db = &ctx.db;
    if accounts::find_group(db, "team-a").await?.is_none() {
        accounts::create_group(db, audit::SYSTEM, NewGroupInput { name: "team-a".into(), description: Some("Demo team".into()) }).await?;
    }
    let people = [
        ("dev", "Dana Developer", Some(Role::Member), false, "consumer: member of team-a"),
        ("lead", "Lee Lead", Some(Role::Manager), false, "manager of team-a"),
        (ADMIN, "Administrator", None, true, "admin"),
    ];
    let mut out = Vec::new();
    for (name, display, role, is_admin, what) in people {
        let pw = password::generate();
        if accounts::find_user(db, name).await?.is_none() {
            accounts::create_user(
                db,
                audit::SYSTEM,
                NewUserInput {
                    username: name.into(),
                    password: Some(pw.clone()),
                    display_name: Some(display.into()),
                    email: None,
                    is_admin,
                },
            )
            .await?;
        } else {
            accounts::set_password(db, audit::SYSTEM, name, pw.clone()).await?;
        }
        if let Some(role) = role {
            accounts::set_membership(db, audit::SYSTEM, "team-a", name, role).await?;
        }
        out.push(DemoAccount { username: name, password: pw, role: what });
    }
    seed_demo_catalog(ctx).await?;
    Ok(out)
}

/// Publishes every imported blueprint as a catalog item, entitles team-a to them with every
/// day-2 action, and adds one approval policy, so that the demo users have something to do.
async fn seed_demo_catalog(ctx: &super::Context) -> ServiceResult<()> {
    let db = &ctx.db;
    use super::catalog::{self, EntitlementInput, ItemInput, PolicyInput};
    use crate::domain::policy::{Approvers, Level, Mode, Scope};
    if !catalog::list_items(db).await?.is_empty() {
        return Ok(());
    }
    let mut categories = Vec::new();
    for b in super::blueprints::list(db).await? {
        let item = ItemInput::for_blueprint(&b.id, &b.name, &b.description, &b.category, None);
        catalog::create_item(ctx, audit::SYSTEM, item).await?;
        if !categories.contains(&b.category) {
            categories.push(b.category.clone());
        }
    }
    if categories.is_empty() {
        return Ok(());
    }
    let entitlement = EntitlementInput {
        group: "team-a".into(),
        catalog_items: vec![],
        categories,
        actions: catalog::ACTIONS.iter().map(|a| a.to_string()).collect(),
    };
    catalog::create_entitlement(db, audit::SYSTEM, entitlement).await?;
    let policy = PolicyInput {
        name: "long leases need the team lead".into(),
        scope: Scope::default(),
        condition: Some("request.lease_days > 7".into()),
        actions: vec!["request".into()],
        levels: vec![Level {
            approvers: Approvers { group_managers: true, users: vec![], admins: false },
            mode: Mode::Any,
            timeout_hours: None,
            on_timeout: None,
        }],
    };
    catalog::create_policy(db, audit::SYSTEM, policy).await?;
    Ok(())
}

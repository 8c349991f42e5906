//! Who may decide a level, resolved when it matters: at submission (for the explain record,
//! shown as information) and again at every decision, inbox and view, against today's
//! memberships, admin flags and active accounts. A manager demoted or an admin who lost the
//! flag after a request was submitted can no longer decide it; one promoted since can.
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::domain::Role;
use crate::domain::policy::Approvers;
use crate::domain::states::RequestStatus;
use crate::services::catalog;
use crate::store::entities::{membership, request, user};

/// The active managers of a group, by name.
async fn managers_of(db: &impl ConnectionTrait, group_id: i64) -> Result<Vec<String>, DbErr> {
    let mut names: Vec<String> = membership::Entity::find()
        .filter(membership::Column::GroupId.eq(group_id))
        .filter(membership::Column::Role.eq(Role::Manager))
        .find_also_related(user::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(_, u)| u.filter(|u| u.is_active).map(|u| u.username))
        .collect();
    names.sort();
    Ok(names)
}

/// The people a rule names now, the requester left out (nobody approves their own request).
/// Named users count while their account exists and is active.
pub(super) async fn resolve(db: &impl ConnectionTrait, rule: &Approvers, group_id: i64, requester: &str) -> Result<Vec<String>, DbErr> {
    let mut out = Vec::new();
    if rule.group_managers {
        out.extend(managers_of(db, group_id).await?);
    }
    if !rule.users.is_empty() {
        let named: Vec<String> = rule.users.iter().map(|u| u.to_ascii_lowercase()).collect();
        out.extend(
            user::Entity::find()
                .filter(user::Column::Username.is_in(named))
                .filter(user::Column::IsActive.eq(true))
                .all(db)
                .await?
                .into_iter()
                .map(|u| u.username),
        );
    }
    if rule.admins {
        out.extend(catalog::admins(db).await?);
    }
    out.sort();
    out.dedup();
    out.retain(|u| u != requester);
    Ok(out)
}

/// Who may decide the current level of `r` now (decisions already made included); nobody
/// unless it waits for approval. A level that had approvers when the request was submitted and
/// has none left now (all demoted or disabled) falls to the admins rather than waiting for ever.
pub(super) async fn waiting_on(db: &impl ConnectionTrait, r: &request::Model) -> Result<Vec<String>, DbErr> {
    if r.status != RequestStatus::PendingApproval {
        return Ok(Vec::new());
    }
    let Some(level) = r.explain.levels.get(r.level as usize) else {
        return Ok(Vec::new());
    };
    let requester = user::Entity::find_by_id(r.requester_id).one(db).await?.map(|u| u.username).unwrap_or_default();
    let people = resolve(db, &level.approver_rule, r.group_id, &requester).await?;
    if people.is_empty() && !level.approvers.is_empty() {
        let mut admins = catalog::admins(db).await?;
        admins.retain(|u| *u != requester);
        return Ok(admins);
    }
    Ok(people)
}

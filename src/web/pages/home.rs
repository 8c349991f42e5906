//! `/`: the start page, each role's board (`services::dashboard`, charts from `web::charts`); `/teams`: the groups a manager manages, with their members.
use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use chrono::Utc;

use super::layout;
use crate::auth::GroupRole;
use crate::domain::Role;
use crate::domain::states::{DeploymentStatus, HostStatus};
use crate::services::{accounts, dashboard};
use crate::web::AppState;
use crate::web::charts::{Columns, Meter, time_left};
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::Layout;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home)).route("/teams", web::get().to(teams));
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/home.html")]
struct HomePage {
    layout: Layout,
    groups: Vec<GroupRole>,
    admin: Option<AdminHome>,
    manager: Option<ManagerHome>,
    mine: MineHome,
}

/// A host's row: its health and two bars (containers, memory).
struct HostRow {
    name: String,
    status: HostStatus,
    /// Why it is not up, when it is not.
    problem: Option<String>,
    containers: Meter,
    memory: Meter,
}

/// A group's row: a bar per limit.
struct GroupRow {
    name: String,
    containers: Meter,
    memory: Meter,
    cpus: Meter,
}

/// A bar of the deployments-by-status chart, as long as its share of the largest count.
struct StatusBar {
    status: DeploymentStatus,
    count: u64,
    percent: String,
}

/// A deployment with its lease said as time left.
struct LeaseItem {
    id: String,
    name: String,
    status: DeploymentStatus,
    owner: String,
    group: String,
    ends: String,
    left: String,
    tone: &'static str,
}

struct AdminHome {
    hosts: Vec<HostRow>,
    hosts_up: usize,
    hosts_down: usize,
    statuses: Vec<StatusBar>,
    live: u64,
    destroyed: u64,
    /// No deployment was ever made.
    empty: bool,
    per_day: Columns,
    waiting_total: u64,
    waiting: Vec<dashboard::Waiting>,
    groups: Vec<GroupRow>,
}

struct ManagerHome {
    groups: Vec<GroupRow>,
    waiting_total: u64,
    waiting: Vec<dashboard::Waiting>,
    leases: Vec<LeaseItem>,
}

struct MineHome {
    deployments: Vec<LeaseItem>,
    deployments_total: u64,
    requests: Vec<dashboard::RecentRequest>,
    requests_total: u64,
}

/// Each role's board: admins see the platform, managers their groups, everyone their own.
async fn home(user: Signed, state: web::Data<AppState>) -> Result<HomePage, AppError> {
    let p = &user.principal;
    let ctx = &state.ctx;
    let now = Utc::now();
    let admin = if p.is_admin { Some(admin_home(dashboard::admin(ctx, now).await?)) } else { None };
    let manager = dashboard::manager(ctx, p, now).await?.map(|b| ManagerHome {
        groups: b.groups.iter().map(group_row).collect(),
        waiting_total: b.waiting_total,
        waiting: b.waiting,
        leases: b.leases.into_iter().map(|d| lease_item(d, now)).collect(),
    });
    let b = dashboard::developer(ctx, p).await?;
    let mine = MineHome {
        deployments: b.deployments.into_iter().map(|d| lease_item(d, now)).collect(),
        deployments_total: b.deployments_total,
        requests: b.requests,
        requests_total: b.requests_total,
    };
    Ok(HomePage { layout: layout(&user.ctx, "home", "Home"), groups: p.groups.clone(), admin, manager, mine })
}

fn admin_home(b: dashboard::AdminBoard) -> AdminHome {
    let most = b.deployments.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let statuses = b
        .deployments
        .iter()
        .map(|(status, count)| StatusBar {
            status: *status,
            count: *count,
            percent: if most == 0 { "0".into() } else { format!("{:.1}", *count as f64 * 100.0 / most as f64) },
        })
        .collect();
    let live = b.deployments.iter().filter(|(s, _)| DeploymentStatus::LIVE.contains(s)).map(|(_, n)| n).sum();
    AdminHome {
        hosts_up: b.hosts.iter().filter(|h| h.status == HostStatus::Up).count(),
        hosts_down: b.hosts.iter().filter(|h| h.status != HostStatus::Up).count(),
        hosts: b
            .hosts
            .into_iter()
            .map(|h| HostRow {
                containers: Meter::new("containers", h.containers as f64, h.max_containers.map(|m| m as f64), ""),
                memory: Meter::new("memory reserved", h.memory_mb as f64, h.memory_total_mb.map(|m| m as f64), "MB"),
                problem: if h.status == HostStatus::Up { None } else { h.last_error },
                name: h.name,
                status: h.status,
            })
            .collect(),
        statuses,
        live,
        destroyed: b.destroyed,
        empty: b.destroyed == 0 && b.deployments.iter().all(|(_, n)| *n == 0),
        per_day: Columns::per_day("Requests per day, last 30 days (UTC)", "requests", &b.per_day),
        waiting_total: b.waiting_total,
        waiting: b.waiting,
        groups: b.groups.iter().map(group_row).collect(),
    }
}

fn group_row(g: &dashboard::GroupUse) -> GroupRow {
    GroupRow {
        name: g.name.clone(),
        containers: Meter::new("containers", g.used.containers as f64, g.limits.max_containers.map(|m| m as f64), ""),
        memory: Meter::new("memory", g.used.memory_mb as f64, g.limits.max_memory_mb.map(|m| m as f64), "MB"),
        cpus: Meter::new("CPUs", g.used.cpus, g.limits.max_cpus, ""),
    }
}

fn lease_item(d: dashboard::LeaseRow, now: chrono::DateTime<Utc>) -> LeaseItem {
    let (left, tone) = time_left(now, d.lease_expires_at);
    LeaseItem {
        ends: d.lease_expires_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default(),
        left,
        tone,
        id: d.id,
        name: d.name,
        status: d.status,
        owner: d.owner,
        group: d.group,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/teams.html")]
struct TeamsPage {
    layout: Layout,
    teams: Vec<accounts::GroupDetail>,
}

/// The groups the caller manages, with their members.
async fn teams(user: Signed, state: web::Data<AppState>) -> Result<TeamsPage, AppError> {
    let p = &user.principal;
    if !p.is_manager() {
        return Err(AppError::Forbidden("this page is for group managers: you manage no group".into()));
    }
    let mut teams = Vec::new();
    for g in p.groups.iter().filter(|g| g.role == Role::Manager) {
        teams.push(accounts::group_detail(&state.ctx.db, &g.name).await?);
    }
    Ok(TeamsPage { layout: layout(&user.ctx, "teams", "My teams"), teams })
}

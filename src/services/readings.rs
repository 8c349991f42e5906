//! What the database says now, for `/metrics` (read at each scrape, one grouped count per
//! table): requests, deployments, jobs, hosts and outbox messages by status (every status,
//! zeros included, so that a series does not vanish; outbox messages for each channel that has
//! any), and the time since the oldest queued and the oldest running job were made (on this
//! replica's clock).
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::domain::states::{DeploymentStatus, HostStatus, JobStatus, OutboxStatus, RequestStatus};
use crate::metrics::Reading;
use crate::store::entities::{host, job, outbox, request};

pub async fn read(db: &impl ConnectionTrait) -> Result<Vec<Reading>, DbErr> {
    let requests: Vec<(RequestStatus, i64)> = request::Entity::find()
        .select_only()
        .column(request::Column::Status)
        .column_as(request::Column::Id.count(), "n")
        .group_by(request::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let deployments = crate::store::deployments::count_by_status(db).await?;
    let jobs: Vec<(JobStatus, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let hosts: Vec<(HostStatus, i64)> = host::Entity::find()
        .select_only()
        .column(host::Column::Status)
        .column_as(host::Column::Id.count(), "n")
        .group_by(host::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let outbox: Vec<(String, OutboxStatus, i64)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Channel)
        .column(outbox::Column::Status)
        .column_as(outbox::Column::Id.count(), "n")
        .group_by(outbox::Column::Channel)
        .group_by(outbox::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let now = Utc::now();
    let mut ages = Vec::new();
    for status in [JobStatus::Queued, JobStatus::Running] {
        let oldest: Option<chrono::DateTime<Utc>> = job::Entity::find()
            .select_only()
            .column(job::Column::CreatedAt)
            .filter(job::Column::Status.eq(status))
            .order_by_asc(job::Column::CreatedAt)
            .limit(1)
            .into_tuple()
            .one(db)
            .await?;
        let age = oldest.map(|t| (now - t).num_seconds().max(0)).unwrap_or(0);
        ages.push((vec![("status", status.as_str().to_string())], age));
    }
    let mut out = vec![
        by_status("requests", "Requests by status", RequestStatus::ALL, RequestStatus::as_str, &requests),
        by_status("deployments", "Deployments by status", DeploymentStatus::ALL, DeploymentStatus::as_str, &deployments),
        by_status("jobs", "Jobs by status (queued and running are the work in hand)", JobStatus::ALL, JobStatus::as_str, &jobs),
        by_status("hosts", "Hosts by health", HostStatus::ALL, HostStatus::as_str, &hosts),
        Reading {
            name: "job_oldest_age_seconds",
            help: "Seconds since the oldest queued (or running) job was made; 0 when there is none",
            values: ages,
        },
    ];
    let mut messages = Vec::new();
    let mut channels: Vec<&str> = outbox.iter().map(|(c, _, _)| c.as_str()).collect();
    channels.sort_unstable();
    channels.dedup();
    for channel in channels {
        for status in OutboxStatus::ALL {
            let n = outbox.iter().find(|(c, s, _)| c == channel && s == status).map(|(_, _, n)| *n).unwrap_or(0);
            messages.push((vec![("channel", channel.to_string()), ("status", status.as_str().to_string())], n));
        }
    }
    out.push(Reading {
        name: "outbox_messages",
        help: "Notification messages by channel and status (pending is the outbox's depth)",
        values: messages,
    });
    Ok(out)
}

fn by_status<S: Copy + PartialEq>(
    name: &'static str,
    help: &'static str,
    all: &[S],
    word: fn(S) -> &'static str,
    counted: &[(S, i64)],
) -> Reading {
    let values = all
        .iter()
        .map(|s| {
            let n = counted.iter().find(|(c, _)| c == s).map(|(_, n)| *n).unwrap_or(0);
            (vec![("status", word(*s).to_string())], n)
        })
        .collect();
    Reading { name, help, values }
}

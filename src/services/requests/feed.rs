//! One change feed per process for every live request view: a single loop reads the timeline
//! entries written since it last looked (by this replica or another) with their request's
//! status, and broadcasts them; each server-sent-event stream listens and keeps what is about
//! its request. The database sees one small query a tick, and one when this process commits an
//! entry (so that live views show it at once); each stream adds only a look by primary key every
//! few seconds (a safety net: what the feed did not bring still shows).
//! Streams are capped per user ([`Feed::open`]). Deployments' own timeline entries (lease
//! warnings, expiry, drift, actions) go out the same way, for the live deployment history.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::EventView;
use crate::domain::states::RequestStatus;
use crate::signals::Signals;
use crate::store::entities::{deployment_event, request, request_event};

/// Live views one user may hold open at once (tabs, windows); more get 429.
pub const MAX_STREAMS_PER_USER: usize = 8;

/// How many ids back the feed reads again, for entries that committed late.
const TRAIL: i64 = 200;

/// One timeline entry, with its request's status when the feed read it.
#[derive(Debug, Clone)]
pub struct Change {
    pub request_id: String,
    pub event: EventView,
    pub status: RequestStatus,
}

/// One entry of a deployment's own timeline.
#[derive(Debug, Clone)]
pub struct DeploymentChange {
    pub deployment_id: String,
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub kind: crate::domain::states::DeploymentEventKind,
    pub message: String,
}

#[derive(Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Change>>,
    dtx: broadcast::Sender<Arc<DeploymentChange>>,
    /// Streams open per user, shared with the log and stats streams.
    pub seats: crate::services::seats::Seats,
}

impl Default for Feed {
    fn default() -> Self {
        Self { tx: broadcast::channel(1024).0, dtx: broadcast::channel(1024).0, seats: Default::default() }
    }
}

/// A stream's place in the per-user count; gives it back when dropped.
pub type Ticket = crate::services::seats::Seat;

impl Feed {
    /// A place for one more live view of `user`, unless they hold the most already.
    pub fn open(&self, user: i64) -> Option<Ticket> {
        self.seats.take(user, MAX_STREAMS_PER_USER)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    pub fn subscribe_deployments(&self) -> broadcast::Receiver<Arc<DeploymentChange>> {
        self.dtx.subscribe()
    }

    /// The loop: what was written since the last look, read as soon as this process commits
    /// a timeline entry (`Signals::timeline_written`) and at least every `tick` (the writes of
    /// other replicas, and those no signal follows). Ids are given out in order but may commit
    /// out of order (PostgreSQL): each tick reads again from [`TRAIL`] ids before where the
    /// previous tick stood (however far reads on signals went since), and what was already sent
    /// is not sent twice; a read on a signal reads only what is newer than the newest sent.
    pub async fn run(self, db: DatabaseConnection, signals: Signals, tick: Duration) {
        let mut last = latest(&db).await.unwrap_or(0);
        let mut sent = std::collections::BTreeSet::new();
        let mut dlast = latest_deployment_event(&db).await.unwrap_or(0);
        let mut dsent = std::collections::BTreeSet::new();
        // Where each tick stood: the next tick reads again from `TRAIL` ids before it.
        let (mut floor, mut dfloor) = (last.saturating_sub(TRAIL), dlast.saturating_sub(TRAIL));
        let mut next_tick = Instant::now() + tick;
        loop {
            signals.timeline_waited(next_tick.saturating_duration_since(Instant::now())).await;
            let now = Instant::now();
            let on_tick = now >= next_tick;
            if on_tick {
                next_tick = now + tick;
            }
            if self.tx.receiver_count() == 0 && self.dtx.receiver_count() == 0 {
                // Nobody listens: skip the reads, but keep the place.
                last = latest(&db).await.unwrap_or(last);
                dlast = latest_deployment_event(&db).await.unwrap_or(dlast);
                (floor, dfloor) = (last.saturating_sub(TRAIL), dlast.saturating_sub(TRAIL));
                continue;
            }
            match since(&db, if on_tick { floor } else { last }).await {
                Ok(changes) => {
                    for c in changes {
                        if sent.insert(c.event.id) {
                            last = last.max(c.event.id);
                            // (A test drops what the feed would send, to see the live views
                            // follow without it.)
                            #[cfg(feature = "failpoints")]
                            if crate::failpoint::hit("feed.request_change").await.is_some() {
                                continue;
                            }
                            let _ = self.tx.send(Arc::new(c));
                        }
                    }
                    if on_tick {
                        floor = last.saturating_sub(TRAIL);
                    }
                    sent = sent.split_off(&floor);
                }
                Err(e) => tracing::warn!(error = %e, "the change feed could not read the timeline"),
            }
            if self.dtx.receiver_count() == 0 {
                dlast = latest_deployment_event(&db).await.unwrap_or(dlast);
                dfloor = dlast.saturating_sub(TRAIL);
                continue;
            }
            match deployment_events_since(&db, if on_tick { dfloor } else { dlast }).await {
                Ok(changes) => {
                    for c in changes {
                        if dsent.insert(c.id) {
                            dlast = dlast.max(c.id);
                            let _ = self.dtx.send(Arc::new(c));
                        }
                    }
                    if on_tick {
                        dfloor = dlast.saturating_sub(TRAIL);
                    }
                    dsent = dsent.split_off(&dfloor);
                }
                Err(e) => tracing::warn!(error = %e, "the change feed could not read the deployments' timelines"),
            }
        }
    }
}

async fn latest_deployment_event(db: &DatabaseConnection) -> Result<i64, sea_orm::DbErr> {
    Ok(deployment_event::Entity::find().order_by_desc(deployment_event::Column::Id).one(db).await?.map(|e| e.id).unwrap_or(0))
}

async fn deployment_events_since(db: &DatabaseConnection, after: i64) -> Result<Vec<DeploymentChange>, sea_orm::DbErr> {
    Ok(deployment_event::Entity::find()
        .filter(deployment_event::Column::Id.gt(after))
        .order_by_asc(deployment_event::Column::Id)
        .limit(1000)
        .all(db)
        .await?
        .into_iter()
        .map(|e| DeploymentChange { deployment_id: e.deployment_id, id: e.id, at: e.at, kind: e.kind, message: e.message })
        .collect())
}

async fn latest(db: &DatabaseConnection) -> Result<i64, sea_orm::DbErr> {
    Ok(request_event::Entity::find().order_by_desc(request_event::Column::Id).one(db).await?.map(|e| e.id).unwrap_or(0))
}

async fn since(db: &DatabaseConnection, after: i64) -> Result<Vec<Change>, sea_orm::DbErr> {
    let events = request_event::Entity::find()
        .filter(request_event::Column::Id.gt(after))
        .order_by_asc(request_event::Column::Id)
        .limit(1000)
        .all(db)
        .await?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = events.iter().map(|e| e.request_id.clone()).collect();
    let statuses: HashMap<String, RequestStatus> =
        request::Entity::find().filter(request::Column::Id.is_in(ids)).all(db).await?.into_iter().map(|r| (r.id, r.status)).collect();
    Ok(events
        .into_iter()
        .filter_map(|e| {
            let status = *statuses.get(&e.request_id)?;
            Some(Change { request_id: e.request_id, event: EventView { id: e.id, at: e.at, kind: e.kind, message: e.message }, status })
        })
        .collect())
}

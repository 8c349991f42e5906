//! Wake-ups across replicas on PostgreSQL: every signal this process sends (a job queued, a
//! request moved, a timeline entry written, a message queued) is told to the other replicas
//! with `NOTIFY wharf_wake, '<what>:<sender>'`, and each replica LISTENs and wakes the same loop
//! there. A worker on replica B claims a job queued on replica A at once instead of at its next
//! poll; a live page on B shows an entry written on A at once instead of at the feed's next
//! tick. The polls stay: they are the fallback when a notification is lost (the listener
//! reconnects by itself, and what was said meanwhile is gone), and all there is on SQLite.
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::sync::Mutex;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::signals::{Signals, Wake};
use crate::tasks::supervise;

const CHANNEL: &str = "wharf_wake";

/// On PostgreSQL, starts the two loops (tell, hear); on SQLite, nothing.
pub fn start(db: &DatabaseConnection, signals: &Signals) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let me = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let (tx, rx) = unbounded_channel();
    signals.forward_to(tx);
    let rx = Arc::new(Mutex::new(rx));
    let (db1, me1) = (db.clone(), me.clone());
    supervise("wake-ups: tell", move || tell(db1.clone(), me1.clone(), rx.clone()));
    let (db2, signals) = (db.clone(), signals.clone());
    supervise("wake-ups: hear", move || hear(db2.clone(), me.clone(), signals.clone()));
}

/// Sends what this process signals, a burst at a time (each kind once per burst).
async fn tell(db: DatabaseConnection, me: String, rx: Arc<Mutex<UnboundedReceiver<Wake>>>) {
    let mut rx = rx.lock().await;
    while let Some(first) = rx.recv().await {
        let mut burst = BTreeSet::from([first]);
        while let Ok(more) = rx.try_recv() {
            burst.insert(more);
        }
        for wake in burst {
            let payload = format!("{}:{me}", wake.as_str());
            let sql = Statement::from_sql_and_values(DbBackend::Postgres, "SELECT pg_notify($1, $2)", [CHANNEL.into(), payload.into()]);
            // Never held up for long by a connection that hangs: the polls are the fallback.
            match tokio::time::timeout(Duration::from_secs(5), db.execute_raw(sql)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "a wake-up was not sent; the other replicas' polls find the work"),
                Err(_) => tracing::debug!("a wake-up took over 5 s to send; given up (the other replicas' polls find the work)"),
            }
        }
    }
}

/// Wakes the loops here for what the other replicas signal (its own notifications are skipped).
async fn hear(db: DatabaseConnection, me: String, signals: Signals) {
    let mut listener = match PgListener::connect_with(db.get_postgres_connection_pool()).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for other replicas' wake-ups; trying again (polls go on meanwhile)");
            tokio::time::sleep(Duration::from_secs(5)).await;
            return;
        }
    };
    if let Err(e) = listener.listen(CHANNEL).await {
        tracing::warn!(error = %e, "cannot listen for other replicas' wake-ups; trying again (polls go on meanwhile)");
        tokio::time::sleep(Duration::from_secs(5)).await;
        return;
    }
    loop {
        match listener.recv().await {
            Ok(n) => {
                if let Some((what, from)) = n.payload().split_once(':')
                    && from != me
                    && let Some(wake) = Wake::parse(what)
                {
                    signals.wake_here(wake);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "lost the wake-ups' connection; listening again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
        }
    }
}

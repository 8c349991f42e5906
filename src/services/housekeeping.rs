//! Housekeeping: what would otherwise grow for ever. Audit entries older than
//! `audit.retention_days`, login-throttle rows whose window ended, and notifications settled
//! more than `notify.keep_days` ago (delivered or skipped messages, read notifications) are
//! removed hourly (and at start). Every replica may run it: the deletes are idempotent.
use std::time::Duration;

use super::Context;
use crate::auth::throttle;
use crate::store::audit;

pub async fn run(ctx: Context, retention_days: u32, lockout_minutes: u32, keep_days: u32) {
    loop {
        match crate::store::outbox::prune(&ctx.db, keep_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, keep_days, "settled notifications removed"),
            Err(e) => tracing::warn!(error = %e, "could not prune the outbox"),
        }
        if retention_days > 0 {
            match audit::prune(&ctx.db, retention_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, retention_days, "old audit entries removed"),
                Err(e) => tracing::warn!(error = %e, "could not prune the audit log"),
            }
        }
        if let Err(e) = throttle::prune(&ctx.db, chrono::Duration::minutes(i64::from(lockout_minutes))).await {
            tracing::warn!(error = %e, "could not prune the login throttle");
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

//! Destroying a deployment: everything labelled with it is removed from its host, found by
//! label rather than by what the database remembers; networks are removed by id, and so is a
//! network it claimed from the pool (which carries no deployment label: the database says it
//! is the deployment's, in the transaction that claimed it).
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Engine;
use super::job::{Ctx, StepError, fail};
use crate::docker::labels;
use crate::domain::states::DeploymentEvent;
use crate::domain::states::{HostKind, ResourceKind};
use crate::failpoint;
use crate::store::entities::{deployment, host, resource};

impl Engine {
    pub(super) async fn destroy(&self, ctx: &Ctx) -> Result<(), StepError> {
        ctx.progress("removing containers, network and volumes").await;
        failpoint!("destroy.start", StepError::from);
        self.remove_everything(ctx).await?;
        failpoint!("destroy.before_destroyed", StepError::from);
        // Destroyed, its history and the notification in one transaction.
        let id = &ctx.job.deployment_id;
        let txn = ctx.fenced().await?;
        match crate::store::deployments::advance(&txn, id, DeploymentEvent::Destroyed, None, None).await? {
            crate::store::deployments::Moved::To(_) => {
                crate::store::deployments::record_event(
                    &txn,
                    id,
                    crate::domain::states::DeploymentEventKind::Destroyed,
                    "everything it had on its host is removed",
                    None,
                )
                .await?;
                crate::store::outbox::deployment_destroyed(&txn, id, self.inner.settings.notify_managers).await?;
                txn.commit().await?;
                self.inner.signals.message_queued();
            }
            other => {
                txn.rollback().await.ok();
                tracing::warn!(deployment = %id, moved = ?other, "deployment left as it is");
            }
        }
        Ok(())
    }

    /// Removes every container, network and volume labelled with the deployment, and forgets
    /// them. Found by label on the host, not by what the database remembers.
    pub(super) async fn remove_everything(&self, ctx: &Ctx) -> Result<(), StepError> {
        let db = ctx.db();
        let dep_id = &ctx.job.deployment_id;
        let Some(d) = deployment::Entity::find_by_id(dep_id.clone()).one(db).await? else { return Ok(()) };
        if let Some(host_id) = d.host_id {
            let h = host::Entity::find_by_id(host_id).one(db).await?.ok_or_else(|| fail("the deployment's host was removed"))?;
            let conn = self.pool().get(&h).await.map_err(|e| fail(format!("host `{}`: {e}", h.name)))?;
            let selector = vec![format!("{}={dep_id}", labels::DEPLOYMENT)];
            let swarm = h.kind == HostKind::Swarm;
            if swarm {
                self.remove_services(ctx, conn.as_ref(), &selector).await?;
            }
            for c in ctx.docker("list containers", conn.list_containers(&selector)).await? {
                ctx.docker("remove container", conn.remove_container(&c.id)).await?;
            }
            failpoint!("destroy.containers_removed", StepError::from);
            for n in ctx.docker("list networks", conn.list_networks(&selector)).await? {
                // A Swarm network is released by its tasks a moment after they stop.
                let id = n.id.clone();
                until_released(ctx, swarm, "remove network", || conn.remove_network(&id)).await?;
            }
            let claimed = resource::Entity::find()
                .filter(resource::Column::DeploymentId.eq(dep_id))
                .filter(resource::Column::Kind.eq(ResourceKind::Network))
                .all(db)
                .await?;
            for n in claimed {
                ctx.docker("remove network", conn.remove_network(n.docker_id.as_deref().unwrap_or(&n.name))).await?;
            }
            failpoint!("destroy.networks_removed", StepError::from);
            for v in ctx.docker("list volumes", conn.list_volumes(&selector)).await? {
                let id = v.id.clone();
                until_released(ctx, swarm, "remove volume", || conn.remove_volume(&id)).await?;
            }
            failpoint!("destroy.volumes_removed", StepError::from);
        }
        let txn = ctx.fenced().await?;
        resource::Entity::delete_many().filter(resource::Column::DeploymentId.eq(dep_id)).exec(&txn).await?;
        super::netpool::forget_claimed(&txn, dep_id).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// A removal, tried again for a while on a swarm while the engine says the object is still in
/// use (its tasks' containers let go of it a moment after they are removed).
async fn until_released<F, Fut>(ctx: &Ctx, swarm: bool, what: &str, call: F) -> Result<(), StepError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::docker::DockerError>>,
{
    let mut tries = if swarm { 40 } else { 1 };
    loop {
        tries -= 1;
        match ctx.docker_answer(what, call()).await? {
            Ok(()) => return Ok(()),
            Err(e) if tries > 0 && in_use(&e) => {
                ctx.still_ours()?;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn in_use(e: &crate::docker::DockerError) -> bool {
    let m = e.to_string().to_ascii_lowercase();
    m.contains("in use") || m.contains("active endpoints")
}

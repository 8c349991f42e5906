//! Destroying a deployment: everything labelled with it is removed from its host, found by
//! label rather than by what the database remembers.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Engine;
use crate::docker::labels;
use crate::domain::states::DeploymentEvent;
use crate::store::entities::{deployment, host, resource};

use super::job::{Ctx, StepError, advance, fail};

impl Engine {
    pub(super) async fn destroy(&self, ctx: &Ctx<'_>) -> Result<(), StepError> {
        ctx.progress("removing containers, network and volumes").await;
        self.remove_everything(ctx).await?;
        advance(ctx.db(), &ctx.job.deployment_id, DeploymentEvent::Destroyed, None, None).await?;
        Ok(())
    }

    /// Removes every container, network and volume labelled with the deployment, and forgets
    /// them. Found by label on the host, not by what the database remembers.
    pub(super) async fn remove_everything(&self, ctx: &Ctx<'_>) -> Result<(), StepError> {
        let db = ctx.db();
        let dep_id = &ctx.job.deployment_id;
        let Some(d) = deployment::Entity::find_by_id(dep_id.clone()).one(db).await? else { return Ok(()) };
        let Some(host_id) = d.host_id else {
            resource::Entity::delete_many().filter(resource::Column::DeploymentId.eq(dep_id)).exec(db).await?;
            return Ok(());
        };
        let h = host::Entity::find_by_id(host_id).one(db).await?.ok_or_else(|| fail("the deployment's host was removed"))?;
        let conn = self.pool().get(&h).await.map_err(|e| fail(format!("host `{}`: {e}", h.name)))?;
        let selector = vec![format!("{}={dep_id}", labels::DEPLOYMENT)];
        for c in conn.list_containers(&selector).await? {
            conn.remove_container(&c.id).await?;
        }
        for n in conn.list_networks(&selector).await? {
            conn.remove_network(&n).await?;
        }
        for v in conn.list_volumes(&selector).await? {
            conn.remove_volume(&v).await?;
        }
        resource::Entity::delete_many().filter(resource::Column::DeploymentId.eq(dep_id)).exec(db).await?;
        Ok(())
    }
}

//! Carries out a plan, change by change, in order (a scope exists before the
//! clients pre-authorised on it). A failure stops the run and says which
//! changes were already made: the next run picks up from what is there.

use super::arm::ArmClient;
use super::graph::GraphClient;
use super::plan::{Change, Desired};
use super::{desired, SetupError};
use crate::config::Secret;

pub struct Services<'a> {
    pub graph: &'a GraphClient,
    pub arm: &'a ArmClient,
    /// The application object's id (not its app id).
    pub object_id: &'a str,
    pub client_secret: &'a Secret,
}

pub async fn apply(desired: &Desired, changes: &[Change], services: &Services<'_>) -> Result<(), SetupError> {
    for (done, change) in changes.iter().enumerate() {
        let result = match change {
            Change::Application { patch, .. } => services.graph.patch_application(services.object_id, patch).await,
            Change::ServicePrincipal => services.graph.create_service_principal(&desired.app_id).await,
            Change::Connection { .. } => {
                let properties = desired::connection_properties(&desired.app_id, &desired.tenant_id);
                services.arm.put_connection(&properties, services.client_secret).await
            }
        };
        if let Err(error) = result {
            return Err(SetupError::Partly {
                done: changes[..done].iter().map(ToString::to_string).collect(),
                failed: change.to_string(),
                error: Box::new(error),
            });
        }
    }
    Ok(())
}

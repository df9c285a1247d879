//! The Unity Catalog metastore of a new spoke's region, the first step of
//! each region's bootstrap: everything after it lives in that metastore.
//!
//! With a metastore id configured for the region (`[deploy.primary]
//! metastore_id`), it is assigned to the workspace. Without one, the
//! workspace is asked which it has (Azure assigns a region's metastore to
//! new workspaces automatically where one exists); a workspace with none
//! gets the region's metastore through the account API: found by region
//! (one per region) or created as `drbot-{region}`, then assigned. Creating
//! and assigning metastores is for Databricks account admins only (REST
//! reference, account Metastores; sandbox/FIDELITY.md): without one, or
//! without `[deploy] databricks_account_id`, the step says what an account
//! admin must do, the region's other steps wait for it (they all need the
//! metastore), and `status PAIR` shows the missing metastore as a blocker.

use super::events::{BootstrapStep, StepOutcome};
use super::plan::Role;
use super::DeployError;
use crate::databricks::account::AccountClient;
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// The region's metastore steps, and whether the workspace has one now.
pub(super) struct Metastore {
    pub steps: Vec<BootstrapStep>,
    pub assigned: bool,
}

/// What one region's metastore step needs to know.
pub(super) struct Region<'a> {
    pub role: Role,
    pub workspace_id: u64,
    pub location: &'a str,
    pub default_catalog: &'a str,
    pub configured: Option<&'a str>,
}

const STEP: &str = "metastore assignment";

pub(super) async fn ensure(
    client: &WorkspaceClient,
    account: Option<&AccountClient>,
    token: &AccessToken,
    region: &Region<'_>,
) -> Result<Metastore, DeployError> {
    let failed = |step: &str, source| DeployError::Databricks { role: region.role, step: step.into(), source };
    let step = |outcome| BootstrapStep::new(region.role, STEP.into(), outcome);
    if let Some(metastore_id) = region.configured {
        client
            .assign_metastore(token, region.workspace_id, metastore_id, region.default_catalog)
            .await
            .map_err(|e| failed(STEP, e))?;
        return Ok(Metastore { steps: vec![step(StepOutcome::Created)], assigned: true });
    }
    match client.current_metastore_id(token).await {
        Ok(_) => return Ok(Metastore { steps: vec![step(StepOutcome::AlreadyExisted)], assigned: true }),
        Err(DatabricksError::NotFound(_)) => {}
        Err(error) => return Err(failed(STEP, error)),
    }
    let by_hand = format!(
        "create a Unity Catalog metastore in {} and assign it to workspace {}",
        region.location, region.workspace_id
    );
    let needs = |detail: String| {
        let mut step =
            BootstrapStep::new(region.role, format!("metastore of {}", region.location), StepOutcome::NeedsAction);
        step.detail = Some(detail);
        Ok(Metastore { steps: vec![step], assigned: false })
    };
    let not_admin = || {
        needs(format!(
            "the workspace has no metastore and the identity that deployed is not a Databricks account admin; an \
             account admin must {by_hand} (or deploy again as one); the rest of this region waits for it"
        ))
    };
    let Some(account) = account else {
        return needs(format!(
            "the workspace has no metastore and [deploy] has no databricks_account_id; an account admin must \
             {by_hand} (or set databricks_account_id and deploy again as one); the rest of this region waits for it"
        ));
    };
    let existing = match account.metastores(token).await {
        Err(DatabricksError::PermissionDenied(_)) => return not_admin(),
        answer => answer.map_err(|e| failed(STEP, e))?,
    };
    let mut steps = Vec::new();
    let found = existing.into_iter().find(|m| m.region.eq_ignore_ascii_case(region.location));
    let metastore = match found {
        Some(metastore) => metastore,
        None => {
            let name = format!("drbot-{}", region.location);
            let created = match account.create_metastore(token, &name, region.location).await {
                Err(DatabricksError::PermissionDenied(_)) => return not_admin(),
                answer => answer.map_err(|e| failed(&format!("metastore {name}"), e))?,
            };
            steps.push(BootstrapStep::new(region.role, format!("metastore {name}"), StepOutcome::Created));
            created
        }
    };
    match account.assign_metastore(token, region.workspace_id, &metastore.metastore_id, region.default_catalog).await {
        Err(DatabricksError::PermissionDenied(_)) => return not_admin(),
        answer => answer.map_err(|e| failed(STEP, e))?,
    }
    steps.push(step(StepOutcome::Created));
    Ok(Metastore { steps, assigned: true })
}

//! What a new spoke's bootstrap gives the replication engine besides storage:
//! who administers the spoke's catalog, what the owner of the DR shares must
//! hold, and the SQL warehouse the engine runs its statements on.
//!
//! Who administers what (the decision, documented in README and
//! `bootstrap`'s header): the bot's service principal and the DR group (the
//! configured operators' group, `[replication] dr_group`, which also holds
//! the bot's service principal) get ALL PRIVILEGES on the spoke's catalog in
//! both regions: every privilege replication's statements use there, without
//! making either the catalog's owner (ownership stays with whoever deployed,
//! so nobody is locked out of their own catalog by a bootstrap). The DR group
//! owns the DR shares (replication hands each new share to it), and a share's
//! owner must hold SELECT on everything it shares (REST reference, Shares ›
//! Update; sandbox/FIDELITY.md), so on the primary the group is also granted
//! USE CATALOG, USE SCHEMA and SELECT on the spoke's catalog, explicitly:
//! what sharing needs stays even if ALL PRIVILEGES is narrowed later.
//!
//! The warehouse: `drbot-{spoke}` in the secondary, found by name first (a
//! second bootstrap finds the first one's), else created serverless (PRO,
//! one cluster, stopping after 10 idle minutes); where the region offers no
//! serverless SQL the create is refused, and a classic PRO warehouse is made
//! instead. Its creator owns it; the bot's service principal (scheduled
//! runs) and the DR group (the operators' runs) are granted CAN_USE on it
//! (Permissions API). Creating one needs the cluster-creation entitlement: without it
//! the step says who must create it, and the pair has no warehouse (a
//! readiness blocker) until someone adds one.

use super::events::{BootstrapStep, StepOutcome};
use super::plan::Role;
use crate::databricks::unity_catalog::{grants_map, PermissionChange, Securable};
use crate::databricks::warehouses::{Grantee, NewWarehouse};
use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// The privileges the owner of a share needs on what it shares (API names).
pub const SHARE_OWNER_PRIVILEGES: [&str; 3] = ["USE_CATALOG", "USE_SCHEMA", "SELECT"];

/// The warehouse the bootstrap gives a spoke's engine.
pub fn warehouse_name(spoke: &str) -> String {
    format!("drbot-{spoke}")
}

/// Grants `privileges` (API names: `USE_CATALOG`) on a securable to
/// `principal`, unless it holds them all already (then the step is done).
pub(super) async fn grant_once(
    client: &WorkspaceClient,
    token: &AccessToken,
    kind: Securable,
    name: &str,
    privileges: &[&str],
    principal: &str,
) -> Result<StepOutcome, DatabricksError> {
    let held = grants_map(&client.get_permissions(token, kind, name).await?);
    let missing: Vec<String> = privileges
        .iter()
        .filter(|p| !held.get(principal).is_some_and(|h| h.contains(**p) || h.contains(&p.replace('_', " "))))
        .map(|p| p.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(StepOutcome::AlreadyExisted);
    }
    let change = PermissionChange { principal: principal.to_string(), add: missing, remove: Vec::new() };
    client.update_permissions(token, kind, name, &[change]).await?;
    Ok(StepOutcome::Created)
}

/// The catalog's administrators (see the module's doc), one step each.
pub(super) async fn catalog_admins(
    client: &WorkspaceClient,
    token: &AccessToken,
    role: Role,
    catalog: &str,
    replicator: Option<&str>,
    dr_group: Option<&str>,
) -> Result<Vec<BootstrapStep>, (String, DatabricksError)> {
    let mut steps = Vec::new();
    for principal in [replicator, dr_group].into_iter().flatten() {
        let step = format!("ALL PRIVILEGES on catalog {catalog} to {principal}");
        let outcome = grant_once(client, token, Securable::Catalog, catalog, &["ALL_PRIVILEGES"], principal)
            .await
            .map_err(|e| (step.clone(), e))?;
        steps.push(BootstrapStep::new(role, step, outcome));
    }
    match (role, dr_group) {
        (Role::Primary, Some(group)) => {
            let step =
                format!("USE CATALOG, USE SCHEMA, SELECT on catalog {catalog} to {group} (the DR shares' owner)");
            let outcome = grant_once(client, token, Securable::Catalog, catalog, &SHARE_OWNER_PRIVILEGES, group)
                .await
                .map_err(|e| (step.clone(), e))?;
            steps.push(BootstrapStep::new(role, step, outcome));
        }
        (Role::Primary, None) => {
            let mut step = BootstrapStep::new(role, "the DR shares' owner".into(), StepOutcome::Skipped);
            step.detail = Some(
                "no [replication] dr_group: each share stays with whoever creates it, and nobody else can extend it; \
                 set it to the Databricks group of the operators and the bot's service principal"
                    .into(),
            );
            steps.push(step);
        }
        (Role::Secondary, _) => {}
    }
    Ok(steps)
}

/// The engine's warehouse in the secondary and CAN_USE on it for the bot's
/// service principal (scheduled runs) and the DR group (the operators'
/// runs): the steps, and its id (`None` when it could not be made with the
/// identity at hand).
pub(super) async fn warehouse(
    client: &WorkspaceClient,
    token: &AccessToken,
    spoke: &str,
    replicator: Option<&str>,
    dr_group: Option<&str>,
) -> Result<(Vec<BootstrapStep>, Option<String>), (String, DatabricksError)> {
    let (made, id) = find_or_make(client, token, spoke).await?;
    let mut steps = vec![made];
    let Some(id) = id else { return Ok((steps, None)) };
    let name = warehouse_name(spoke);
    let grantees = [replicator.map(Grantee::ServicePrincipal), dr_group.map(Grantee::Group)];
    for grantee in grantees.into_iter().flatten() {
        let who = match grantee {
            Grantee::Group(name) | Grantee::ServicePrincipal(name) => name,
        };
        let step = format!("CAN_USE on SQL warehouse {name} to {who}");
        let failed = |e| (step.clone(), e);
        let outcome = match client.may_use_warehouse(token, &id, grantee).await {
            Ok(true) => StepOutcome::AlreadyExisted,
            Ok(false) => match client.grant_warehouse_use(token, &id, grantee).await {
                Ok(()) => StepOutcome::Created,
                Err(DatabricksError::PermissionDenied(_)) => StepOutcome::NeedsAction,
                Err(error) => return Err(failed(error)),
            },
            Err(DatabricksError::PermissionDenied(_)) => StepOutcome::NeedsAction,
            Err(error) => return Err(failed(error)),
        };
        let mut done = BootstrapStep::new(Role::Secondary, step, outcome);
        if outcome == StepOutcome::NeedsAction {
            done.detail = Some(format!(
                "the identity that deployed may not change the warehouse's permissions; a workspace admin of the \
                 secondary must grant {who} CAN_USE on {name}"
            ));
        }
        steps.push(done);
    }
    Ok((steps, Some(id)))
}

/// The warehouse found by name, or made.
async fn find_or_make(
    client: &WorkspaceClient,
    token: &AccessToken,
    spoke: &str,
) -> Result<(BootstrapStep, Option<String>), (String, DatabricksError)> {
    let name = warehouse_name(spoke);
    let step = format!("SQL warehouse {name}");
    let failed = |e| (step.clone(), e);
    let existing = client.warehouses(token).await.map_err(failed)?;
    if let Some(found) = existing.into_iter().find(|w| w.name == name) {
        return Ok((BootstrapStep::new(Role::Secondary, step, StepOutcome::AlreadyExisted), Some(found.id)));
    }
    let mut new = NewWarehouse { name: name.clone(), cluster_size: "Small".into(), serverless: true };
    let mut detail = None;
    let created = match client.create_warehouse(token, &new).await {
        Err(DatabricksError::InvalidParameter(message)) if message.to_ascii_lowercase().contains("serverless") => {
            new.serverless = false;
            detail = Some(format!("classic (PRO): the region offers no serverless SQL ({message})"));
            client.create_warehouse(token, &new).await
        }
        answer => answer,
    };
    match created {
        Ok(id) => {
            let mut done = BootstrapStep::new(Role::Secondary, step, StepOutcome::Created);
            done.detail = detail;
            Ok((done, Some(id)))
        }
        Err(DatabricksError::PermissionDenied(_)) => {
            let mut needs = BootstrapStep::new(Role::Secondary, step, StepOutcome::NeedsAction);
            needs.detail = Some(format!(
                "the identity that deployed may not create SQL warehouses; a workspace admin of the secondary must \
                 create {name} (serverless, or PRO where the region has no serverless) and set it on the pair \
                 (`pair add` with warehouse=ID), or deploy again as one"
            ));
            Ok((needs, None))
        }
        Err(error) => Err(failed(error)),
    }
}

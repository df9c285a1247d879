//! The Databricks side of a new spoke, once ARM deployed both workspaces,
//! so that the pair replicates the moment the bootstrap ends: per region,
//! the metastore (assigned, or the region's found or created through the
//! account API: [`super::metastore`]), a storage credential from the access
//! connector, external locations for every container replication writes to
//! (the catalog, the external Delta tables, the external files, the
//! volumes), and the spoke's catalog with its administrators (the bot's
//! service principal and the DR group: [`super::engine_setup`]); on the
//! secondary also a read-only location on the primary's external Delta
//! container (clones read it by path, on the secondary's metastore) and, to
//! the identity that replicates, the privileges its statements need there
//! (READ FILES, CREATE EXTERNAL TABLE, CREATE EXTERNAL VOLUME:
//! sandbox/FIDELITY.md); on the primary, the Delta Sharing recipient for the
//! secondary's metastore under the pair's derived name; in the secondary,
//! the engine's SQL warehouse, whose id the registered pair records; and per
//! region, in the Databricks account, the network connectivity configuration
//! (NCC) that gives serverless compute private endpoints to the spoke's
//! storage accounts ([`serverless_network`]).
//!
//! Every step is idempotent (an object that already exists counts as done),
//! so a bootstrap interrupted by a restart simply runs again. The calls go
//! through the shared workspace client ([`WorkspaceClient`]): its typed
//! errors, and its retries on 429 and 5xx, which are safe here because a
//! create that went through the first time answers an `…_ALREADY_EXISTS` code.
//! What the identity at hand may not do (a metastore or an NCC needs an
//! account admin, a warehouse the cluster-creation entitlement) is a
//! [`StepOutcome::NeedsAction`] step naming who must do what; the rest goes
//! on where it can (a region without a metastore waits whole), and
//! `status PAIR` shows what is still missing as a readiness blocker.
//!
//! Who owns the Delta Sharing objects (issue #27 item 1). The recipient is
//! owned by whoever runs the bootstrap. The shares (`{pair}_{catalog}`) are
//! created by the first replication plan and handed at once to the DR group
//! (`[replication] dr_group`: the operators and the bot's service principal;
//! Databricks recommends a group as a share's owner), because only a share's
//! owner, or a member of the owning group, adds or removes its objects (a
//! metastore admin who does not own it may only transfer it), and the owner
//! must keep SELECT on every shared table or the recipient can no longer read
//! it (REST reference, Shares › Update; sandbox/FIDELITY.md). So a share one
//! operator created can be extended by another or by the bot's scheduled
//! runs. The bootstrap gives the group USE CATALOG, USE SCHEMA and SELECT on
//! the spoke's catalog of the primary; readiness lists a share whose owner
//! lost SELECT as a blocker with the grant that fixes it, and the plan
//! refuses to touch a share its identity does not own, naming the fix
//! (src/replication/planner.rs).
//!
//! What the spoke template must output (ARM `outputs`), per region:
//! [`OUTPUT_WORKSPACE_URL`], [`OUTPUT_WORKSPACE_ID`],
//! [`OUTPUT_ACCESS_CONNECTOR_ID`], [`OUTPUT_UC_STORAGE_ACCOUNT`],
//! [`OUTPUT_EXTERNAL_STORAGE_ACCOUNT`] and [`OUTPUT_NCC_RULES`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::engine_setup::{self, grant_once};
use super::events::{BootstrapStep, DeployEvent, RegionState, StepOutcome};
use super::metastore;
use super::plan::{Role, SpokeName};
use super::{DeployConfig, DeployError, Tokens};
use crate::databricks::account::{AccountClient, PrivateEndpointRule};
use crate::databricks::unity_catalog::{CreateCatalog, CreateExternalLocation, CreateStorageCredential, Securable};
use crate::databricks::{DatabricksError, RetryPolicy, WorkspaceClient};
use crate::identity::DATABRICKS_SCOPE;
use crate::pairs::{Pair, PairWorkspace, SharingNames};
use crate::replication::storage::Need;

/// `adb-….azuredatabricks.net` (the workspace's `properties.workspaceUrl`).
pub const OUTPUT_WORKSPACE_URL: &str = "workspaceUrl";
/// The numeric workspace id (`properties.workspaceId`).
pub const OUTPUT_WORKSPACE_ID: &str = "workspaceId";
/// The resource id of the `Microsoft.Databricks/accessConnectors`.
pub const OUTPUT_ACCESS_CONNECTOR_ID: &str = "accessConnectorId";
/// The Unity Catalog storage account (managed catalog, external Delta tables).
pub const OUTPUT_UC_STORAGE_ACCOUNT: &str = "ucStorageAccountName";
/// The geo-redundant storage account (external files and volumes).
pub const OUTPUT_EXTERNAL_STORAGE_ACCOUNT: &str = "externalStorageAccountName";
/// The private endpoint rules serverless compute needs (`[{resourceId, groupId}]`).
pub const OUTPUT_NCC_RULES: &str = "nccPrivateEndpointRules";

/// Without the account name outputs, the accounts are read from these
/// (`abfss://catalog@{account}.dfs.core.windows.net/`), as infra/spoke.json gives them.
pub const OUTPUT_UC_STORAGE_ROOT: &str = "ucStorageRoot";
pub const OUTPUT_EXTERNAL_STORAGE_ROOT: &str = "externalStorageRoot";

/// Containers infra/spoke.json creates: `catalog` and `external-delta` in
/// the Unity Catalog account, `external` (and `volumes`) in the external one.
pub const CATALOG_CONTAINER: &str = "catalog";
pub const DELTA_CONTAINER: &str = "external-delta";
pub const FILES_CONTAINER: &str = "external";
pub const VOLUMES_CONTAINER: &str = "volumes";

#[derive(Clone, Debug, Default)]
pub struct BootstrapSettings {
    pub http: reqwest::Client,
    /// The Unity Catalog metastore of each region; a region without one
    /// keeps whatever metastore Azure assigned automatically.
    pub metastore_ids: BTreeMap<Role, String>,
    /// How hard each Databricks call is retried.
    pub retry: RetryPolicy,
    /// The Azure region of each role (where its NCC lives).
    pub locations: BTreeMap<Role, String>,
    /// The Databricks account API and the account's id, when configured.
    pub account: Option<(String, String)>,
    /// The principal that replicates (the bot's service principal, by
    /// application id): granted on the secondary's external locations what
    /// replication's statements need there. `None`: no grants are made.
    pub replicator: Option<String>,
    /// The DR group (`[replication] dr_group`): the operators and the bot's
    /// service principal; administers the spoke's catalog and owns the DR
    /// shares ([`super::engine_setup`]).
    pub dr_group: Option<String>,
}

impl BootstrapSettings {
    pub fn from_config(config: &DeployConfig, http: reqwest::Client) -> BootstrapSettings {
        let mut metastore_ids = BTreeMap::new();
        for (role, region) in [(Role::Primary, &config.primary), (Role::Secondary, &config.secondary)] {
            if let Some(id) = region.metastore_id.clone().filter(|id| !id.is_empty()) {
                metastore_ids.insert(role, id);
            }
        }
        let locations = BTreeMap::from([
            (Role::Primary, config.primary.location.clone()),
            (Role::Secondary, config.secondary.location.clone()),
        ]);
        let account = config
            .databricks_account_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .map(|id| (config.databricks_accounts_url.clone(), id.trim().to_string()));
        BootstrapSettings {
            http,
            metastore_ids,
            retry: RetryPolicy::default(),
            locations,
            account,
            replicator: None,
            dr_group: None,
        }
    }

    /// The bot's settings: `[deploy]`, the bot's service principal as the
    /// replicator, `[replication] dr_group` as the DR group.
    pub fn for_bot(config: &crate::config::Config, http: reqwest::Client) -> BootstrapSettings {
        let mut settings =
            BootstrapSettings::from_config(&config.deploy, http).with_replicator(config.bot.app_id.clone());
        settings.dr_group = config.replication.dr_group.clone().filter(|g| !g.trim().is_empty());
        settings
    }

    /// Grants the secondary's storage privileges to `principal` (see `replicator`).
    pub fn with_replicator(mut self, principal: impl Into<String>) -> BootstrapSettings {
        self.replicator = Some(principal.into()).filter(|p: &String| !p.trim().is_empty());
        self
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapReport {
    pub steps: Vec<BootstrapStep>,
    /// The engine's SQL warehouse in the secondary, when there is one.
    #[serde(default)]
    pub warehouse_id: Option<String>,
}

/// The workspace's URL from a deployment's outputs, with a scheme (ARM gives
/// the bare host).
pub fn workspace_url(outputs: &Map<String, Value>) -> Option<String> {
    let url = outputs.get(OUTPUT_WORKSPACE_URL)?.as_str()?.trim().trim_end_matches('/');
    if url.is_empty() {
        return None;
    }
    Some(if url.starts_with("https://") || url.starts_with("http://") {
        url.to_string()
    } else {
        format!("https://{url}")
    })
}

/// A Unity Catalog name from a spoke name: hyphens become underscores.
fn uc_name(spoke: &SpokeName) -> String {
    spoke.as_str().replace('-', "_")
}

/// What one region's bootstrap works from.
struct Workspace {
    role: Role,
    host: String,
    workspace_id: u64,
    access_connector_id: String,
    uc_account: String,
    external_account: String,
    /// The NCC's private endpoint rules (resource id, group id); `None`
    /// when the template does not output them.
    ncc_rules: Option<Vec<(String, String)>>,
}

fn workspace(region: &RegionState) -> Result<Workspace, DeployError> {
    let missing = |name: &str| DeployError::MissingOutput { role: region.role, name: name.into() };
    let text = |name: &str| -> Result<String, DeployError> {
        match region.outputs.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(missing(name)),
        }
    };
    let workspace_id = text(OUTPUT_WORKSPACE_ID)?
        .parse::<u64>()
        .map_err(|_| DeployError::Invalid(format!("the {} workspace id is not a number", region.role)))?;
    // The account's name, or the account of its root URL.
    let account = |name: &str, root: &str| -> Result<String, DeployError> {
        let account = match text(name) {
            Ok(account) => account,
            Err(_) => text(root)
                .ok()
                .and_then(|url| Some(url.strip_prefix("abfss://")?.split_once('@')?.1.split('.').next()?.to_string()))
                .ok_or_else(|| missing(name))?,
        };
        let valid =
            (3..=24).contains(&account.len()) && account.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid {
            return Err(DeployError::Invalid(format!(
                "the {} output {name} is not a storage account name",
                region.role
            )));
        }
        Ok(account)
    };
    let uc_account = account(OUTPUT_UC_STORAGE_ACCOUNT, OUTPUT_UC_STORAGE_ROOT)?;
    let external_account = account(OUTPUT_EXTERNAL_STORAGE_ACCOUNT, OUTPUT_EXTERNAL_STORAGE_ROOT)?;
    let ncc_rules = match region.outputs.get(OUTPUT_NCC_RULES) {
        None | Some(Value::Null) => None,
        Some(rules) => Some(ncc_rules(rules).ok_or_else(|| {
            DeployError::Invalid(format!(
                "the {} output {OUTPUT_NCC_RULES} is not a list of {{resourceId, groupId}}",
                region.role
            ))
        })?),
    };
    Ok(Workspace {
        ncc_rules,
        role: region.role,
        host: workspace_url(&region.outputs).ok_or_else(|| missing(OUTPUT_WORKSPACE_URL))?,
        workspace_id,
        access_connector_id: text(OUTPUT_ACCESS_CONNECTOR_ID)?,
        uc_account,
        external_account,
    })
}

/// `[{resourceId, groupId}]` as pairs; a storage account's `dfs` or `blob` only.
fn ncc_rules(rules: &Value) -> Option<Vec<(String, String)>> {
    rules
        .as_array()?
        .iter()
        .map(|rule| {
            let resource_id = rule.get("resourceId")?.as_str()?;
            let group_id = rule.get("groupId")?.as_str()?;
            let storage = resource_id.starts_with("/subscriptions/")
                && resource_id.to_ascii_lowercase().contains("/providers/microsoft.storage/storageaccounts/");
            (storage && matches!(group_id, "dfs" | "blob")).then(|| (resource_id.to_string(), group_id.to_string()))
        })
        .collect()
}

fn abfss(container: &str, account: &str, spoke: &SpokeName) -> String {
    format!("abfss://{container}@{account}.dfs.core.windows.net/{}", spoke.as_str())
}

/// Bootstraps both regions (primary first, the recipient last) and reports
/// each step as a [`DeployEvent::Bootstrap`].
pub async fn bootstrap(
    tokens: &impl Tokens,
    spoke: &SpokeName,
    regions: &[RegionState],
    settings: &BootstrapSettings,
    events: &mpsc::Sender<DeployEvent>,
) -> Result<BootstrapReport, DeployError> {
    let workspaces: Vec<Workspace> = regions.iter().map(workspace).collect::<Result<_, _>>()?;
    let token = tokens.token(DATABRICKS_SCOPE).await?;
    let mut report = BootstrapReport::default();
    let name = uc_name(spoke);
    let mut without_metastore = Vec::new();
    for ws in &workspaces {
        let client = settings.client(&ws.host);
        let location = settings.locations.get(&ws.role).cloned().unwrap_or_default();
        let region = metastore::Region {
            role: ws.role,
            workspace_id: ws.workspace_id,
            location: &location,
            default_catalog: &name,
            configured: settings.metastore_ids.get(&ws.role).map(String::as_str),
        };
        let account = settings
            .account
            .as_ref()
            .map(|(url, id)| AccountClient::new(settings.http.clone(), url, id).with_retry(settings.retry.clone()));
        let found = metastore::ensure(&client, account.as_ref(), &token, &region).await?;
        for step in found.steps {
            report.steps.push(step.clone());
            let _ = events.send(DeployEvent::Bootstrap(step)).await;
        }
        if !found.assigned {
            // Everything else of this region lives in the metastore.
            without_metastore.push(ws.role);
            continue;
        }
        let failed = |step: &str| {
            let step = step.to_string();
            move |source| DeployError::Databricks { role: ws.role, step, source }
        };
        let mut done = |step: String, outcome: StepOutcome| {
            let step = BootstrapStep::new(ws.role, step, outcome);
            report.steps.push(step.clone());
            let events = events.clone();
            async move {
                let _ = events.send(DeployEvent::Bootstrap(step)).await;
            }
        };

        let credential = format!("{name}_connector");
        let request = CreateStorageCredential {
            name: credential.clone(),
            access_connector_id: ws.access_connector_id.clone(),
            comment: Some("drbot: the spoke's access connector".into()),
        };
        let step = format!("storage credential {credential}");
        let outcome = created(client.create_storage_credential(&token, &request).await).map_err(failed(&step))?;
        done(step, outcome).await;

        // Every container replication writes to, and on the secondary the
        // primary's external Delta container too: the clones read it by path
        // on the secondary's metastore, which needs a location there (read-only).
        let mut locations = vec![
            StorageUse::new(format!("{name}_catalog"), abfss(CATALOG_CONTAINER, &ws.uc_account, spoke), &[]),
            StorageUse::new(
                format!("{name}_delta"),
                abfss(DELTA_CONTAINER, &ws.uc_account, spoke),
                &[Need::CreateExternalTable],
            ),
            StorageUse::new(
                format!("{name}_files"),
                abfss(FILES_CONTAINER, &ws.external_account, spoke),
                // Registering a non-Delta table first lists its path (have
                // its files arrived?), which needs READ FILES.
                &[Need::ReadFiles, Need::CreateExternalTable],
            ),
            StorageUse::new(
                format!("{name}_volumes"),
                abfss(VOLUMES_CONTAINER, &ws.external_account, spoke),
                &[Need::CreateExternalVolume],
            ),
        ];
        if let (Role::Secondary, Some(primary)) = (ws.role, workspaces.iter().find(|w| w.role == Role::Primary)) {
            let mut source = StorageUse::new(
                format!("{name}_primary_delta"),
                abfss(DELTA_CONTAINER, &primary.uc_account, spoke),
                &[Need::ReadFiles],
            );
            source.read_only = true;
            locations.push(source);
        }
        for location in &locations {
            let request = CreateExternalLocation {
                name: location.name.clone(),
                url: location.url.clone(),
                credential_name: credential.clone(),
                read_only: location.read_only,
                comment: Some("drbot: the spoke's storage".into()),
            };
            let step = format!("external location {}", location.name);
            let outcome = created(client.create_external_location(&token, &request).await).map_err(failed(&step))?;
            done(step, outcome).await;
        }
        if let (Role::Secondary, Some(replicator)) = (ws.role, &settings.replicator) {
            for location in &locations {
                if location.needs.is_empty() {
                    continue;
                }
                let words: Vec<&str> = location.needs.iter().map(|n| n.sql()).collect();
                let step = format!("{} on external location {} to {replicator}", words.join(", "), location.name);
                let privileges: Vec<String> = words.iter().map(|w| w.replace(' ', "_")).collect();
                let privileges: Vec<&str> = privileges.iter().map(String::as_str).collect();
                let outcome =
                    grant_once(&client, &token, Securable::ExternalLocation, &location.name, &privileges, replicator)
                        .await
                        .map_err(failed(&step))?;
                done(step, outcome).await;
            }
        }

        let request = CreateCatalog {
            name: name.clone(),
            storage_root: Some(locations[0].url.clone()),
            comment: Some("drbot: the spoke's catalog".into()),
            ..CreateCatalog::default()
        };
        let step = format!("catalog {name}");
        let outcome = created(client.create_catalog(&token, &request).await).map_err(failed(&step))?;
        done(step, outcome).await;
        let admins = engine_setup::catalog_admins(
            &client,
            &token,
            ws.role,
            &name,
            settings.replicator.as_deref(),
            settings.dr_group.as_deref(),
        )
        .await
        .map_err(|(step, source)| DeployError::Databricks { role: ws.role, step, source })?;
        for step in admins {
            report.steps.push(step.clone());
            let _ = events.send(DeployEvent::Bootstrap(step)).await;
        }

        for step in serverless_network(settings, &token, ws).await? {
            report.steps.push(step.clone());
            let _ = events.send(DeployEvent::Bootstrap(step)).await;
        }
    }

    let primary = workspaces.iter().find(|w| w.role == Role::Primary);
    let secondary = workspaces.iter().find(|w| w.role == Role::Secondary);
    if !without_metastore.is_empty() {
        let recipient = SharingNames::of_pair(spoke.as_str()).recipient;
        let mut step =
            BootstrapStep::new(Role::Primary, format!("sharing recipient {recipient}"), StepOutcome::NeedsAction);
        step.detail = Some(
            "waits for the metastore an account admin must create (above); deploy the spoke again once it exists"
                .into(),
        );
        report.steps.push(step.clone());
        let _ = events.send(DeployEvent::Bootstrap(step)).await;
    } else if let (Some(primary), Some(secondary)) = (primary, secondary) {
        let summary = settings.client(&secondary.host).metastore_summary(&token).await.map_err(|source| {
            DeployError::Databricks { role: Role::Secondary, step: "metastore summary".into(), source }
        })?;
        if summary.global_metastore_id.is_empty() {
            return Err(DeployError::Invalid("the secondary's metastore summary has no global_metastore_id".into()));
        }
        let recipient = SharingNames::of_pair(spoke.as_str()).recipient;
        let step = format!("sharing recipient {recipient}");
        let answer = settings
            .client(&primary.host)
            .create_recipient(
                &token,
                &recipient,
                &summary.global_metastore_id,
                Some("drbot: the spoke's secondary region"),
            )
            .await;
        let outcome = created(answer).map_err(|source| DeployError::Databricks {
            role: Role::Primary,
            step: step.clone(),
            source,
        })?;
        let step = BootstrapStep::new(Role::Primary, step, outcome);
        report.steps.push(step.clone());
        let _ = events.send(DeployEvent::Bootstrap(step)).await;
    }
    if let Some(secondary) = secondary {
        let (steps, id) = engine_setup::warehouse(
            &settings.client(&secondary.host),
            &token,
            spoke.as_str(),
            settings.replicator.as_deref(),
            settings.dr_group.as_deref(),
        )
        .await
        .map_err(|(step, source)| DeployError::Databricks { role: Role::Secondary, step, source })?;
        report.warehouse_id = id;
        for step in steps {
            report.steps.push(step.clone());
            let _ = events.send(DeployEvent::Bootstrap(step)).await;
        }
    }
    Ok(report)
}

/// The DR pair a deployed spoke is: its two workspaces (URL, id, region,
/// metastore), its storage mapped container by container, and the sharing
/// names derived from the spoke's name (the recipient above is one of them).
/// Pure: read from the regions' outputs, so a deployment recorded after a
/// restart registers the same pair.
pub fn spoke_pair(
    spoke: &SpokeName,
    regions: &[RegionState],
    settings: &BootstrapSettings,
) -> Result<Pair, DeployError> {
    let workspaces: Vec<Workspace> = regions.iter().map(workspace).collect::<Result<_, _>>()?;
    let side = |role: Role| -> Result<(&Workspace, PairWorkspace), DeployError> {
        let ws = workspaces
            .iter()
            .find(|w| w.role == role)
            .ok_or_else(|| DeployError::Invalid(format!("the {role} region was not deployed")))?;
        let described = PairWorkspace {
            url: ws.host.clone(),
            workspace_id: Some(ws.workspace_id.to_string()),
            region: settings.locations.get(&role).cloned(),
            metastore_id: settings.metastore_ids.get(&role).cloned(),
        };
        Ok((ws, described))
    };
    let (primary, primary_side) = side(Role::Primary)?;
    let (secondary, secondary_side) = side(Role::Secondary)?;
    let mut pair = Pair::new(spoke.as_str(), primary_side, secondary_side);
    // The region's metastore is shared with other spokes: this pair
    // replicates the spoke's own catalog.
    pair.catalogs = vec![uc_name(spoke)];
    pair.location_mapping = [
        (CATALOG_CONTAINER, &primary.uc_account, &secondary.uc_account),
        (DELTA_CONTAINER, &primary.uc_account, &secondary.uc_account),
        (FILES_CONTAINER, &primary.external_account, &secondary.external_account),
        (VOLUMES_CONTAINER, &primary.external_account, &secondary.external_account),
    ]
    .into_iter()
    .map(|(container, from, to)| (abfss(container, from, spoke), abfss(container, to, spoke)))
    .collect();
    Ok(pair)
}

/// The region's NCC for serverless compute, in the Databricks account:
/// `drbot-{region}` (one per region, shared by the region's spokes, as an
/// NCC may serve every workspace of its region), found by name or created,
/// a private endpoint rule for each storage account and group the template
/// asks for (an existing, active rule counts as done), then bound to the
/// workspace. The account API is for account admins only: without one (or
/// without a configured account id) the steps that were not done come back
/// as [`StepOutcome::NeedsAction`], naming what is missing and who can do
/// it, and the rest of the bootstrap goes on.
async fn serverless_network(
    settings: &BootstrapSettings,
    token: &crate::identity::AccessToken,
    ws: &Workspace,
) -> Result<Vec<BootstrapStep>, DeployError> {
    let Some(rules) = &ws.ncc_rules else {
        return Ok(vec![]);
    };
    let location = settings.locations.get(&ws.role).cloned().unwrap_or_default();
    let name = format!("drbot-{location}");
    let by_hand = || {
        let targets: Vec<String> =
            rules.iter().map(|(id, group)| format!("{group} on {}", resource_name(id))).collect();
        format!(
            "create the network connectivity configuration {name} in {location}, add private endpoint rules for {}, bind it to workspace {}, and approve each rule's pending connection on its storage account",
            targets.join(", "),
            ws.workspace_id
        )
    };
    let not_done = |step: String, detail: String| {
        let mut step = BootstrapStep::new(ws.role, step, StepOutcome::NeedsAction);
        step.detail = Some(detail);
        vec![step]
    };
    let step = format!("serverless network connectivity configuration {name}");
    let Some((url, account_id)) = &settings.account else {
        let detail = format!(
            "no databricks_account_id in [deploy]; set it and deploy again as a Databricks account admin, or an account admin must {}",
            by_hand()
        );
        return Ok(not_done(step, detail));
    };
    let account = AccountClient::new(settings.http.clone(), url, account_id).with_retry(settings.retry.clone());
    let failed = |step: &str| {
        let step = step.to_string();
        move |source| DeployError::Databricks { role: ws.role, step, source }
    };
    let needs_admin = |step: String| {
        let detail = format!(
            "the identity that deployed is not a Databricks account admin; an account admin must {} (or deploy again as one)",
            by_hand()
        );
        Ok(not_done(step, detail))
    };

    let existing = match account.network_connectivity_configs(token).await {
        Err(DatabricksError::PermissionDenied(_)) => return needs_admin(step),
        answer => answer.map_err(failed(&step))?,
    };
    let mut steps = Vec::new();
    let found = existing.into_iter().find(|ncc| ncc.name == name && ncc.region.eq_ignore_ascii_case(&location));
    let ncc = match found {
        Some(ncc) => {
            steps.push(BootstrapStep::new(ws.role, step, StepOutcome::AlreadyExisted));
            ncc
        }
        None => match account.create_network_connectivity_config(token, &name, &location).await {
            Err(DatabricksError::PermissionDenied(_)) => return needs_admin(step),
            answer => {
                let ncc = answer.map_err(failed(&step))?;
                steps.push(BootstrapStep::new(ws.role, step, StepOutcome::Created));
                ncc
            }
        },
    };
    let id = ncc.network_connectivity_config_id;

    let step = format!("private endpoint rules of {name}");
    let present = account.private_endpoint_rules(token, &id).await.map_err(failed(&step))?;
    for (resource_id, group_id) in rules {
        let step = format!("private endpoint rule {group_id} on {}", resource_name(resource_id));
        let same = |rule: &PrivateEndpointRule| {
            !rule.deactivated && rule.group_id == *group_id && rule.resource_id.eq_ignore_ascii_case(resource_id)
        };
        let (rule, outcome) = match present.iter().find(|r| same(r)) {
            Some(rule) => (rule.clone(), StepOutcome::AlreadyExisted),
            None => {
                let rule = account
                    .create_private_endpoint_rule(token, &id, resource_id, group_id)
                    .await
                    .map_err(failed(&step))?;
                (rule, StepOutcome::Created)
            }
        };
        let mut done = BootstrapStep::new(ws.role, step, outcome);
        if rule.connection_state != "ESTABLISHED" {
            let state = if rule.connection_state.is_empty() { "PENDING" } else { rule.connection_state.as_str() };
            done.detail = Some(format!(
                "connection {state}: an owner of storage account {} must approve it (Networking, Private endpoint connections)",
                resource_name(resource_id)
            ));
        }
        steps.push(done);
    }

    let step = format!("{name} bound to workspace {}", ws.workspace_id);
    account.bind_network_connectivity_config(token, ws.workspace_id, &id).await.map_err(failed(&step))?;
    steps.push(BootstrapStep::new(ws.role, step, StepOutcome::Created));
    Ok(steps)
}

/// The last segment of a resource id (a storage account's name).
fn resource_name(resource_id: &str) -> &str {
    resource_id.rsplit('/').next().unwrap_or(resource_id)
}

impl BootstrapSettings {
    fn client(&self, host: &str) -> WorkspaceClient {
        WorkspaceClient::new(self.http.clone(), host).with_retry(self.retry.clone())
    }
}

/// An external location the bootstrap makes, and what replication needs of
/// it on the secondary (`None`: managed storage, used through the catalog).
struct StorageUse {
    name: String,
    url: String,
    read_only: bool,
    needs: Vec<Need>,
}

impl StorageUse {
    fn new(name: String, url: String, needs: &[Need]) -> StorageUse {
        StorageUse { name, url, read_only: false, needs: needs.to_vec() }
    }
}

/// A create's answer as a step outcome: an object that already exists is done.
fn created<T>(answer: Result<T, DatabricksError>) -> Result<StepOutcome, DatabricksError> {
    match answer {
        Ok(_) => Ok(StepOutcome::Created),
        // Whatever the status: Unity Catalog answers `CATALOG_ALREADY_EXISTS`,
        // `STORAGE_CREDENTIAL_ALREADY_EXISTS`, … (sandbox/FIDELITY.md).
        Err(DatabricksError::AlreadyExists(_)) => Ok(StepOutcome::AlreadyExisted),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::DeploymentRef;
    use crate::deploy::events::RegionPhase;
    use serde_json::json;

    fn region(outputs: Value) -> RegionState {
        RegionState {
            role: Role::Primary,
            deployment: DeploymentRef { subscription_id: "s".into(), resource_group: "g".into(), name: "n".into() },
            phase: RegionPhase::Succeeded,
            outputs: outputs.as_object().cloned().unwrap_or_default(),
            error: None,
        }
    }

    #[test]
    fn storage_accounts_from_the_roots_infra_spoke_outputs() {
        let spoke = region(json!({"workspaceUrl": "https://adb-1.2.azuredatabricks.net", "workspaceId": "1",
            "accessConnectorId": "/subscriptions/s/x",
            "ucStorageRoot": "abfss://catalog@stucsalesweu.dfs.core.windows.net/",
            "externalStorageRoot": "abfss://external@stextsalesweu.dfs.core.windows.net/"}));
        let ws = workspace(&spoke).unwrap();
        assert_eq!((ws.uc_account.as_str(), ws.external_account.as_str()), ("stucsalesweu", "stextsalesweu"));
        let mut bad = spoke.clone();
        bad.outputs.insert("ucStorageRoot".into(), json!("abfss://catalog@Evil/.dfs"));
        assert!(matches!(workspace(&bad), Err(DeployError::Invalid(_))));
        let mut none = spoke;
        none.outputs.remove("externalStorageRoot");
        assert!(
            matches!(workspace(&none), Err(DeployError::MissingOutput { name, .. }) if name == "externalStorageAccountName")
        );
    }

    #[test]
    fn ncc_rules_are_storage_accounts_with_dfs_or_blob() {
        let account = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/stucsales";
        let rules = json!([{"resourceId": account, "groupId": "dfs"}, {"resourceId": account, "groupId": "blob"}]);
        assert_eq!(
            ncc_rules(&rules),
            Some(vec![(account.to_string(), "dfs".to_string()), (account.to_string(), "blob".to_string())])
        );
        assert_eq!(ncc_rules(&json!([{"resourceId": account, "groupId": "sqlServer"}])), None);
        assert_eq!(ncc_rules(&json!([{"resourceId": "/subscriptions/s/x/y", "groupId": "dfs"}])), None);
        assert_eq!(ncc_rules(&json!({"resourceId": account})), None);
        assert_eq!(resource_name(account), "stucsales");
        let step = BootstrapStep {
            detail: Some("an account admin must ...".into()),
            ..BootstrapStep::new(Role::Secondary, "x".into(), StepOutcome::NeedsAction)
        };
        assert_eq!(step.to_string(), "secondary: x not done (an account admin must ...)");
    }

    #[test]
    fn what_the_bootstrap_reads_from_the_outputs() {
        let good = region(json!({"workspaceUrl": "adb-12.3.azuredatabricks.net/", "workspaceId": 12,
            "accessConnectorId": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/accessConnectors/c",
            "ucStorageAccountName": "stucsalesweu", "externalStorageAccountName": "stextsalesweu"}));
        let ws = workspace(&good).unwrap();
        assert_eq!((ws.host.as_str(), ws.workspace_id), ("https://adb-12.3.azuredatabricks.net", 12));
        assert_eq!(
            abfss(DELTA_CONTAINER, &ws.uc_account, &SpokeName::parse("sales").unwrap()),
            "abfss://external-delta@stucsalesweu.dfs.core.windows.net/sales"
        );
        let mut missing = good.clone();
        missing.outputs.remove("accessConnectorId");
        assert!(
            matches!(workspace(&missing), Err(DeployError::MissingOutput { name, .. }) if name == "accessConnectorId")
        );
        let mut odd = good.clone();
        odd.outputs.insert("workspaceId".into(), json!("12/../x"));
        assert!(workspace(&odd).is_err());
        let mut odd = good;
        odd.outputs.insert("ucStorageAccountName".into(), json!("x@evil.example/"));
        assert!(workspace(&odd).is_err());
        assert_eq!(workspace_url(&Map::new()), None);
        assert_eq!(uc_name(&SpokeName::parse("a-b").unwrap()), "a_b");
    }
}

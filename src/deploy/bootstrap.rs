//! The Databricks side of a new spoke, once ARM deployed both workspaces:
//! per region, the metastore assignment, a storage credential from the
//! access connector, external locations for the catalog, the external Delta
//! tables and the external files and volumes, and the spoke's catalog; on
//! the primary, the Delta Sharing recipient for the secondary's metastore.
//!
//! Every step is idempotent (an object that already exists counts as done),
//! so a bootstrap interrupted by a restart simply runs again. The calls go
//! through the shared workspace client ([`WorkspaceClient`]): its typed
//! errors, and its retries on 429 and 5xx, which are safe here because a
//! create that went through the first time answers an `…_ALREADY_EXISTS` code.
//!
//! What the spoke template must output (ARM `outputs`), per region:
//! [`OUTPUT_WORKSPACE_URL`], [`OUTPUT_WORKSPACE_ID`],
//! [`OUTPUT_ACCESS_CONNECTOR_ID`], [`OUTPUT_UC_STORAGE_ACCOUNT`] and
//! [`OUTPUT_EXTERNAL_STORAGE_ACCOUNT`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::plan::{Role, SpokeName};
use super::run::{DeployEvent, RegionState};
use super::{DeployConfig, DeployError, Tokens};
use crate::databricks::unity_catalog::{CreateCatalog, CreateExternalLocation, CreateStorageCredential};
use crate::databricks::{DatabricksError, RetryPolicy, WorkspaceClient};
use crate::identity::DATABRICKS_SCOPE;

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

/// Without the account name outputs, the accounts are read from these
/// (`abfss://catalog@{account}.dfs.core.windows.net/`), as infra/spoke.json gives them.
pub const OUTPUT_UC_STORAGE_ROOT: &str = "ucStorageRoot";
pub const OUTPUT_EXTERNAL_STORAGE_ROOT: &str = "externalStorageRoot";

/// Containers infra/spoke.json creates: `catalog` and `external-delta` in
/// the Unity Catalog account, `external` (and `volumes`) in the external one.
pub const CATALOG_CONTAINER: &str = "catalog";
pub const DELTA_CONTAINER: &str = "external-delta";
pub const FILES_CONTAINER: &str = "external";

#[derive(Clone, Debug, Default)]
pub struct BootstrapSettings {
    pub http: reqwest::Client,
    /// The Unity Catalog metastore of each region; a region without one
    /// keeps whatever metastore Azure assigned automatically.
    pub metastore_ids: BTreeMap<Role, String>,
    /// How hard each Databricks call is retried.
    pub retry: RetryPolicy,
}

impl BootstrapSettings {
    pub fn from_config(config: &DeployConfig, http: reqwest::Client) -> BootstrapSettings {
        let mut metastore_ids = BTreeMap::new();
        for (role, region) in [(Role::Primary, &config.primary), (Role::Secondary, &config.secondary)] {
            if let Some(id) = region.metastore_id.clone().filter(|id| !id.is_empty()) {
                metastore_ids.insert(role, id);
            }
        }
        BootstrapSettings { http, metastore_ids, retry: RetryPolicy::default() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Created,
    AlreadyExisted,
    /// Not needed here (no metastore configured for the region).
    Skipped,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapStep {
    pub role: Role,
    /// What was done, e.g. `external location sales_delta`.
    pub step: String,
    pub outcome: StepOutcome,
}

impl fmt::Display for BootstrapStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            StepOutcome::Created => "done",
            StepOutcome::AlreadyExisted => "already there",
            StepOutcome::Skipped => "skipped",
        };
        write!(f, "{}: {} {outcome}", self.role, self.step)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapReport {
    pub steps: Vec<BootstrapStep>,
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
    Ok(Workspace {
        role: region.role,
        host: workspace_url(&region.outputs).ok_or_else(|| missing(OUTPUT_WORKSPACE_URL))?,
        workspace_id,
        access_connector_id: text(OUTPUT_ACCESS_CONNECTOR_ID)?,
        uc_account,
        external_account,
    })
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
    for ws in &workspaces {
        let client = settings.client(&ws.host);
        let failed = |step: &str| {
            let step = step.to_string();
            move |source| DeployError::Databricks { role: ws.role, step, source }
        };
        let mut done = |step: String, outcome: StepOutcome| {
            let step = BootstrapStep { role: ws.role, step, outcome };
            report.steps.push(step.clone());
            let events = events.clone();
            async move {
                let _ = events.send(DeployEvent::Bootstrap(step)).await;
            }
        };

        let step = "metastore assignment".to_string();
        let outcome = match settings.metastore_ids.get(&ws.role) {
            Some(metastore_id) => {
                client.assign_metastore(&token, ws.workspace_id, metastore_id, &name).await.map_err(failed(&step))?;
                StepOutcome::Created
            }
            None => StepOutcome::Skipped,
        };
        done(step, outcome).await;

        let credential = format!("{name}_connector");
        let request = CreateStorageCredential {
            name: credential.clone(),
            access_connector_id: ws.access_connector_id.clone(),
            comment: Some("drbot: the spoke's access connector".into()),
        };
        let step = format!("storage credential {credential}");
        let outcome = created(client.create_storage_credential(&token, &request).await).map_err(failed(&step))?;
        done(step, outcome).await;

        let locations = [
            (format!("{name}_catalog"), abfss(CATALOG_CONTAINER, &ws.uc_account, spoke)),
            (format!("{name}_delta"), abfss(DELTA_CONTAINER, &ws.uc_account, spoke)),
            (format!("{name}_files"), abfss(FILES_CONTAINER, &ws.external_account, spoke)),
        ];
        for (location, url) in &locations {
            let request = CreateExternalLocation {
                name: location.clone(),
                url: url.clone(),
                credential_name: credential.clone(),
                comment: Some("drbot: the spoke's storage".into()),
            };
            let step = format!("external location {location}");
            let outcome = created(client.create_external_location(&token, &request).await).map_err(failed(&step))?;
            done(step, outcome).await;
        }

        let request = CreateCatalog {
            name: name.clone(),
            storage_root: Some(locations[0].1.clone()),
            comment: Some("drbot: the spoke's catalog".into()),
            ..CreateCatalog::default()
        };
        let step = format!("catalog {name}");
        let outcome = created(client.create_catalog(&token, &request).await).map_err(failed(&step))?;
        done(step, outcome).await;
    }

    let primary = workspaces.iter().find(|w| w.role == Role::Primary);
    let secondary = workspaces.iter().find(|w| w.role == Role::Secondary);
    if let (Some(primary), Some(secondary)) = (primary, secondary) {
        let summary = settings.client(&secondary.host).metastore_summary(&token).await.map_err(|source| {
            DeployError::Databricks { role: Role::Secondary, step: "metastore summary".into(), source }
        })?;
        if summary.global_metastore_id.is_empty() {
            return Err(DeployError::Invalid("the secondary's metastore summary has no global_metastore_id".into()));
        }
        let recipient = format!("{name}_secondary");
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
        let step = BootstrapStep { role: Role::Primary, step, outcome };
        report.steps.push(step.clone());
        let _ = events.send(DeployEvent::Bootstrap(step)).await;
    }
    Ok(report)
}

impl BootstrapSettings {
    fn client(&self, host: &str) -> WorkspaceClient {
        WorkspaceClient::new(self.http.clone(), host).with_retry(self.retry.clone())
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
    use crate::deploy::run::RegionPhase;
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

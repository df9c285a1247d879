//! Deploying the DR pair: the hub or a spoke, in the primary and the
//! secondary region, through Azure Resource Manager, then the Databricks side
//! over REST.
//!
//! - [`plan`]: what `deploy hub` / `deploy transit` / `deploy spoke NAME` mean (pure);
//! - [`whatif`]: What-If in both regions, summarised so deletes stand out;
//! - [`run`]: both deployments at once, followed resource by resource, with
//!   cancel and resume from a [`DeployState`] checkpoint;
//! - [`bootstrap`]: metastore assignment, catalog, storage credential,
//!   external locations and the sharing recipient, once ARM is done;
//! - [`events`]: what both report and checkpoint (its own file, so neither
//!   of `run` and `bootstrap` imports the other).
//!
//! Progress is a stream of [`DeployEvent`]s (the chat layer turns them into
//! cards, the CLI into lines); checkpoints are [`DeployState`] values the
//! caller stores, so a restarted bot finds the same deployments again.

pub mod bootstrap;
pub mod cli;
pub mod engine_setup;
pub mod events;
pub mod hub;
mod metastore;
pub mod plan;
pub mod run;
pub mod whatif;

use std::collections::HashMap;
use std::future::Future;

use crate::azure::ArmError;
use crate::databricks::DatabricksError;
use crate::identity::{AccessToken, IdentityError};

pub use bootstrap::BootstrapReport;
pub use events::{BootstrapStep, DeployEvent, DeployState, RegionPhase, RegionState, ResourceProgress, StepOutcome};
pub use plan::{load_templates, plan, Plan, RegionPlan, Role, SpokeName, Target, Templates};
pub use run::{cancel, run, DeployOutcome, RunOptions};
pub use whatif::{summarise, what_if, RegionWhatIf, WhatIfSummary};

/// `deploy hub` / `deploy transit` / `deploy spoke NAME` made ready for What-If: the template
/// and parameter files from `templates_dir`, the plan, and for a spoke the
/// parameters read from its hubs' deployments ([`hub::link_hub`]).
pub async fn prepare(
    client: &crate::azure::ArmClient,
    tokens: &impl Tokens,
    config: &DeployConfig,
    target: Target,
) -> Result<Plan, DeployError> {
    let templates = load_templates(&config.templates_dir, &target)?;
    let mut plan = plan(config, target, templates)?;
    check_paired_regions(client, tokens, config).await?;
    hub::link_hub(client, tokens, config, &config.templates_dir, &mut plan).await?;
    Ok(plan)
}

/// The secondary region must be the primary's Azure paired region: the pair's external data
/// lives on one geo-redundant account, whose replica (and, after an account failover, whose
/// only copy) is in the paired region. A pair Azure does not list is refused before anything
/// is deployed.
async fn check_paired_regions(
    client: &crate::azure::ArmClient,
    tokens: &impl Tokens,
    config: &DeployConfig,
) -> Result<(), DeployError> {
    let token = tokens.token(crate::identity::ARM_SCOPE).await?;
    let (primary, secondary) = (&config.primary.location, &config.secondary.location);
    let pairs = client.paired_regions(&token, &config.subscription_id, primary).await?;
    if pairs.iter().any(|p| p.eq_ignore_ascii_case(secondary)) {
        return Ok(());
    }
    let listed = if pairs.is_empty() { "none".to_string() } else { pairs.join(", ") };
    Err(DeployError::Invalid(format!(
        "the secondary region {secondary} is not the Azure paired region of the primary {primary} (paired: {listed}); geo-redundant storage replicates only to the paired region"
    )))
}

// `[deploy]` is configuration: its types live with the rest of it, so the
// configuration does not depend on the deployment code that reads it.
pub use crate::config::{DeployConfig, RegionConfig};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Arm(#[from] ArmError),
    #[error("Azure Resource Manager in the {role} region: {source}")]
    Region { role: Role, source: ArmError },
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Bad input from a person: a spoke name, a configuration value.
    #[error("{0}")]
    Invalid(String),
    #[error("template {path}: {problem}")]
    Template { path: String, problem: String },
    #[error("the {role} deployment has no output '{name}'")]
    MissingOutput { role: Role, name: String },
    #[error("Databricks in the {role} region, {step}: {source}")]
    Databricks { role: Role, step: String, source: DatabricksError },
}

impl DeployError {
    /// ARM's error, wherever it was wrapped: callers branch on
    /// `AuthorizationFailed` to tell a person they lack the role.
    pub fn arm(&self) -> Option<&ArmError> {
        match self {
            DeployError::Arm(error) | DeployError::Region { source: error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Where the deployment's tokens come from: the person's (on-behalf-of),
/// the bot's own identity, or a token handed in (the CLI). Asked before
/// each phase, so a long deployment does not outlive its token.
pub trait Tokens: Send + Sync {
    fn token(&self, scope: &str) -> impl Future<Output = Result<AccessToken, IdentityError>> + Send;
}

/// Fixed tokens per scope.
#[derive(Clone, Default)]
pub struct StaticTokens(HashMap<String, AccessToken>);

impl StaticTokens {
    pub fn new() -> StaticTokens {
        StaticTokens::default()
    }

    pub fn with(mut self, scope: &str, token: AccessToken) -> StaticTokens {
        self.0.insert(scope.to_string(), token);
        self
    }
}

impl Tokens for StaticTokens {
    async fn token(&self, scope: &str) -> Result<AccessToken, IdentityError> {
        self.0.get(scope).cloned().ok_or_else(|| IdentityError::Unavailable(format!("no token for {scope}")))
    }
}

/// A signed-in person's tokens, on-behalf-of: what a deployment asked for in
/// chat runs with, so Azure RBAC and Unity Catalog judge that person.
pub struct UserTokens {
    pub obo: std::sync::Arc<crate::identity::OnBehalfOf>,
    pub user: crate::identity::UserAssertion,
}

impl Tokens for UserTokens {
    async fn token(&self, scope: &str) -> Result<AccessToken, IdentityError> {
        self.obo.token(&self.user, scope, false).await
    }
}

impl Tokens for crate::identity::app::AppIdentity {
    async fn token(&self, scope: &str) -> Result<AccessToken, IdentityError> {
        crate::identity::app::AppIdentity::token(self, scope).await
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_deploy_section_as_documented() {
        let config: DeployConfig = toml::from_str(
            r#"
arm_url = "http://127.0.0.1:9"
subscription_id = "sub"
[primary]
location = "westeurope"
spoke_resource_group = "rg-{spoke}-weu"
metastore_id = "m1"
[secondary]
location = "northeurope"
"#,
        )
        .unwrap();
        assert_eq!(config.templates_dir, PathBuf::from("infra"));
        assert_eq!(config.primary.metastore_id.as_deref(), Some("m1"));
        assert_eq!(config.secondary.hub_resource_group, None);
        let defaults: DeployConfig = toml::from_str("").unwrap();
        assert_eq!(defaults.arm_url, "https://management.azure.com");
        assert_eq!(
            (defaults.primary.location.as_str(), defaults.secondary.location.as_str()),
            ("westeurope", "northeurope")
        );
        assert!(toml::from_str::<DeployConfig>("[primary]\nlocation = \"x\"\nregion = \"typo\"").is_err());
    }
}

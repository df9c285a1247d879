//! `drbot setup`: the Entra app registration and Azure Bot configuration
//! Teams SSO needs
//! (<https://learn.microsoft.com/microsoftteams/platform/bots/how-to/authentication/bot-sso-register-aad>),
//! made idempotent. It reads what Graph and ARM hold, plans only what
//! differs ([`plan`]), prints that list and, unless it is a dry run, applies
//! it ([`apply`]). A second run finds nothing to change.
//!
//! It runs as the operator (tokens for Graph and ARM they bring) or as the
//! bot's own identity; tokens and the client secret are never printed or
//! logged.

pub mod apply;
pub mod arm;
pub mod cli;
pub mod desired;
pub mod graph;
pub mod plan;

use std::fmt;

use crate::config::Secret;
use plan::{Change, Current, CurrentConnection, Desired};

/// The Graph and ARM audiences the tokens must be for (`…/.default` scopes).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// Environment variables `--token-from-env` reads (e.g. filled from
/// `az account get-access-token --resource https://graph.microsoft.com`).
pub const GRAPH_TOKEN_ENV: &str = "DRBOT_SETUP_GRAPH_TOKEN";
pub const ARM_TOKEN_ENV: &str = "DRBOT_SETUP_ARM_TOKEN";

pub struct SetupOptions {
    /// The bot's Entra app id.
    pub app_id: String,
    pub tenant_id: String,
    pub subscription_id: String,
    pub resource_group: String,
    /// The Azure Bot resource's name.
    pub bot_name: String,
    pub connection_name: String,
    /// The app registration's client secret, for the OAuth connection.
    pub client_secret: Secret,
    /// `https://graph.microsoft.com` (or the sandbox's).
    pub graph_url: String,
    /// `https://management.azure.com` (or the sandbox's).
    pub arm_url: String,
    pub graph_token: Secret,
    pub arm_token: Secret,
    pub dry_run: bool,
}

/// What a run found to change, and whether it changed it.
#[derive(Debug)]
pub struct Report {
    pub changes: Vec<Change>,
    pub dry_run: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "Teams SSO set-up is complete: nothing to change.");
        }
        let heading = if self.dry_run { "Would change (dry run, nothing changed):" } else { "Changed:" };
        writeln!(f, "{heading}")?;
        for change in &self.changes {
            writeln!(f, "  - {change}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Argument(String),
    #[error("cannot reach {service}: {error}")]
    Unreachable { service: &'static str, error: String },
    #[error("{service} refused {request}: {status} {code} {message}")]
    Service { service: &'static str, request: String, status: u16, code: String, message: String },
    #[error("{0}")]
    Unexpected(String),
    #[error("{failed}: {error}\n(already done: {})", if .done.is_empty() { "nothing".to_string() } else { .done.join("; ") })]
    Partly { done: Vec<String>, failed: String, error: Box<SetupError> },
}

fn guid(what: &str, text: &str) -> Result<String, SetupError> {
    crate::teams_app::parse_guid(what, text).map_err(|e| SetupError::Argument(e.to_string()))
}

/// Reads, plans and (unless `dry_run`) applies.
pub async fn run(options: &SetupOptions) -> Result<Report, SetupError> {
    let app_id = guid("the bot's app id", &options.app_id)?;
    let tenant_id = guid("the tenant id", &options.tenant_id)?;
    let subscription = guid("the subscription id", &options.subscription_id)?;
    for (what, value) in [
        ("resource group", &options.resource_group),
        ("bot name", &options.bot_name),
        ("connection name", &options.connection_name),
    ] {
        if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c)) {
            return Err(SetupError::Argument(format!("the {what} {value:?} is not a valid Azure name")));
        }
    }
    let http = crate::http_client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| SetupError::Unexpected(e.to_string()))?;
    let graph = graph::GraphClient::new(http.clone(), &options.graph_url, options.graph_token.clone());
    let arm = arm::ArmClient::new(
        http,
        &options.arm_url,
        options.arm_token.clone(),
        &subscription,
        &options.resource_group,
        &options.bot_name,
        &options.connection_name,
    );

    let application = graph.application(&app_id).await?;
    let Some(object_id) = application["id"].as_str().map(str::to_string) else {
        return Err(SetupError::Unexpected("the app registration has no object id".into()));
    };
    let has_service_principal = graph.has_service_principal(&app_id).await?;
    let connection = match arm.connection().await? {
        None => None,
        Some(properties) => {
            let secret_matches = arm.secret_matches(&options.client_secret).await?;
            Some(CurrentConnection { properties, secret_matches })
        }
    };
    let desired = Desired { app_id, tenant_id, connection_name: options.connection_name.clone() };
    let changes = plan::plan(&desired, &Current { application, has_service_principal, connection });
    if !options.dry_run {
        let services =
            apply::Services { graph: &graph, arm: &arm, object_id: &object_id, client_secret: &options.client_secret };
        apply::apply(&desired, &changes, &services).await?;
    }
    Ok(Report { changes, dry_run: options.dry_run })
}

//! `drbot setup`'s arguments and where its inputs come from: the bot's
//! configuration file (app id, tenant, client secret, SSO connection name,
//! the same file `drbot serve` reads) and tokens either from the
//! operator's own sign-in (`--device-code`), from the environment (the
//! operator's own, `--token-from-env`) or from the bot's identity.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;

use super::{run, SetupOptions, ARM_SCOPE, ARM_TOKEN_ENV, GRAPH_SCOPE, GRAPH_TOKEN_ENV};
use crate::config::{Config, Secret};
use crate::identity::app::AppIdentity;
use crate::identity::device_code::{DeviceCodeSignIn, AZURE_CLI_CLIENT_ID};

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// The bot's TOML configuration (MicrosoftAppId, MicrosoftAppTenantId, MicrosoftAppPassword, sso.connection_name).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The Azure subscription holding the Azure Bot resource.
    #[arg(long)]
    pub subscription: String,
    /// The resource group of the Azure Bot resource.
    #[arg(long)]
    pub resource_group: String,
    /// The Azure Bot resource's name.
    #[arg(long)]
    pub bot_name: String,
    /// Microsoft Graph's root URL.
    #[arg(long, default_value = "https://graph.microsoft.com")]
    pub graph_url: String,
    /// Azure Resource Manager's root URL.
    #[arg(long, default_value = "https://management.azure.com")]
    pub arm_url: String,
    /// Run as the operator: access tokens from DRBOT_SETUP_GRAPH_TOKEN and DRBOT_SETUP_ARM_TOKEN
    /// (e.g. `az account get-access-token --resource https://graph.microsoft.com --query accessToken -o tsv`).
    /// Without it, setup runs as the bot's own identity.
    #[arg(long, conflicts_with = "device_code")]
    pub token_from_env: bool,
    /// Run as the operator, signed in on a device code: setup prints a URL and a code, the operator
    /// signs in (in any browser, on any device) and setup goes on with their Graph and ARM tokens.
    #[arg(long)]
    pub device_code: bool,
    /// The public client `--device-code` signs in with (default: the Azure CLI's).
    #[arg(long, default_value = AZURE_CLI_CLIENT_ID, requires = "device_code")]
    pub client_id: String,
    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn main(args: SetupArgs) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(args.config.as_deref(), &env)?;
    let tenant_id = config
        .bot
        .tenant_id
        .clone()
        .context("setup needs MicrosoftAppTenantId (the tenant of the app registration)")?;
    let client_secret = config.bot.app_password.clone().context(
        "setup needs MicrosoftAppPassword: the Azure Bot's OAuth connection signs users in with the app's client secret",
    )?;
    let (graph_token, arm_token) = if args.token_from_env {
        let token = |name: &str| {
            env.get(name)
                .filter(|t| !t.trim().is_empty())
                .map(|t| Secret::new(t.trim()))
                .with_context(|| format!("--token-from-env: {name} is not set"))
        };
        (token(GRAPH_TOKEN_ENV)?, token(ARM_TOKEN_ENV)?)
    } else if args.device_code {
        let mut session = DeviceCodeSignIn::new(&config.endpoints.login_authority, &tenant_id, &args.client_id)?;
        let graph = session.sign_in(GRAPH_SCOPE, |prompt| eprintln!("{prompt}")).await?;
        let arm = session.token_for(ARM_SCOPE).await?;
        (Secret::new(graph.secret()), Secret::new(arm.secret()))
    } else {
        let identity = AppIdentity::from_config(&config)?;
        let graph = identity.token(GRAPH_SCOPE).await.context("a Graph token as the bot")?;
        let arm = identity.token(ARM_SCOPE).await.context("an ARM token as the bot")?;
        (Secret::new(graph.secret()), Secret::new(arm.secret()))
    };
    let report = run(&SetupOptions {
        app_id: config.bot.app_id.clone(),
        tenant_id,
        subscription_id: args.subscription,
        resource_group: args.resource_group,
        bot_name: args.bot_name,
        connection_name: config.sso.connection_name.clone(),
        client_secret,
        graph_url: args.graph_url,
        arm_url: args.arm_url,
        graph_token,
        arm_token,
        dry_run: args.dry_run,
    })
    .await?;
    print!("{report}");
    Ok(())
}

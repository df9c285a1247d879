//! drbot-sandbox: loopback stand-ins for the services drbot talks to.
//!
//! Entra ID, the Bot Framework (channel, connector, token service), two
//! Databricks workspaces, Azure Resource Manager and Microsoft Graph, each
//! faithful to the wire format of the real service and strict about what it
//! accepts. drbot's tests and the local demo run against it; drbot's
//! production code never depends on it.

// Stand-in handlers refuse a request by returning the finished HTTP response
// as their error; it is built once per refused request, so its size is moot.
#![allow(clippy::result_large_err)]

pub mod activity_feed;
pub mod arm;
pub mod arm_dns;
pub mod arm_locations;
pub mod arm_network;
pub mod arm_storage;
pub mod bot_service;
pub mod caller;
pub mod channel;
pub mod connector;
pub mod databricks;
pub mod directory;
pub mod entra;
pub mod faults;
pub mod graph;
pub mod http;
pub mod keys;
pub mod teams;
pub mod token_service;

use std::sync::Arc;

use channel::Channel;
use connector::Connector;
use databricks::Workspace;
use directory::Directory;
use entra::{AppRegistration, Entra};
use http::{Listener, Requests};
use teams::Teams;
use token_service::TokenService;

/// The sandbox tenant.
pub const SANDBOX_TENANT_ID: &str = "7e1d2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e";
/// The Azure subscription ARM serves.
pub const SANDBOX_SUBSCRIPTION_ID: &str = "5ab05c71-0000-4000-8000-00000000a2e0";
/// The bot's app registration in the sandbox tenant.
pub const SANDBOX_BOT_APP_ID: &str = "b0770000-0000-4000-8000-0000000000b0";
/// The bot's client secret in the sandbox tenant (a sandbox value, not a secret).
/// The Azure Bot resource of the sandbox's bot (resource group and name).
pub const SANDBOX_BOT_RESOURCE_GROUP: &str = "rg-drbot";
pub const SANDBOX_BOT_NAME: &str = "drbot";
pub const SANDBOX_BOT_SECRET: &str = "sandbox-bot-secret-not-for-production";

/// Ports (0 = ephemeral) and the bot to talk to.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub entra_port: u16,
    pub botframework_port: u16,
    /// The bot's `/api/messages`, where Teams traffic is posted.
    pub bot_endpoint: String,
    pub bot_app_id: String,
    pub bot_secret: String,
    pub tenant_id: String,
    /// The seed of the generated metastores, and how many tables the primary has.
    pub seed: u64,
    pub tables: usize,
    /// How many job definitions the primary has (the secondary has none).
    pub jobs: usize,
    /// Whether the workspaces hold workspace assets (notebooks, files, a git
    /// folder, policies, warehouses, secret scopes) for an asset sync; off by
    /// default so that tests of other things see the workspaces they expect.
    pub assets: bool,
    /// Notebooks in the primary's workspace tree when `assets`.
    pub notebooks: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            entra_port: 0,
            botframework_port: 0,
            bot_endpoint: "http://127.0.0.1:3978/api/messages".into(),
            bot_app_id: SANDBOX_BOT_APP_ID.into(),
            bot_secret: SANDBOX_BOT_SECRET.into(),
            tenant_id: SANDBOX_TENANT_ID.into(),
            seed: 7,
            tables: 60,
            jobs: 300,
            assets: false,
            notebooks: 24,
        }
    }
}

/// Every stand-in, running.
pub struct Sandbox {
    pub config: SandboxConfig,
    pub entra: Arc<Entra>,
    pub channel: Arc<Channel>,
    pub connector: Arc<Connector>,
    pub teams: Arc<Teams>,
    pub token_service: Arc<TokenService>,
    /// The primary (active) Databricks workspace.
    pub primary: Arc<Workspace>,
    /// The secondary (passive) Databricks workspace.
    pub secondary: Arc<Workspace>,
    /// Microsoft Graph.
    pub graph: Arc<graph::Graph>,
    /// Azure Resource Manager.
    pub arm: Arc<arm::Arm>,
    /// The Databricks account API (network connectivity configurations).
    pub accounts: Arc<databricks::account_api::AccountApi>,
    accounts_listener: Listener,
    /// What every stand-in was asked for (method, path and query).
    pub requests: Requests,
    arm_listener: Listener,
    entra_listener: Listener,
    graph_listener: Listener,
    primary_listener: Listener,
    secondary_listener: Listener,
    botframework_listener: Listener,
}

impl Sandbox {
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let directory = Directory::default();
        let requests = Requests::default();
        let entra = Entra::new(&config.tenant_id, directory.clone());
        entra.register_app(AppRegistration {
            client_id: config.bot_app_id.clone(),
            secret: config.bot_secret.clone(),
            name: "drbot".into(),
        });
        let entra_listener = Listener::serve(config.entra_port, requests.record(entra.router())).await?;
        entra.set_base_url(&entra_listener.base_url());

        let channel = Channel::new();
        let connector = Connector::new(entra.clone(), &config.bot_app_id);
        let teams = Teams::new(channel.clone(), directory, &config.tenant_id, &config.bot_app_id);
        teams.set_bot_endpoint(&config.bot_endpoint);
        let token_service = TokenService::new(entra.clone(), &config.bot_app_id);
        let router = channel.router().merge(connector.router()).merge(teams.router()).merge(token_service.router());
        let botframework_listener = Listener::serve(config.botframework_port, requests.record(router)).await?;
        channel.set_base_url(&botframework_listener.base_url());
        teams.set_service_url(&botframework_listener.base_url());
        token_service.set_base_url(&botframework_listener.base_url());

        let seed = databricks::seed::Seed {
            seed: config.seed,
            tables: config.tables,
            now_ms: chrono::Utc::now().timestamp_millis(),
        };
        let (primary_metastore, secondary_metastore) = databricks::seed::generate(&seed);
        let account = databricks::account::Account::new();
        let primary =
            Workspace::new("primary", primary_metastore, account.clone(), entra.verifier(), entra.directory.clone());
        let primary_listener = Listener::serve(0, requests.record(primary.router())).await?;
        let accounts = databricks::account_api::AccountApi::new(account.clone(), entra.verifier());
        let accounts_listener = Listener::serve(0, requests.record(accounts.router())).await?;
        let secondary =
            Workspace::new("secondary", secondary_metastore, account, entra.verifier(), entra.directory.clone());
        let secondary_listener = Listener::serve(0, requests.record(secondary.router())).await?;
        primary.job_definitions.seed(
            config.seed,
            config.jobs,
            databricks::job_definitions::SEED_JOB_OWNER,
            databricks::job_definitions::SEED_POLICY_ID,
            databricks::statements::PRIMARY_WAREHOUSE_ID,
        );
        // The platform team made drbot's own identity a metastore admin on both
        // sides: scheduled posts and the local demo act as the bot.
        for workspace in [&primary, &secondary] {
            workspace.add_service_principal_to_group(&config.bot_app_id, databricks::seed::ADMIN_GROUP);
        }
        if config.assets {
            primary.seed_assets(true, config.notebooks);
            secondary.seed_assets(false, config.notebooks);
        }

        let graph = graph::Graph::new(entra.verifier(), entra.directory.clone());
        let graph_listener = Listener::serve(0, requests.record(graph.router())).await?;
        graph.set_base_url(&graph_listener.base_url());
        graph.seed_application(&config.bot_app_id, "drbot");

        let arm = arm::Arm::new(entra.verifier(), SANDBOX_SUBSCRIPTION_ID);
        let arm_listener = Listener::serve(0, requests.record(arm.router())).await?;
        arm.set_base_url(&arm_listener.base_url());
        arm.seed_bot_service(SANDBOX_BOT_RESOURCE_GROUP, SANDBOX_BOT_NAME, &config.bot_app_id);

        Ok(Sandbox {
            config,
            requests,
            arm,
            arm_listener,
            accounts,
            accounts_listener,
            graph,
            graph_listener,
            entra,
            channel,
            connector,
            teams,
            token_service,
            primary,
            secondary,
            entra_listener,
            primary_listener,
            secondary_listener,
            botframework_listener,
        })
    }

    /// Every secret the sandbox handed out or knows, for tests that prove none
    /// of them leaks (into logs, cards, URLs): the bot's client secret, every
    /// JWT any issuer signed (channel tokens, the bot's own tokens, Teams SSO
    /// tokens, connection tokens, on-behalf-of tokens, federated tokens) and
    /// every magic code.
    pub fn issued_secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.config.bot_secret.clone(), entra::MANAGED_IDENTITY_HEADER_SECRET.to_string()];
        secrets.extend(self.entra.keys.issued());
        secrets.extend(self.entra.federation_keys.issued());
        secrets.extend(self.channel.keys.issued());
        secrets.extend(self.token_service.magic_codes());
        secrets
    }

    /// The Entra ID stand-in (login authority).
    pub fn entra_url(&self) -> String {
        self.entra_listener.base_url()
    }

    /// The Bot Framework stand-in: channel metadata, connector, token service.
    pub fn botframework_url(&self) -> String {
        self.botframework_listener.base_url()
    }

    /// The primary Databricks workspace's URL.
    pub fn primary_url(&self) -> String {
        self.primary_listener.base_url()
    }

    /// The Databricks account API's URL (`{accounts}/api/2.0/accounts/{id}/...`).
    pub fn accounts_url(&self) -> String {
        self.accounts_listener.base_url()
    }

    /// Azure Resource Manager's URL.
    pub fn arm_url(&self) -> String {
        self.arm_listener.base_url()
    }

    /// Microsoft Graph's URL (`{graph}/v1.0/...`).
    pub fn graph_url(&self) -> String {
        self.graph_listener.base_url()
    }

    /// The secondary Databricks workspace's URL.
    pub fn secondary_url(&self) -> String {
        self.secondary_listener.base_url()
    }

    /// A drbot configuration file pointing at this sandbox.
    pub fn bot_config_toml(&self, listen: &str, local_anonymous: bool) -> String {
        let bf = self.botframework_url();
        format!(
            r#"# drbot configuration for the local sandbox (written by drbot-sandbox)
[bot]
MicrosoftAppId = "{app_id}"
MicrosoftAppPassword = "{secret}"
MicrosoftAppType = "SingleTenant"
MicrosoftAppTenantId = "{tenant}"

[server]
listen = "{listen}"
local_anonymous = {local_anonymous}

[endpoints]
login_authority = "{entra}"
channel_openid_metadata = "{bf}/v1/.well-known/openidconfiguration"
channel_issuer = "https://api.botframework.com"
entra_openid_metadata = "{entra}/{tenant}/v2.0/.well-known/openid-configuration"
token_service = "{bf}"
botframework_scope = "https://api.botframework.com/.default"
graph = "{graph}"
# The sandbox's connector (the serviceUrl its activities carry) is on loopback.
service_hosts = ["{connector_host}"]

[sso]
connection_name = "{connection}"

[databricks]
primary_host = "{primary}"
secondary_host = "{secondary}"

[access]
replicate = ["{operators}"]
deploy = ["{operators}"]
failover = ["{operators}"]
admins = ["{alice}"]
local_roles = [{local_roles}]

[replication]
warehouse_id = "{warehouse}"
primary_warehouse_id = "{primary_warehouse}"
location_mapping = [{mapping}]
# The operators' Databricks group: it owns the DR shares and administers a spoke's catalog.
dr_group = "{dr_group}"

[deploy]
arm_url = "{arm}"
subscription_id = "{subscription}"
databricks_accounts_url = "{accounts}"
"#,
            operators = directory::DR_OPERATORS_GROUP,
            alice = self.teams.user("alice").map(|u| u.oid).unwrap_or_default(),
            local_roles = if local_anonymous { r#""replicate", "deploy", "failover", "admin""# } else { "" },
            app_id = self.config.bot_app_id,
            secret = self.config.bot_secret,
            tenant = self.config.tenant_id,
            entra = self.entra_url(),
            graph = self.graph_url(),
            connector_host = self
                .teams
                .service_url()
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/'),
            connection = token_service::SANDBOX_CONNECTION_NAME,
            primary = self.primary_url(),
            secondary = self.secondary_url(),
            warehouse = databricks::statements::SANDBOX_WAREHOUSE_ID,
            primary_warehouse = databricks::statements::PRIMARY_WAREHOUSE_ID,
            dr_group = databricks::seed::ADMIN_GROUP,
            mapping = databricks::seed::LOCATION_MAPPING
                .iter()
                .map(|(from, to)| format!("[\"{from}\", \"{to}\"]"))
                .collect::<Vec<_>>()
                .join(", "),
            arm = self.arm_url(),
            accounts = self.accounts_url(),
            subscription = SANDBOX_SUBSCRIPTION_ID,
        )
    }

    pub async fn shutdown(self) {
        self.graph_listener.shutdown().await;
        self.arm_listener.shutdown().await;
        self.primary_listener.shutdown().await;
        self.secondary_listener.shutdown().await;
        self.botframework_listener.shutdown().await;
        self.entra_listener.shutdown().await;
    }
}

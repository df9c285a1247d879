//! Which pair a command means, and the pair commands: `pair add|remove|list`
//! (admins) and `use PAIR` (a conversation's default).
//!
//! A command that names a pair gets it; one that names none gets the
//! conversation's default (`use PAIR`), or the only pair when there is one.
//! So a bot with one pair answers every command as single-pair drbot did.

use std::sync::Arc;

use serde_json::Value;

use super::actor::Actor;
use super::error::PairError;
use super::{now_ms, Answer, Bot};
use crate::cards;
use crate::config::ReplicationSettings;
use crate::databricks::WorkspaceClient;
use crate::pairs::{Pair, Side};
use crate::readiness::probe;
use crate::replication::run::Workspaces;
use crate::store::pairs::{Origin, Removal};

/// What a command that may cover every pair (`status`) works on.
pub(crate) enum Chosen {
    One(Box<Pair>),
    All(Vec<Pair>),
}

impl Bot {
    /// The pair a command means: `named`, else the conversation's default,
    /// else the only one.
    pub(crate) async fn choose_pair(
        &self,
        conversation_id: Option<&str>,
        named: Option<&str>,
    ) -> Result<Pair, PairError> {
        match self.choose_pairs(conversation_id, named).await? {
            Chosen::One(pair) => Ok(*pair),
            Chosen::All(pairs) => Err(PairError::Ambiguous(pairs.into_iter().map(|p| p.name).collect())),
        }
    }

    /// As [`Bot::choose_pair`], but several pairs and no default is every pair.
    pub(crate) async fn choose_pairs(
        &self,
        conversation_id: Option<&str>,
        named: Option<&str>,
    ) -> Result<Chosen, PairError> {
        let store = &self.services.store;
        let wanted = match named {
            Some(name) => Some(name.to_string()),
            None => match conversation_id {
                Some(conversation) => store.conversation_pair(conversation).await?,
                None => None,
            },
        };
        if let Some(name) = wanted {
            return match store.pair(&name).await? {
                Some(pair) => Ok(Chosen::One(Box::new(pair))),
                None => {
                    Err(PairError::Unknown { name, known: store.pairs().await?.into_iter().map(|p| p.name).collect() })
                }
            };
        }
        let mut pairs = store.pairs().await?;
        match pairs.len() {
            0 => Err(PairError::NoneConfigured),
            1 => Ok(Chosen::One(Box::new(pairs.remove(0)))),
            _ => Ok(Chosen::All(pairs)),
        }
    }

    /// The clients of a pair's two workspaces.
    pub(crate) fn pair_clients(&self, pair: &Pair) -> (WorkspaceClient, WorkspaceClient) {
        let http = &self.services.http;
        (WorkspaceClient::new(http.clone(), &pair.primary.url), WorkspaceClient::new(http.clone(), &pair.secondary.url))
    }

    /// Both workspaces and the warehouse a replication of `pair` runs with.
    pub(crate) fn pair_workspaces(&self, pair: &Pair) -> Result<Workspaces, PairError> {
        let (primary, secondary) = self.pair_clients(pair);
        let warehouse_id =
            pair.warehouse_id.clone().ok_or_else(|| PairError::NoWarehouse(pair.name.clone(), Side::Secondary))?;
        Ok(Workspaces { primary, secondary, warehouse_id })
    }

    /// The replication settings for `pair`.
    pub(crate) fn pair_settings(&self, pair: &Pair) -> ReplicationSettings {
        self.services.config.replication.for_pair(pair)
    }

    /// The planner's configuration for `pair` (narrowed to `catalog`), with
    /// the pair's principal mapping from its mapping table, oriented as the
    /// pair replicates: a sync from the secondary (an [`oriented`] pair)
    /// maps the other way.
    ///
    /// [`oriented`]: super::failover_services::oriented
    pub(crate) async fn replication_config(
        &self,
        pair: &Pair,
        catalog: Option<&str>,
    ) -> Result<crate::replication::ReplicationConfig, crate::store::StoreError> {
        use crate::replication::principals::PrincipalMap;
        let mut config = self.pair_settings(pair).replication_config(catalog);
        let (name, from) = super::failover_services::pair_of_key(&pair.name);
        let table = self.services.store.asset_mapping(name).await?;
        let mapping = PrincipalMap::new(table.principals());
        config.principals = match from {
            crate::pairs::Side::Primary => mapping,
            crate::pairs::Side::Secondary => mapping.inverse(),
        };
        Ok(config)
    }

    /// `pair add`: both workspaces must answer and the warehouse must exist,
    /// asked with the admin's own identity; the card names what is wrong.
    pub(crate) async fn add_pair(self: &Arc<Self>, actor: &Actor, pair: Pair, correlation_id: &str) -> Answer {
        let tokens = match self.tokens_for(actor) {
            Ok(tokens) => tokens,
            Err(error) => return Answer::Card(error.card("The pair could not be checked", correlation_id)),
        };
        let bot = self.clone();
        let actor = actor.clone();
        let correlation_id = correlation_id.to_string();
        Answer::Later {
            now: cards::notice(&format!("Checking pair {}…", pair.name), "Asking both workspaces and the warehouse."),
            then: Box::pin(async move {
                let problems = match tokens.get(false).await {
                    Ok(token) => probe::problems(&pair, &bot.services.http, &token).await,
                    Err(error) => vec![format!("no Databricks token: {error}")],
                };
                if !problems.is_empty() {
                    let result = format!("refused: {}", problems.join("; "));
                    bot.audit(&actor, "add a pair", Some(&pair.name), &result, &correlation_id).await;
                    return cards::with_correlation_id(
                        cards::notice(
                            &format!("Pair {} was not added", pair.name),
                            &format!("What is wrong: {}.", problems.join("; ")),
                        ),
                        &correlation_id,
                    );
                }
                match bot.services.store.add_pair(&pair, Origin::Added, now_ms()).await {
                    Ok(true) => {
                        bot.audit(&actor, "add a pair", Some(&pair.name), "added", &correlation_id).await;
                        cards::notice(
                            &format!("Pair {} added", pair.name),
                            &format!(
                                "{} → {}. Replication shares under {}* to the recipient {}. Try status {}.",
                                pair.primary.host(),
                                pair.secondary.host(),
                                pair.sharing.share_prefix,
                                pair.sharing.recipient,
                                pair.name
                            ),
                        )
                    }
                    Ok(false) => {
                        bot.audit(&actor, "add a pair", Some(&pair.name), "refused: exists", &correlation_id).await;
                        cards::notice(
                            &format!("Pair {} exists", pair.name),
                            "Remove it first (pair remove NAME) to change it.",
                        )
                    }
                    Err(error) => {
                        tracing::error!(correlation_id, %error, "pair not stored");
                        cards::error("The pair could not be stored.", &correlation_id)
                    }
                }
            }),
        }
    }

    /// `pair set NAME primary_warehouse=ID`: the pair's primary warehouse,
    /// checked (both workspaces and both warehouses answer, asked with the
    /// admin's own identity) before it is stored; audited either way.
    pub(crate) async fn set_primary_warehouse(
        self: &Arc<Self>,
        actor: &Actor,
        name: &str,
        warehouse: &str,
        correlation_id: &str,
    ) -> Answer {
        let mut pair = match self.services.store.pair(name).await {
            Ok(Some(pair)) => pair,
            Ok(None) => return Answer::Card(cards::notice("No such pair", &format!("There is no pair named {name}."))),
            Err(error) => {
                tracing::error!(correlation_id, %error, "pair not read");
                return Answer::Card(cards::error("The pair could not be read.", correlation_id));
            }
        };
        pair.primary_warehouse_id = Some(warehouse.to_string());
        let tokens = match self.tokens_for(actor) {
            Ok(tokens) => tokens,
            Err(error) => return Answer::Card(error.card("The warehouse could not be checked", correlation_id)),
        };
        let bot = self.clone();
        let actor = actor.clone();
        let correlation_id = correlation_id.to_string();
        let warehouse = warehouse.to_string();
        Answer::Later {
            now: cards::notice(&format!("Checking pair {}…", pair.name), "Asking both workspaces and the warehouses."),
            then: Box::pin(async move {
                let action = "set a pair's primary warehouse";
                let problems = match tokens.get(false).await {
                    Ok(token) => probe::problems(&pair, &bot.services.http, &token).await,
                    Err(error) => vec![format!("no Databricks token: {error}")],
                };
                if !problems.is_empty() {
                    let result = format!("refused: {}", problems.join("; "));
                    bot.audit(&actor, action, Some(&pair.name), &result, &correlation_id).await;
                    return cards::with_correlation_id(
                        cards::notice(
                            &format!("Pair {} was not changed", pair.name),
                            &format!("What is wrong: {}.", problems.join("; ")),
                        ),
                        &correlation_id,
                    );
                }
                match bot.services.store.set_primary_warehouse(&pair.name, &warehouse, now_ms()).await {
                    Ok(true) => {
                        bot.audit(&actor, action, Some(&pair.name), "set", &correlation_id).await;
                        cards::notice(
                            &format!("Pair {} changed", pair.name),
                            &format!("drbot now asks the primary in SQL on warehouse {warehouse}."),
                        )
                    }
                    Ok(false) => {
                        bot.audit(&actor, action, Some(&pair.name), "refused: changed meanwhile", &correlation_id)
                            .await;
                        cards::notice(
                            &format!("Pair {} was not changed", pair.name),
                            "It was removed or changed meanwhile: try again.",
                        )
                    }
                    Err(error) => {
                        tracing::error!(correlation_id, %error, "pair not stored");
                        cards::error("The pair could not be stored.", &correlation_id)
                    }
                }
            }),
        }
    }

    /// `pair remove NAME`: refused while an operation of the pair runs.
    pub(crate) async fn remove_pair(&self, actor: &Actor, name: &str, correlation_id: &str) -> Value {
        let removal = match self.services.store.remove_pair(name).await {
            Ok(removal) => removal,
            Err(error) => {
                tracing::error!(correlation_id, %error, "pair not removed");
                return cards::error("The pair could not be removed.", correlation_id);
            }
        };
        if removal == Removal::Removed {
            // Its schedule goes with it (a firing would only find the pair gone).
            if let Err(error) = self.services.store.remove_replication_schedule(name).await {
                tracing::warn!(correlation_id, %error, "the removed pair's schedule stays until it next fires");
            }
        }
        let (result, card) = match removal {
            Removal::Removed => (
                "removed",
                cards::notice(
                    &format!("Pair {name} removed"),
                    "drbot no longer looks after it. Nothing in either workspace was changed.",
                ),
            ),
            Removal::NotFound => {
                ("refused: no such pair", cards::notice("No such pair", &format!("There is no pair named {name}.")))
            }
            Removal::InFlight => (
                "refused: operation in flight",
                cards::notice(
                    &format!("Pair {name} is busy"),
                    "An operation of this pair is running. Wait for it to end (or cancel it), then remove the pair.",
                ),
            ),
        };
        self.audit(actor, "remove a pair", Some(name), result, correlation_id).await;
        cards::with_correlation_id(card, correlation_id)
    }

    /// `pair list`: every pair, with a button to its dashboard.
    pub(crate) async fn list_pairs(&self, correlation_id: &str) -> Value {
        match self.services.store.pairs().await {
            Ok(pairs) => cards::pair_list(
                &pairs
                    .iter()
                    .map(|p| {
                        (
                            p.name.clone(),
                            format!(
                                "{} → {} · warehouse {} · active {}",
                                p.primary.host(),
                                p.secondary.host(),
                                p.warehouse_id.as_deref().unwrap_or("none"),
                                p.active.as_str()
                            ),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            Err(error) => PairError::Store(error).card(correlation_id),
        }
    }

    /// `use PAIR`: this conversation's commands mean `name` when they name none.
    pub(crate) async fn use_pair(
        &self,
        actor: &Actor,
        conversation_id: Option<&str>,
        name: &str,
        correlation_id: &str,
    ) -> Value {
        let Some(conversation_id) = conversation_id else {
            return cards::error("This activity has no conversation.", correlation_id);
        };
        if let Err(error) = self.choose_pair(None, Some(name)).await {
            return error.card(correlation_id);
        }
        let store = &self.services.store;
        if let Err(error) = store.set_conversation_pair(conversation_id, name, actor.oid(), now_ms()).await {
            tracing::error!(correlation_id, %error, "default pair not stored");
            return cards::error("The default pair could not be stored.", correlation_id);
        }
        self.audit(actor, "set the default pair", Some(name), "set", correlation_id).await;
        cards::notice(
            &format!("This chat uses pair {name}"),
            &format!("status, replicate and runs mean {name} here unless they name another pair."),
        )
    }
}

/// Writes the configuration's pairs into the store (each start: the file
/// wins over an earlier start's values, the active side stays the store's).
pub async fn seed(store: &crate::store::Store, config: &crate::config::Config) -> Result<(), anyhow::Error> {
    if config.legacy_pair()?.is_some() {
        tracing::warn!(
            "[databricks] primary_host/secondary_host and [replication] warehouse_id/location_mapping are \
             deprecated: they are the pair named default; describe it under [[pairs]] instead"
        );
    }
    for pair in config.pairs()? {
        store.seed_pair(&pair, now_ms()).await?;
    }
    Ok(())
}

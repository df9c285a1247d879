//! Who a turn acts for, and the Databricks tokens that go with them.
//!
//! In Teams every person is signed in through SSO and every call runs with
//! their own token (on-behalf-of). The one exception is the local demo: the
//! Agents Playground sends no token and cannot do SSO, so in local anonymous
//! mode (loopback only, explicit, loudly logged) an unsigned request acts as
//! the bot's own identity, and its roles come from `[access] local_roles`.
//! Each Playground user is still a person of their own (the Playground
//! names them on every activity): a runbook two of them approve has two
//! approvals, as it would in Teams.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{ActingAsError, NotConfigured, TurnError};
use super::Bot;
use crate::access::Person;
use crate::botframework::activity::Activity;
use crate::botframework::user_token::UserKey;
use crate::deploy::{Tokens, UserTokens};
use crate::identity::app::AppIdentity;
use crate::identity::{AccessToken, IdentityError, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};

/// Without a signed-in person (local anonymous mode) work runs as the bot.
const NO_APP: NotConfigured = NotConfigured("the bot's own identity is not configured");

/// The person behind a turn, as far as roles and audit are concerned.
#[derive(Clone, Debug)]
pub enum Actor {
    Person(UserAssertion),
    /// A user of the Agents Playground in local anonymous mode.
    Local(LocalUser),
}

/// The name the local demo user has in access lists and the audit log
/// when the Playground names nobody.
pub const LOCAL_USER: &str = "local-playground-user";

/// A Playground user as the activity names them: unverified (nobody signs
/// in), so never an object id that access lists or audits could take for
/// an Entra one; enough to tell one Playground user from another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalUser {
    /// `local-playground-user:` and the sender's `aadObjectId` (each user in
    /// the Playground's context has one), else their channel id; the bare
    /// prefix when the activity names nobody.
    pub key: String,
    /// The sender's display name; the key when the activity has none.
    pub name: String,
}

impl LocalUser {
    /// Whoever `activity` says sent it.
    pub fn of(activity: &Activity) -> LocalUser {
        let from = activity.from.as_ref();
        let id = from
            .and_then(|f| f.aad_object_id.as_deref().filter(|id| !id.is_empty()))
            .or(from.map(|f| f.id.as_str()).filter(|id| !id.is_empty()));
        let key = id.map_or_else(|| LOCAL_USER.to_string(), |id| format!("{LOCAL_USER}:{id}"));
        let name = from.and_then(|f| f.name.as_deref()).map(str::trim).filter(|n| !n.is_empty());
        LocalUser { name: name.map_or_else(|| key.clone(), str::to_string), key }
    }
}

impl Actor {
    /// The UPN of a signed-in person; a Playground user's key (the
    /// Playground sends no UPN).
    pub fn upn(&self) -> &str {
        match self {
            Actor::Person(user) => &user.upn,
            Actor::Local(user) => &user.key,
        }
    }

    pub fn oid(&self) -> Option<&str> {
        match self {
            Actor::Person(user) => Some(&user.oid),
            Actor::Local(_) => None,
        }
    }

    /// One key per person: the object id of a signed-in person, the key of a
    /// Playground user. Approvals are counted by it.
    pub fn key(&self) -> &str {
        match self {
            Actor::Person(user) => &user.oid,
            Actor::Local(user) => &user.key,
        }
    }

    pub fn display_name(&self) -> &str {
        match self {
            Actor::Person(user) if !user.name.is_empty() => &user.name,
            Actor::Person(user) => &user.upn,
            Actor::Local(user) => &user.name,
        }
    }

    pub fn person(&self) -> Person<'_> {
        match self {
            Actor::Person(user) => Person { oid: &user.oid, groups: &user.groups },
            Actor::Local(_) => Person { oid: LOCAL_USER, groups: &[] },
        }
    }
}

/// How an operation that outlives its turn gets its tokens back after a
/// restart: the person through the token service, or the bot itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActingAs {
    /// The Teams user id and channel the token service knows them by.
    User {
        user_id: String,
        channel_id: String,
        oid: String,
        upn: String,
    },
    App,
}

impl ActingAs {
    /// Whom work started in this turn acts as when it goes on later, maybe
    /// in another instance. `None` if the activity names no user.
    pub fn in_turn(actor: &Actor, activity: &Activity) -> Option<ActingAs> {
        match actor {
            Actor::Local(_) => Some(ActingAs::App),
            Actor::Person(user) => {
                let key = super::user_key(activity)?;
                Some(ActingAs::User {
                    user_id: key.user_id.to_string(),
                    channel_id: key.channel_id.to_string(),
                    oid: user.oid.clone(),
                    upn: user.upn.clone(),
                })
            }
        }
    }
}

/// Databricks tokens for whoever a piece of work acts for.
#[derive(Clone)]
pub enum DatabricksTokens {
    User { obo: Arc<OnBehalfOf>, user: UserAssertion },
    App(Arc<AppIdentity>),
}

impl DatabricksTokens {
    pub async fn get(&self, fresh: bool) -> Result<AccessToken, IdentityError> {
        match self {
            DatabricksTokens::User { obo, user } => obo.token(user, DATABRICKS_SCOPE, fresh).await,
            DatabricksTokens::App(app) => app.token(DATABRICKS_SCOPE).await,
        }
    }
}

/// ARM tokens for whoever a deployment acts for.
pub(crate) enum DeployTokens {
    User(UserTokens),
    App(Arc<AppIdentity>),
}

impl From<DatabricksTokens> for DeployTokens {
    fn from(tokens: DatabricksTokens) -> Self {
        match tokens {
            DatabricksTokens::User { obo, user } => DeployTokens::User(UserTokens { obo, user }),
            DatabricksTokens::App(app) => DeployTokens::App(app),
        }
    }
}

impl Tokens for DeployTokens {
    async fn token(&self, scope: &str) -> Result<AccessToken, IdentityError> {
        match self {
            DeployTokens::User(user) => user.token(scope).await,
            DeployTokens::App(app) => Tokens::token(app.as_ref(), scope).await,
        }
    }
}

impl Bot {
    /// Databricks tokens for a turn's actor.
    pub(crate) fn tokens_for(&self, actor: &Actor) -> Result<DatabricksTokens, TurnError> {
        match actor {
            Actor::Person(user) => Ok(DatabricksTokens::User { obo: self.services.obo.clone(), user: user.clone() }),
            Actor::Local(_) => Ok(self.services.app.clone().map(DatabricksTokens::App).ok_or(NO_APP)?),
        }
    }

    /// Tokens for whoever the work acts as; a person is looked up again
    /// through the token service (they may have signed out since).
    pub(crate) async fn tokens_acting_as(&self, acting_as: &ActingAs) -> Result<DatabricksTokens, ActingAsError> {
        match acting_as {
            ActingAs::App => Ok(self.services.app.clone().map(DatabricksTokens::App).ok_or(NO_APP)?),
            ActingAs::User { user_id, channel_id, oid, .. } => {
                let key = UserKey { user_id, channel_id };
                let token = self.services.users.get_token(&key, None).await?.ok_or(ActingAsError::SignedOut)?;
                let user = UserAssertion::from_token(&token.token).ok_or(ActingAsError::Unreadable)?;
                // The token service keys tokens by Teams user id; the run was
                // started by the person with this object id, and only their
                // token may carry it on (an empty oid predates the binding).
                if !oid.is_empty() && !user.oid.eq_ignore_ascii_case(oid) {
                    return Err(ActingAsError::SomeoneElse);
                }
                Ok(DatabricksTokens::User { obo: self.services.obo.clone(), user })
            }
        }
    }
}

//! `whoami`: who drbot thinks you are, and what you have granted it. Shows
//! identities and consent, never a token.

use super::actor::Actor;
use super::{Answer, Bot};
use crate::botframework::activity::Activity;
use crate::cards::{self, GrantStatus};
use crate::databricks::DatabricksError;
use crate::identity::{IdentityError, UserAssertion, ARM_SCOPE, DATABRICKS_SCOPE};

impl Bot {
    /// The gate has let `actor` through. The local demo user (who holds a
    /// local role) is asked to sign in, as the Playground offers no SSO.
    pub(crate) async fn whoami(
        &self,
        activity: &Activity,
        actor: &Actor,
        command: &str,
        correlation_id: &str,
    ) -> Answer {
        let user = match actor {
            Actor::Person(user) => user.clone(),
            Actor::Local(_) => {
                return self.prompt_sign_in(activity, super::signin::Resume::Command(command), correlation_id).await
            }
        };
        let databricks = match self.databricks_identity(&user).await {
            Ok(status) => status,
            Err(IdentityError::SignInRequired) => {
                return self.prompt_sign_in(activity, super::signin::Resume::Command(command), correlation_id).await
            }
            Err(IdentityError::ConsentRequired { .. }) => {
                return Answer::Card(cards::consent_required("Azure Databricks", correlation_id))
            }
            Err(IdentityError::Unavailable(problem)) => GrantStatus::Unavailable(problem),
        };
        let arm = match self.services.obo.token(&user, ARM_SCOPE, false).await {
            Ok(_) => GrantStatus::Granted("deployments run as you".into()),
            Err(IdentityError::ConsentRequired { .. }) => GrantStatus::ConsentNeeded,
            Err(IdentityError::SignInRequired) => GrantStatus::SignInNeeded,
            Err(IdentityError::Unavailable(problem)) => GrantStatus::Unavailable(problem),
        };
        Answer::Card(cards::whoami(&user.name, &user.upn, &user.oid, &user.tenant_id, &databricks, &arm))
    }

    /// Asks the primary workspace who the person is, with their own token;
    /// a 401 is retried once with a fresh token.
    async fn databricks_identity(&self, user: &UserAssertion) -> Result<GrantStatus, IdentityError> {
        // Any pair's primary knows the person as well as another's.
        let Some(pair) = self.services.store.pairs().await.ok().and_then(|pairs| pairs.into_iter().next()) else {
            return Ok(GrantStatus::Unavailable("no Databricks workspace is configured".into()));
        };
        let (primary, _) = self.pair_clients(&pair);
        let token = self.services.obo.token(user, DATABRICKS_SCOPE, false).await?;
        let mut answer = primary.me(&token).await;
        if matches!(answer, Err(DatabricksError::Unauthenticated(_))) {
            let fresh = self.services.obo.token(user, DATABRICKS_SCOPE, true).await?;
            answer = primary.me(&fresh).await;
        }
        Ok(match answer {
            Ok(me) => GrantStatus::Granted(format!("primary workspace knows you as {}", me.user_name)),
            Err(error) => GrantStatus::Unavailable(error.to_string()),
        })
    }
}

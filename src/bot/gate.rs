//! The bot's own gate: which tenants may talk to it, who the person is, and
//! whether they hold the role an action needs. Every attempt that passes or
//! fails here is written to the audit log.

use serde_json::Value;

use super::actor::{Actor, LocalUser};
use super::{now_ms, Answer, Bot, TurnOutcome};
use crate::access::Role;
use crate::botframework::activity::Activity;
use crate::cards::{self, views};
use crate::commands::Needs;
use crate::store::audit::AuditEntry;

impl Bot {
    /// Whether the activity's tenant may use the bot.
    pub(crate) fn tenant_allowed(&self, activity: &Activity) -> bool {
        let config = &self.services.config;
        config.access.allows_tenant(activity.tenant_id().as_deref(), config.bot.tenant_id.as_deref())
    }

    /// A tenant that may not use the bot gets one clear card (for messages)
    /// or a 403 (for invokes), and nothing else happens.
    pub(crate) async fn refuse_tenant(&self, activity: &Activity, correlation_id: &str) -> TurnOutcome {
        tracing::warn!(correlation_id, "activity from a tenant that may not use this bot");
        let card = cards::notice(
            "drbot is not available here",
            "This organisation is not allowed to use this drbot. Ask the platform team that runs it.",
        );
        match activity.kind {
            crate::botframework::activity::ActivityType::Invoke => TurnOutcome::Invoke(
                crate::teams::invoke::InvokeResponse::error(403, "Forbidden", "This tenant may not use drbot."),
            ),
            crate::botframework::activity::ActivityType::Message => {
                self.send_reply(activity, Answer::Card(card), correlation_id).await;
                TurnOutcome::Done
            }
            _ => TurnOutcome::Done,
        }
    }

    /// Who the turn acts for: the signed-in person, the Playground user who
    /// sent it in local anonymous mode, or `None` when the person must sign in first.
    pub(crate) async fn actor(&self, activity: &Activity, anonymous: bool) -> Result<Option<Actor>, Value> {
        if anonymous && self.services.config.server.local_anonymous {
            return Ok(Some(Actor::Local(LocalUser::of(activity))));
        }
        match self.signed_in_user(activity).await {
            Ok(user) => Ok(user.map(Actor::Person)),
            Err(error) => Err(self.sign_in_problem(&error, "")),
        }
    }

    /// `Ok` when `actor` holds `role`; otherwise the refusal card, with the
    /// attempt in the audit log either way.
    pub(crate) async fn require(
        &self,
        actor: &Actor,
        role: Role,
        what: &str,
        target: Option<&str>,
        correlation_id: &str,
    ) -> Result<(), Value> {
        if self.roles_of(actor, correlation_id).await.contains(&role) {
            return Ok(());
        }
        Err(self.refuse(actor, role.name(), what, target, correlation_id).await)
    }

    /// Whether `actor` holds `role`. Nothing is audited.
    pub(crate) async fn holds(&self, actor: &Actor, role: Role, correlation_id: &str) -> bool {
        self.roles_of(actor, correlation_id).await.contains(&role)
    }

    /// The roles `actor` holds (admins hold every role; every Playground
    /// user holds `[access] local_roles`). A person whose token has too many
    /// groups to carry them has the configured groups asked of Graph, once
    /// for all roles. Nothing is audited.
    pub(crate) async fn roles_of(&self, actor: &Actor, correlation_id: &str) -> Vec<Role> {
        let access = &self.services.config.access;
        let looked_up;
        let person = match actor {
            Actor::Local(_) => {
                return Role::ALL
                    .into_iter()
                    .filter(|role| access.local_roles.iter().any(|r| r.eq_ignore_ascii_case(role.name())))
                    .collect()
            }
            Actor::Person(user) if user.groups_overage => {
                looked_up = self.groups_from_graph(user, correlation_id).await;
                crate::access::Person { oid: &user.oid, groups: &looked_up }
            }
            Actor::Person(_) => actor.person(),
        };
        Role::ALL.into_iter().filter(|role| access.allows(&person, *role)).collect()
    }

    /// `Ok` when `actor` may run something that needs `needs`; otherwise
    /// the refusal card, and the attempt in the audit log.
    pub(crate) async fn admit(
        &self,
        actor: &Actor,
        needs: Needs,
        what: &str,
        target: Option<&str>,
        correlation_id: &str,
    ) -> Result<(), Value> {
        match needs {
            Needs::Anyone => Ok(()),
            Needs::Role(role) => self.require(actor, role, what, target, correlation_id).await,
            // Nobody signs in in local mode: holding a local role stands for it.
            Needs::SignedIn if !matches!(actor, Actor::Local(_)) => Ok(()),
            Needs::SignedIn | Needs::AnyRole if !self.roles_of(actor, correlation_id).await.is_empty() => Ok(()),
            Needs::SignedIn | Needs::AnyRole => {
                Err(self.refuse(actor, "any of replicate, deploy, admin", what, target, correlation_id).await)
            }
        }
    }

    /// The refusal card for `actor`, who lacks `required`; audited.
    async fn refuse(
        &self,
        actor: &Actor,
        required: &str,
        what: &str,
        target: Option<&str>,
        correlation_id: &str,
    ) -> Value {
        self.audit(actor, what, target, "refused", correlation_id).await;
        let held = self.roles_of(actor, correlation_id).await.into_iter().map(|role| role.name().to_string()).collect();
        let view = views::RefusalView {
            action: what.to_string(),
            required_role: required.to_string(),
            scope: target.unwrap_or_default().to_string(),
            user: actor.display_name().to_string(),
            your_roles: held,
            hint: "drbot's roles are set by the platform team in its configuration ([access]).".into(),
            correlation_id: correlation_id.to_string(),
        };
        views::render_refusal(&view).unwrap_or_else(|_| cards::error("You may not do this.", correlation_id))
    }

    /// The configured groups a person is in, asked of Graph because their
    /// token has too many groups to carry them. Fails closed: no answer, no
    /// group roles (the person's own object id still counts).
    async fn groups_from_graph(&self, user: &crate::identity::UserAssertion, correlation_id: &str) -> Vec<String> {
        let access = &self.services.config.access;
        let mut candidates: Vec<String> = [&access.replicate, &access.deploy, &access.admins]
            .into_iter()
            .flatten()
            .filter(|id| !id.eq_ignore_ascii_case(&user.oid))
            .map(|id| id.to_ascii_lowercase())
            .collect();
        candidates.sort();
        candidates.dedup();
        if candidates.is_empty() {
            return Vec::new();
        }
        match self.services.groups.among(&self.services.obo, user, &candidates).await {
            Ok(groups) => groups,
            Err(error) => {
                tracing::warn!(correlation_id, %error, "group membership unavailable: no group roles for this turn");
                Vec::new()
            }
        }
    }

    /// One line in the audit log; a failure to write it is logged, not shown.
    pub(crate) async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<&str>,
        result: &str,
        correlation_id: &str,
    ) {
        let entry = AuditEntry {
            id: uuid::Uuid::new_v4().to_string(),
            at_ms: now_ms(),
            actor_oid: actor.oid().map(str::to_string),
            actor_upn: Some(actor.upn().to_string()),
            action: action.to_string(),
            target: target.map(str::to_string),
            result: result.to_string(),
            correlation_id: Some(correlation_id.to_string()),
        };
        if let Err(error) = self.services.store.append_audit(&entry).await {
            tracing::error!(correlation_id, %error, "audit entry not written");
        }
    }
}

//! Sign-in: Teams SSO through the token service, the magic-code fallback,
//! sign-out, and running the command that needed sign-in once it succeeds.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{now_ms, user_key, Answer, Bot};
use crate::botframework::activity::Activity;
use crate::botframework::user_token::UserTokenError;
use crate::cards;
use crate::identity::{BindError, ClaimedIdentity, UserAssertion};

/// Why the person's sign-in cannot be used for this turn.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignInError {
    #[error(transparent)]
    TokenService(#[from] UserTokenError),
    #[error("{0}")]
    NotBound(BindError),
}
use crate::teams::invoke::InvokeResponse;
use crate::teams::signin::{exchange_failed, exchange_succeeded, oauth_card, TokenExchangeRequest};

/// Duplicate exchanges (several Teams clients, several instances) within this
/// window are the same exchange.
const EXCHANGE_DEDUPE_MS: i64 = 15 * 60 * 1000;
/// Bounds on what an invoke may carry; anything longer is answered 400
/// before it reaches the token service. A magic code is six digits; an
/// exchange id and a connection name are short names; an Entra token with
/// many group claims stays well under 32 KB.
const MAX_MAGIC_CODE: usize = 64;
const MAX_NAME: usize = 256;
const MAX_TOKEN: usize = 32 * 1024;
/// `signin/failure` text shown on a card is cut to this many characters.
const MAX_FAILURE_TEXT: usize = 500;

/// A command waits this long for its author to finish signing in.
const PENDING_COMMAND_MAX_AGE_MS: i64 = 30 * 60 * 1000;

/// What happens once the person has signed in.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Resume<'a> {
    /// The typed command runs (it is kept until then).
    Command(&'a str),
    /// Nothing runs by itself: the person clicks the button again, which
    /// then carries their identity.
    Click,
}

impl Bot {
    /// The person's token for drbot's API, if they are signed in, bound to
    /// the activity's sender: same object id, same tenant, and a tenant that
    /// may use the bot. Nothing acts on a token that fails this.
    pub(crate) async fn signed_in_user(&self, activity: &Activity) -> Result<Option<UserAssertion>, SignInError> {
        let Some(user) = user_key(activity) else { return Ok(None) };
        let Some(token) = self.services.users.get_token(&user, None).await? else { return Ok(None) };
        let Some(assertion) = UserAssertion::from_token(&token.token) else { return Ok(None) };
        let tenant = activity.tenant_id();
        let claimed = ClaimedIdentity {
            tenant_id: tenant.as_deref(),
            oid: activity.from.as_ref().and_then(|f| f.aad_object_id.as_deref()),
        };
        let assertion = assertion.bind(&claimed).map_err(SignInError::NotBound)?;
        let config = &self.services.config;
        if !config.access.allows_tenant(Some(&assertion.tenant_id), config.bot.tenant_id.as_deref()) {
            return Err(SignInError::NotBound(BindError::OtherTenant));
        }
        Ok(Some(assertion))
    }

    /// The card for a sign-in that cannot be used (logged here, once).
    pub(crate) fn sign_in_problem(&self, error: &SignInError, correlation_id: &str) -> Value {
        match error {
            SignInError::TokenService(error) => {
                tracing::error!(correlation_id, %error, "token service unavailable");
                cards::error("Sign-in is unavailable right now. Try again in a minute.", correlation_id)
            }
            SignInError::NotBound(reason) => {
                tracing::warn!(correlation_id, %reason, "sign-in refused: it is not the sender's own");
                cards::with_correlation_id(
                    cards::notice(
                        "This sign-in is not yours",
                        "drbot refused: the account signed in to drbot is not the Teams account that sent this \
                         (another person or another organisation). Use `signout`, then sign in with your own account.",
                    ),
                    correlation_id,
                )
            }
        }
    }

    /// Keeps the command and asks the person to sign in (SSO first, then the button).
    pub(crate) async fn prompt_sign_in(&self, activity: &Activity, resume: Resume<'_>, correlation_id: &str) -> Answer {
        let (Some(conversation), Some(user)) = (activity.conversation.as_ref(), user_key(activity)) else {
            return Answer::Card(cards::error("This conversation has no user to sign in.", correlation_id));
        };
        let store = &self.services.store;
        let saved = match resume {
            Resume::Command(command) => {
                store.save_pending_command(&conversation.id, user.user_id, command, now_ms()).await
            }
            // A click is not a command to replay: a stale one typed earlier
            // must not run in its place either.
            Resume::Click => store.take_pending_command(&conversation.id, user.user_id, now_ms(), 0).await.map(|_| ()),
        };
        if let Err(error) = saved {
            tracing::error!(correlation_id, %error, "pending command not saved");
        }
        let why = match resume {
            Resume::Command(_) => "Sign in so drbot can act for you on Azure Databricks and Azure.",
            Resume::Click => "Sign in so drbot can act for you, then click the button again.",
        };
        let conversation_json = serde_json::to_value(conversation).unwrap_or(Value::Null);
        let relates_to = json!({
            "activityId": activity.id,
            "user": activity.from,
            "bot": activity.recipient,
            "conversation": conversation,
            "channelId": activity.channel_id,
            "serviceUrl": activity.service_url,
        });
        match self.services.users.sign_in_resource(&conversation_json, &relates_to).await {
            Ok(resource) => Answer::SignIn(oauth_card(&resource, self.services.users.connection_name(), why)),
            Err(error) => {
                tracing::error!(correlation_id, %error, "sign-in resource unavailable");
                Answer::Card(cards::error("Sign-in is unavailable right now. Try again in a minute.", correlation_id))
            }
        }
    }

    /// `signin/tokenExchange`: Teams' SSO token, traded once however often it arrives.
    pub(crate) async fn on_token_exchange(
        self: &Arc<Self>,
        activity: &Activity,
        correlation_id: &str,
    ) -> InvokeResponse {
        let request: Option<TokenExchangeRequest> =
            activity.value.clone().and_then(|value| serde_json::from_value(value).ok());
        let connection = self.services.users.connection_name();
        let Some(request) = request.filter(|r| {
            r.id.len() <= MAX_NAME
                && r.connection_name.len() <= MAX_NAME
                && r.token.as_ref().is_none_or(|t| t.len() <= MAX_TOKEN)
        }) else {
            return InvokeResponse::status(400, json!({"failureDetail": "The exchange request is malformed."}));
        };
        // An empty token is a missing one (`!token` in the Microsoft 365 Agents SDK): 400, not an exchange.
        let (Some(token), true) =
            (request.token.as_deref().filter(|t| !t.is_empty()), request.connection_name == connection)
        else {
            return InvokeResponse::status(
                400,
                json!({"id": request.id, "connectionName": request.connection_name, "failureDetail": "A token for this bot's connection is required."}),
            );
        };
        let (Some(user), Some(conversation)) = (user_key(activity), activity.conversation.as_ref()) else {
            return exchange_failed(&request.id, connection, "The activity names no user or conversation.");
        };
        let dedupe_key = format!("{}/{}/{}", user.channel_id, conversation.id, request.id);
        match self.services.store.claim_once(&dedupe_key, now_ms(), EXCHANGE_DEDUPE_MS).await {
            Ok(true) => {}
            // Another client or instance is handling this exchange.
            Ok(false) => return InvokeResponse::ok_empty(),
            Err(error) => {
                tracing::error!(correlation_id, %error, "exchange dedupe unavailable");
                return exchange_failed(&request.id, connection, "drbot could not record the sign-in.");
            }
        }
        match self.services.users.exchange(&user, token).await {
            Ok(Some(_)) => {
                self.resume_pending_command(activity, correlation_id);
                exchange_succeeded(&request.id, connection)
            }
            Ok(None) => exchange_failed(&request.id, connection, "The token could not be exchanged."),
            Err(error) => {
                tracing::warn!(correlation_id, %error, "token exchange failed");
                exchange_failed(&request.id, connection, "The token service is unavailable.")
            }
        }
    }

    /// `signin/verifyState`: the magic code typed after signing in in a browser.
    pub(crate) async fn on_verify_state(self: &Arc<Self>, activity: &Activity, correlation_id: &str) -> InvokeResponse {
        let state = activity.value.as_ref().and_then(|v| v["state"].as_str()).unwrap_or_default();
        if state.is_empty() || state == "CancelledByUser" {
            self.reply(
                activity,
                Answer::Card(cards::notice("Sign-in cancelled", "Nothing was changed.")),
                correlation_id,
            )
            .await;
            return InvokeResponse::ok_empty();
        }
        if state.len() > MAX_MAGIC_CODE || state.chars().any(char::is_control) {
            return InvokeResponse::status(400, json!({"failureDetail": "The sign-in code is not valid."}));
        }
        let Some(user) = user_key(activity) else { return InvokeResponse::status(404, Value::Null) };
        match self.services.users.get_token(&user, Some(state)).await {
            Ok(Some(_)) => {
                self.resume_pending_command(activity, correlation_id);
                InvokeResponse::ok_empty()
            }
            Ok(None) => InvokeResponse { status: 404, body: None },
            Err(error) => {
                tracing::warn!(correlation_id, %error, "magic code check failed");
                InvokeResponse { status: 500, body: None }
            }
        }
    }

    /// `signin/failure`: Teams could not sign the person in. Say so.
    pub(crate) async fn on_sign_in_failure(&self, activity: &Activity, correlation_id: &str) -> InvokeResponse {
        let value = activity.value.clone().unwrap_or(Value::Null);
        let code = value["code"].as_str().filter(|c| c.len() <= MAX_NAME).unwrap_or("unknown");
        tracing::warn!(correlation_id, code, "Teams reported a sign-in failure");
        let message = value["message"].as_str().unwrap_or("Teams could not complete the sign-in.");
        let message: String = message.chars().take(MAX_FAILURE_TEXT).collect();
        let card = cards::sign_in_failed(&message, code, correlation_id);
        self.send_reply(activity, Answer::Card(card), correlation_id).await;
        InvokeResponse::ok_empty()
    }

    /// `signout`: the token service forgets the person, and so does drbot.
    pub(crate) async fn sign_out(&self, activity: &Activity, correlation_id: &str) -> Value {
        let Some(user) = user_key(activity) else { return cards::notice("Signed out", "You were not signed in.") };
        if let Ok(Some(assertion)) = self.signed_in_user(activity).await {
            self.services.obo.forget(&assertion);
        }
        match self.services.users.sign_out(&user).await {
            Ok(()) => cards::notice(
                "Signed out",
                "drbot no longer holds a sign-in for you. Any command that acts for you will ask you to sign in again.",
            ),
            Err(error) => {
                tracing::error!(correlation_id, %error, "sign-out failed");
                cards::error("Sign-out did not go through. Try again in a minute.", correlation_id)
            }
        }
    }

    /// Runs the command that waited for sign-in, in the background: the invoke
    /// that completed the sign-in must be answered at once.
    fn resume_pending_command(self: &Arc<Self>, activity: &Activity, correlation_id: &str) {
        let bot = self.clone();
        let activity = activity.clone();
        let correlation_id = correlation_id.to_string();
        self.background.spawn(async move {
            let (Some(conversation), Some(user)) = (activity.conversation.as_ref(), user_key(&activity)) else {
                return;
            };
            let pending = bot
                .services
                .store
                .take_pending_command(&conversation.id, user.user_id, now_ms(), PENDING_COMMAND_MAX_AGE_MS)
                .await;
            let command = match pending {
                Ok(Some(command)) => command,
                Ok(None) => {
                    bot.reply(
                        &activity,
                        Answer::Card(cards::notice("Signed in", "You can use drbot now.")),
                        &correlation_id,
                    )
                    .await;
                    return;
                }
                Err(error) => {
                    tracing::error!(correlation_id, %error, "pending command unavailable");
                    return;
                }
            };
            let answer = bot.answer(&activity, &command, false, &correlation_id).await;
            bot.reply(&activity, answer, &correlation_id).await;
        });
    }
}

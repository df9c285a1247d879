//! The Bot Framework token service client: users' tokens for an OAuth
//! connection (`GetSignInResource`, `GetToken`, `exchange`, `SignOut`).
//! Every call carries the bot's own token. Tokens never reach a log: the
//! response type prints as `<token>`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::bot_token::{BotTokenError, BotTokenProvider};

#[derive(Debug, thiserror::Error)]
pub enum UserTokenError {
    #[error("token service unreachable: {0}")]
    Unreachable(String),
    #[error("token service answered HTTP {0}")]
    Http(u16),
    #[error("bot token: {0}")]
    BotToken(#[from] BotTokenError),
}

/// A user's token for the connection.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    #[serde(default)]
    pub expiration: Option<String>,
    #[serde(default)]
    pub connection_name: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse").field("token", &"<token>").field("expiration", &self.expiration).finish()
    }
}

/// What an OAuthCard needs to offer sign-in and Teams SSO.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInResource {
    pub sign_in_link: String,
    #[serde(default)]
    pub token_exchange_resource: Option<TokenExchangeResource>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenExchangeResource {
    pub id: String,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub provider_id: Option<String>,
}

/// Who is asking, where: the token service's `userId` and `channelId`.
#[derive(Clone, Debug)]
pub struct UserKey<'a> {
    pub user_id: &'a str,
    pub channel_id: &'a str,
}

pub struct UserTokenClient {
    http: reqwest::Client,
    base_url: String,
    connection_name: String,
    bot_app_id: String,
    token: Arc<BotTokenProvider>,
}

impl UserTokenClient {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        connection_name: &str,
        bot_app_id: &str,
        token: Arc<BotTokenProvider>,
    ) -> UserTokenClient {
        UserTokenClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            connection_name: connection_name.to_string(),
            bot_app_id: bot_app_id.to_string(),
            token,
        }
    }

    pub fn connection_name(&self) -> &str {
        &self.connection_name
    }

    /// The sign-in link and token-exchange resource for an OAuthCard.
    pub async fn sign_in_resource(
        &self,
        conversation: &serde_json::Value,
        relates_to: &serde_json::Value,
    ) -> Result<SignInResource, UserTokenError> {
        let state = json!({
            "connectionName": self.connection_name,
            "conversation": conversation,
            "relatesTo": relates_to,
            "msAppId": self.bot_app_id,
        });
        let state = base64::engine::general_purpose::STANDARD.encode(state.to_string());
        let url = format!("{}/api/botsignin/GetSignInResource", self.base_url);
        let response = self.send(self.http.get(url).query(&[("state", state.as_str())])).await?;
        if !response.status().is_success() {
            return Err(UserTokenError::Http(response.status().as_u16()));
        }
        response.json().await.map_err(|e| UserTokenError::Unreachable(e.without_url().to_string()))
    }

    /// The user's stored token, or the one a magic code completes. `None`: not signed in.
    pub async fn get_token(
        &self,
        user: &UserKey<'_>,
        code: Option<&str>,
    ) -> Result<Option<TokenResponse>, UserTokenError> {
        let url = format!("{}/api/usertoken/GetToken", self.base_url);
        let mut query = self.user_query(user);
        if let Some(code) = code {
            query.push(("code", code.to_string()));
        }
        let response = self.send(self.http.get(url).query(&query)).await?;
        self.token_or_none(response).await
    }

    /// Trades Teams' SSO token for the connection's token. `None`: the exchange failed.
    pub async fn exchange(&self, user: &UserKey<'_>, sso_token: &str) -> Result<Option<TokenResponse>, UserTokenError> {
        let url = format!("{}/api/usertoken/exchange", self.base_url);
        let request = self.http.post(url).query(&self.user_query(user)).json(&json!({"token": sso_token}));
        let response = self.send(request).await?;
        match response.status() {
            status if status.is_success() => self.token_or_none(response).await,
            status if status.is_client_error() => Ok(None),
            status => Err(UserTokenError::Http(status.as_u16())),
        }
    }

    pub async fn sign_out(&self, user: &UserKey<'_>) -> Result<(), UserTokenError> {
        let url = format!("{}/api/usertoken/SignOut", self.base_url);
        let response = self.send(self.http.delete(url).query(&self.user_query(user))).await?;
        if response.status().is_success() || response.status() == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(UserTokenError::Http(response.status().as_u16()))
        }
    }

    fn user_query(&self, user: &UserKey<'_>) -> Vec<(&'static str, String)> {
        vec![
            ("userId", user.user_id.to_string()),
            ("connectionName", self.connection_name.clone()),
            ("channelId", user.channel_id.to_string()),
        ]
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, UserTokenError> {
        let token = self.token.token().await?;
        request
            .bearer_auth(token)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| UserTokenError::Unreachable(e.without_url().to_string()))
    }

    async fn token_or_none(&self, response: reqwest::Response) -> Result<Option<TokenResponse>, UserTokenError> {
        match response.status() {
            StatusCode::OK => {
                let token: TokenResponse =
                    response.json().await.map_err(|e| UserTokenError::Unreachable(e.without_url().to_string()))?;
                Ok((!token.token.is_empty()).then_some(token))
            }
            StatusCode::NOT_FOUND | StatusCode::NO_CONTENT => Ok(None),
            status => Err(UserTokenError::Http(status.as_u16())),
        }
    }
}

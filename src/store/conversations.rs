//! Conversation references: what the bot needs to post into a chat later,
//! without being asked (scheduled posts, operations finishing after a restart).

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};

/// Where and how to reach a conversation proactively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationReference {
    pub conversation_id: String,
    pub service_url: String,
    pub channel_id: String,
    pub bot_id: String,
    pub tenant_id: Option<String>,
    pub conversation_type: Option<String>,
    pub teams_channel_id: Option<String>,
    /// The team of a channel conversation (Teams' `channelData.team.id`).
    pub team_id: Option<String>,
    /// Who added the bot (object id), to tell if the chat removes it.
    pub installed_by_oid: Option<String>,
}

impl Store {
    pub async fn save_conversation(&self, reference: &ConversationReference, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO conversations (conversation_id, service_url, channel_id, bot_id, tenant_id, conversation_type,
                                        teams_channel_id, installed_by_oid, updated_ms, team_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (conversation_id) DO UPDATE SET
                service_url = excluded.service_url, channel_id = excluded.channel_id, bot_id = excluded.bot_id,
                tenant_id = excluded.tenant_id, conversation_type = excluded.conversation_type,
                teams_channel_id = excluded.teams_channel_id,
                team_id = COALESCE(excluded.team_id, conversations.team_id),
                installed_by_oid = COALESCE(excluded.installed_by_oid, conversations.installed_by_oid),
                updated_ms = excluded.updated_ms",
        )
        .bind(&reference.conversation_id)
        .bind(&reference.service_url)
        .bind(&reference.channel_id)
        .bind(&reference.bot_id)
        .bind(&reference.tenant_id)
        .bind(&reference.conversation_type)
        .bind(&reference.teams_channel_id)
        .bind(&reference.installed_by_oid)
        .bind(now_ms)
        .bind(&reference.team_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn conversation(&self, conversation_id: &str) -> Result<Option<ConversationReference>, StoreError> {
        let row = sqlx::query("SELECT * FROM conversations WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(reference_from_row).transpose()
    }

    /// Forgets a conversation (the bot was removed from it, or the channel
    /// deleted) and its scheduled posts at once, so nothing more is sent
    /// there. True if it was known.
    pub async fn forget_conversation(&self, conversation_id: &str) -> Result<bool, StoreError> {
        Ok(self.forget_where("conversation_id = $1", conversation_id).await? > 0)
    }

    /// Forgets every conversation of a Teams channel (its conversation id
    /// carries `;messageid=…` for a thread; the channel id is the same).
    pub async fn forget_channel(&self, teams_channel_id: &str) -> Result<u64, StoreError> {
        self.forget_where("teams_channel_id = $1", teams_channel_id).await
    }

    /// Forgets every conversation of a team (the bot removed from it, the
    /// team deleted or archived) and their scheduled posts.
    pub async fn forget_team(&self, team_id: &str) -> Result<u64, StoreError> {
        self.forget_where("team_id = $1", team_id).await
    }

    /// Deletes the conversations matching `condition` (one bound value) and
    /// their subscriptions, in one transaction; returns how many conversations.
    async fn forget_where(&self, condition: &str, value: &str) -> Result<u64, StoreError> {
        let mut transaction = self.pool().begin().await?;
        sqlx::query(&format!(
            "DELETE FROM subscriptions WHERE conversation_id IN (SELECT conversation_id FROM conversations WHERE {condition})"
        ))
        .bind(value)
        .execute(&mut *transaction)
        .await?;
        let deleted = sqlx::query(&format!("DELETE FROM conversations WHERE {condition}"))
            .bind(value)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(deleted.rows_affected())
    }
}

fn reference_from_row(row: &AnyRow) -> Result<ConversationReference, StoreError> {
    Ok(ConversationReference {
        conversation_id: column(row, "conversation_id")?,
        service_url: column(row, "service_url")?,
        channel_id: column(row, "channel_id")?,
        bot_id: column(row, "bot_id")?,
        tenant_id: column(row, "tenant_id")?,
        conversation_type: column(row, "conversation_type")?,
        teams_channel_id: column(row, "teams_channel_id")?,
        team_id: column(row, "team_id")?,
        installed_by_oid: column(row, "installed_by_oid")?,
    })
}

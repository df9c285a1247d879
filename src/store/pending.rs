//! Commands waiting for their author to sign in: typed once, run after the
//! sign-in succeeds, on whichever instance receives the sign-in.

use super::{Store, StoreError};

impl Store {
    /// Remembers the command `user` typed in `conversation` (the newest wins).
    pub async fn save_pending_command(
        &self,
        conversation_id: &str,
        user_id: &str,
        command: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pending_commands (conversation_id, user_id, command, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET command = excluded.command, created_ms = excluded.created_ms",
        )
        .bind(conversation_id)
        .bind(user_id)
        .bind(command)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes (and removes) the waiting command, if it is younger than `max_age_ms`.
    pub async fn take_pending_command(
        &self,
        conversation_id: &str,
        user_id: &str,
        now_ms: i64,
        max_age_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let command: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM pending_commands WHERE conversation_id = $1 AND user_id = $2 RETURNING command, created_ms",
        )
        .bind(conversation_id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(command.filter(|(_, created)| now_ms - created <= max_age_ms).map(|(command, _)| command))
    }
}

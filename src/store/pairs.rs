//! The registry of DR pairs, and each conversation's default pair.
//!
//! A pair row holds the pair as JSON and, beside it, the side that is
//! active: a failover flips that column with a compare-and-set, so two
//! instances cannot both believe they moved it. Removing a pair is refused
//! while an operation of that pair is pending or running, in the same
//! statement that deletes it.

use sqlx::any::AnyRow;

use super::{column, Store, StoreError};
use crate::pairs::{Pair, Side};

/// Where a stored pair came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `[[pairs]]` or the old single-pair keys: rewritten from the file at start-up.
    Config,
    /// `pair add` in chat or on the command line.
    Added,
    /// A `deploy spoke` whose bootstrap succeeded.
    Deployed,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Added => "added",
            Origin::Deployed => "deployed",
        }
    }
}

/// What `remove_pair` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NotFound,
    /// An operation of the pair is pending or running.
    InFlight,
}

impl Store {
    /// Adds `pair`; false when a pair of that name exists (it is left as is).
    pub async fn add_pair(&self, pair: &Pair, origin: Origin, now_ms: i64) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO pairs (name, spec, active_side, origin, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&pair.name)
        .bind(spec_of(pair)?)
        .bind(pair.active.as_str())
        .bind(origin.as_str())
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Writes `pair` as the configuration describes it: created when new,
    /// its settings replaced when not. The active side stays the store's
    /// (a failover is not undone by a restart).
    pub async fn seed_pair(&self, pair: &Pair, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pairs (name, spec, active_side, origin, created_ms, updated_ms)
             VALUES ($1, $2, $3, 'config', $4, $4)
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_ms = excluded.updated_ms",
        )
        .bind(&pair.name)
        .bind(spec_of(pair)?)
        .bind(pair.active.as_str())
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Gives a pair that has no warehouse `warehouse_id` (a spoke deployed
    /// again once a workspace admin could make its warehouse); a pair that
    /// has one keeps it. Compare-and-set on the stored spec, so a concurrent
    /// change is not overwritten. Whether it was set.
    pub async fn set_missing_warehouse(&self, name: &str, warehouse_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let Some(row) =
            sqlx::query("SELECT spec FROM pairs WHERE name = $1").bind(name).fetch_optional(self.pool()).await?
        else {
            return Ok(false);
        };
        let spec: String = column(&row, "spec")?;
        let mut pair: Pair = serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(format!("pair: {e}")))?;
        if pair.warehouse_id.is_some() {
            return Ok(false);
        }
        pair.warehouse_id = Some(warehouse_id.to_string());
        let updated = sqlx::query("UPDATE pairs SET spec = $1, updated_ms = $2 WHERE name = $3 AND spec = $4")
            .bind(spec_of(&pair)?)
            .bind(now_ms)
            .bind(name)
            .bind(&spec)
            .execute(self.pool())
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Sets the primary workspace's warehouse of the pair `name` (`pair set
    /// NAME primary_warehouse=ID`: a deployed spoke registers its pair
    /// without one). Compare-and-set on the stored spec, so a concurrent
    /// change is not overwritten. Whether it was set (false: no such pair,
    /// or it changed meanwhile).
    pub async fn set_primary_warehouse(&self, name: &str, warehouse_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let Some(row) =
            sqlx::query("SELECT spec FROM pairs WHERE name = $1").bind(name).fetch_optional(self.pool()).await?
        else {
            return Ok(false);
        };
        let spec: String = column(&row, "spec")?;
        let mut pair: Pair = serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(format!("pair: {e}")))?;
        pair.primary_warehouse_id = Some(warehouse_id.to_string());
        let updated = sqlx::query("UPDATE pairs SET spec = $1, updated_ms = $2 WHERE name = $3 AND spec = $4")
            .bind(spec_of(&pair)?)
            .bind(now_ms)
            .bind(name)
            .bind(&spec)
            .execute(self.pool())
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// The pair named `name`.
    pub async fn pair(&self, name: &str) -> Result<Option<Pair>, StoreError> {
        let row = sqlx::query("SELECT spec, active_side FROM pairs WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(pair_from_row).transpose()
    }

    /// Every pair, by name.
    pub async fn pairs(&self) -> Result<Vec<Pair>, StoreError> {
        let rows = sqlx::query("SELECT spec, active_side FROM pairs ORDER BY name").fetch_all(self.pool()).await?;
        rows.iter().map(pair_from_row).collect()
    }

    /// Removes the pair unless an operation of it is in flight, and forgets
    /// it as any conversation's default.
    pub async fn remove_pair(&self, name: &str) -> Result<Removal, StoreError> {
        let removed = sqlx::query(
            "DELETE FROM pairs WHERE name = $1
             AND NOT EXISTS (SELECT 1 FROM operations WHERE pair = $1 AND state IN ('pending', 'running'))",
        )
        .bind(name)
        .execute(self.pool())
        .await?;
        if removed.rows_affected() == 1 {
            sqlx::query("DELETE FROM conversation_pairs WHERE pair_name = $1").bind(name).execute(self.pool()).await?;
            return Ok(Removal::Removed);
        }
        Ok(match self.pair(name).await? {
            Some(_) => Removal::InFlight,
            None => Removal::NotFound,
        })
    }

    /// Moves the active side from `from` to `to`; false when it was not `from`.
    pub async fn set_active_side(&self, name: &str, from: Side, to: Side, now_ms: i64) -> Result<bool, StoreError> {
        let moved =
            sqlx::query("UPDATE pairs SET active_side = $3, updated_ms = $4 WHERE name = $1 AND active_side = $2")
                .bind(name)
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(now_ms)
                .execute(self.pool())
                .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// `use PAIR`: the pair a conversation's commands mean when they name none.
    pub async fn set_conversation_pair(
        &self,
        conversation_id: &str,
        pair: &str,
        set_by_oid: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO conversation_pairs (conversation_id, pair_name, set_by_oid, updated_ms)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (conversation_id) DO UPDATE SET
                pair_name = excluded.pair_name, set_by_oid = excluded.set_by_oid, updated_ms = excluded.updated_ms",
        )
        .bind(conversation_id)
        .bind(pair)
        .bind(set_by_oid)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The conversation's default pair, if it set one.
    pub async fn conversation_pair(&self, conversation_id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT pair_name FROM conversation_pairs WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_optional(self.pool())
            .await?)
    }
}

fn spec_of(pair: &Pair) -> Result<String, StoreError> {
    serde_json::to_string(pair).map_err(|e| StoreError::Invalid(format!("pair {}: {e}", pair.name)))
}

fn pair_from_row(row: &AnyRow) -> Result<Pair, StoreError> {
    let spec: String = column(row, "spec")?;
    let mut pair: Pair = serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(format!("pair: {e}")))?;
    let side: String = column(row, "active_side")?;
    pair.active = Side::parse(&side).ok_or_else(|| StoreError::Corrupt(format!("pair {}: side {side}", pair.name)))?;
    Ok(pair)
}

//! Each pair's mapping table for workspace assets: how a primary reference
//! (a cluster policy id, a warehouse id, a principal, a path prefix) is named
//! in the secondary. Planning reads it whole ([`AssetMapping`]); an id it
//! does not map blocks the object that uses it.

use crate::assets::mapping::{AssetMapping, MappingKind};

use super::{column, Store, StoreError};

impl Store {
    /// Maps `source` of `kind` to `target` for `pair` (replacing a mapping).
    pub async fn set_asset_mapping(
        &self,
        pair: &str,
        kind: MappingKind,
        source: &str,
        target: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO asset_mappings (pair, kind, source, target) VALUES ($1, $2, $3, $4)
             ON CONFLICT (pair, kind, source) DO UPDATE SET target = excluded.target",
        )
        .bind(pair)
        .bind(kind.as_str())
        .bind(source)
        .bind(target)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets one mapping; true when there was one.
    pub async fn remove_asset_mapping(&self, pair: &str, kind: MappingKind, source: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM asset_mappings WHERE pair = $1 AND kind = $2 AND source = $3")
            .bind(pair)
            .bind(kind.as_str())
            .bind(source)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `pair`'s mapping table. A row of a kind this build does not know is
    /// an error, not ignored: planning without it could copy a wrong id.
    pub async fn asset_mapping(&self, pair: &str) -> Result<AssetMapping, StoreError> {
        let rows = sqlx::query("SELECT kind, source, target FROM asset_mappings WHERE pair = $1")
            .bind(pair)
            .fetch_all(self.pool())
            .await?;
        let mut mapping = AssetMapping::default();
        for row in &rows {
            let kind: String = column(row, "kind")?;
            let kind = MappingKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("asset_mappings: unknown kind {kind}")))?;
            mapping.insert(kind, &column::<String>(row, "source")?, &column::<String>(row, "target")?);
        }
        Ok(mapping)
    }
}

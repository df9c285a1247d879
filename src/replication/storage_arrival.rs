//! Has storage replication delivered a non-Delta table's files to the
//! secondary's copy of its location yet?
//!
//! A non-Delta external table is registered on its geo-replicated location,
//! whose files the storage account copies on its own schedule. Registering
//! on a path that is still empty "works" (the columns are given) but reads
//! as an empty table, and a partitioned one would not discover partitions
//! that arrive later without `MSCK REPAIR TABLE`. So drbot lists the path
//! first (`LIST url LIMIT 1`, which needs READ FILES on the external
//! location covering it: SQL reference, LIST) and, while it is empty, reports
//! the table as waiting for storage replication, to be registered by a later
//! cycle: a state to wait out, not a failure.

use tokio::time::Instant;

use crate::databricks::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

use super::sql::quote_literal;

/// What the listing of a location said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// At least one object is there.
    Arrived,
    /// Nothing yet: the path is empty, or it does not exist.
    Waiting(String),
}

/// `LIST '<location>' LIMIT 1`.
pub fn listing_statement(location: &str) -> Result<String, super::sql::SqlError> {
    Ok(format!("LIST {} LIMIT 1", quote_literal(location)?))
}

/// Lists `location` on the secondary's warehouse. A path that does not exist
/// answers `[PATH_NOT_FOUND]` (Databricks error classes), which here means
/// the same as an empty one; any other failure is the caller's to handle.
pub async fn look(
    client: &WorkspaceClient,
    token: &AccessToken,
    warehouse_id: &str,
    location: &str,
    deadline: Instant,
) -> Result<Arrival, DatabricksError> {
    let statement = listing_statement(location).map_err(|e| DatabricksError::InvalidParameter(e.to_string()))?;
    let listed = client.query(token, warehouse_id, &statement, deadline).await;
    classify(location, listed.map(|(_, rows)| rows.len()))
}

/// The arrival a listing's answer (its row count, or its error) means.
fn classify(location: &str, listed: Result<usize, DatabricksError>) -> Result<Arrival, DatabricksError> {
    let waiting = || Arrival::Waiting(format!("waiting for storage replication: no files at {location} yet"));
    match listed {
        Ok(0) => Ok(waiting()),
        Ok(_) => Ok(Arrival::Arrived),
        Err(DatabricksError::Api { message, .. }) if message.starts_with("[PATH_NOT_FOUND]") => Ok(waiting()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_missing_path_is_waited_for_and_anything_else_is_an_error() {
        let at = "abfss://data@geo.dfs.core.windows.net/landing/csv";
        assert_eq!(classify(at, Ok(1)), Ok(Arrival::Arrived));
        assert!(matches!(classify(at, Ok(0)), Ok(Arrival::Waiting(reason)) if reason.contains(at)));
        let missing = DatabricksError::Api {
            status: 200,
            code: "BAD_REQUEST".into(),
            message: format!("[PATH_NOT_FOUND] Path does not exist: {at}."),
        };
        assert!(matches!(classify(at, Err(missing)), Ok(Arrival::Waiting(_))));
        let denied = DatabricksError::Api {
            status: 200,
            code: "PERMISSION_DENIED".into(),
            message: "[INSUFFICIENT_PERMISSIONS] READ FILES".into(),
        };
        assert!(classify(at, Err(denied)).is_err());
    }

    #[test]
    fn the_listing_quotes_the_location() {
        assert_eq!(listing_statement("abfss://c@a/x").unwrap(), "LIST 'abfss://c@a/x' LIMIT 1");
        assert_eq!(listing_statement("abfss://c@a/x' OR 1=1 --").unwrap(), r"LIST 'abfss://c@a/x\' OR 1=1 --' LIMIT 1");
    }
}

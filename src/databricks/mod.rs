//! A typed REST client for Databricks: Unity Catalog, Delta Sharing, SQL statements, Jobs.

//! The Bot Framework protocol: activities, inbound token validation, the connector client. Knows nothing of Databricks.

//! DR readiness: drift, RPO and health, computed from the replication snapshots.

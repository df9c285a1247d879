//! Unity Catalog replication from the primary workspace to the secondary: snapshot, plan, execute.

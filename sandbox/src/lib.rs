//! drbot-sandbox: loopback stand-ins for the services drbot talks to.
//!
//! Entra ID, the Bot Framework (channel, connector, token service), two
//! Databricks workspaces, Azure Resource Manager and Microsoft Graph, each
//! faithful to the wire format of the real service and strict about what it
//! accepts. drbot's tests and the local demo run against it; drbot's
//! production code never depends on it.

pub mod caller;
pub mod faults;
pub mod keys;

//! The SQL warehouse: the statements drbot issues, parsed and executed
//! against the workspace's metastore.

pub mod execute;
pub mod parse;

//! The SQL warehouse: the statements drbot issues, parsed and executed
//! against the workspace's metastore.

pub mod constraints;
pub mod data;
pub mod execute;
pub mod information_schema;
pub mod metadata;
pub mod parse;
pub mod storage;

//! Command-line subcommands that are more than a line in `main.rs`.

pub mod failover;
pub mod history;
pub mod pair;
pub mod replicate;
pub mod verify;

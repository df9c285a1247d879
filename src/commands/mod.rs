//! Text and card actions in, an intent out: the one place for the grammar
//! and the help text.

pub mod catalog;
pub mod grammar;

pub use catalog::{closest_command, CommandHelp, CATALOG};
pub use grammar::{parse, Command, ParseError, Schedule};

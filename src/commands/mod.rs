//! The words of the chat grammar that need no bot: what a command needs
//! before it runs, where Teams offers it, how its arguments are read, and
//! which known name a typo is nearest to.
//!
//! The commands themselves (one file each, parsing and handler together)
//! and the one table that lists them are in `bot/cmd/`. This module stays
//! below them: the scheduler and the manifest use it without the bot.

pub mod suggest;
pub mod words;

pub use words::{Schedule, MAX_NAME_LEN};

use crate::access::Role;

/// Why the text is not a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("nothing to do")]
    Empty,
    #[error("unknown command '{word}'")]
    Unknown { word: String, suggestion: Option<&'static str> },
    #[error("{problem}; usage: {usage}")]
    Usage { command: &'static str, usage: &'static str, problem: String },
}

/// What a command (or a card button) needs before its handler runs. The
/// gate in `src/bot/gate.rs` reads it; nothing else decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Anyone in an allowed tenant (help, signout).
    Anyone,
    /// A signed-in person. In local anonymous mode, where nobody signs in,
    /// the local user must hold one of `[access] local_roles` instead.
    SignedIn,
    /// A signed-in person who holds at least one of drbot's roles.
    AnyRole,
    /// A signed-in person who holds this role (admins hold every role).
    Role(Role),
}

impl Needs {
    /// Whether the handler needs the person behind the turn.
    pub fn sign_in(self) -> bool {
        self != Needs::Anyone
    }
}

/// What a command may show or touch beyond the person's own things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Nothing stored: it answers from the command alone or from the person.
    Person,
    /// This conversation's runs, plans and subscriptions only; admins see
    /// every conversation's. (A `Pair` reach comes with DR pairs.)
    Conversation,
}

/// Where Teams offers a command in its compose box (the manifest's
/// `commandLists`). A command is answered wherever it is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Personal,
    Team,
    GroupChat,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Personal, Scope::Team, Scope::GroupChat];

    /// The manifest's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Personal => "personal",
            Scope::Team => "team",
            Scope::GroupChat => "groupChat",
        }
    }
}

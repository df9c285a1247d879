//! Long-running operations that outlive the turn that started them and the
//! process that ran them: replications and deployments started from chat.
//!
//! [`engine`] is the one lifecycle (lease, takeover, cancel, live card,
//! outcome, final card); a [`kind::OperationKind`] is what differs.

pub mod engine;
pub mod fault;
pub mod kind;
pub mod live_card;
pub mod running;
pub mod settings;

pub use engine::{Engine, EngineParts};
pub use kind::{Ending, Failure, OperationKind};
pub use running::Running;

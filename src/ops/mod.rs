//! Long-running operations that outlive the turn that started them and the
//! process that ran them: replications and deployments started from chat.

pub mod live_card;
pub mod settings;

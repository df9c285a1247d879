//! Named points where the crash tests kill the process.
//!
//! `DRBOT_FAULT=<point>` in the environment makes the process abort at that
//! point, as abruptly as a SIGKILL (no unwinding, no shutdown): the tests
//! start a real `drbot serve` with it and check what a restarted process
//! makes of the state left behind. Without the variable a point does nothing.

/// Aborts the process if `DRBOT_FAULT` names `point`.
pub fn point(point: &str) {
    if std::env::var("DRBOT_FAULT").is_ok_and(|wanted| wanted == point) {
        tracing::error!(point, "DRBOT_FAULT: aborting here");
        std::process::abort();
    }
}

//! Any text typed in chat → a command or a usage error; never a panic, and
//! every name that gets through is a plain identifier.
#![no_main]

use drbot::commands::{parse, Command};
use libfuzzer_sys::fuzz_target;

fn plain(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(Command::Replicate { catalog: Some(name), .. })
        | Ok(Command::Run { id: name })
        | Ok(Command::Cancel { id: name })
        | Ok(Command::DeploySpoke { name }) => assert!(plain(&name), "{name:?} passed as a name"),
        _ => {}
    }
    let _ = drbot::commands::closest_command(text);
});

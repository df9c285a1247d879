//! Any text typed in chat → a command or a usage error; never a panic, every
//! name that gets through is a plain identifier, and the card that answers a
//! mistake stays small whatever was typed.
#![no_main]

use drbot::commands::{parse, Command, ParseError};
use libfuzzer_sys::fuzz_target;

/// Teams refuses cards over 28 KB.
const CARD_LIMIT: usize = 28 * 1024;

fn plain(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fuzz_target!(|data: &[u8]| {
    let Ok(typed) = std::str::from_utf8(data) else { return };
    let text = drbot::teams::mentions::strip_mentions(typed);
    let card = match parse(&text) {
        Ok(Command::Replicate { catalog: Some(name), .. })
        | Ok(Command::Run { id: name })
        | Ok(Command::Cancel { id: name })
        | Ok(Command::DeploySpoke { name }) => {
            assert!(plain(&name), "{name:?} passed as a name");
            return;
        }
        Ok(_) | Err(ParseError::Empty) => return,
        Err(ParseError::Unknown { word, suggestion }) => drbot::cards::unknown_command(&word, suggestion),
        Err(ParseError::Usage { command, usage, problem }) => drbot::cards::usage(command, usage, &problem),
    };
    let card = drbot::cards::with_correlation_id(card, "00000000-0000-4000-8000-000000000000");
    assert!(
        card.to_string().len() < CARD_LIMIT,
        "a {}-byte card for {} typed bytes",
        card.to_string().len(),
        data.len()
    );
    let _ = drbot::commands::closest_command(typed);
});

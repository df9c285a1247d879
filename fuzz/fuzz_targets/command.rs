//! Any text typed in chat → a listed command or a usage error; never a
//! panic, and the card that answers a mistake stays small whatever was
//! typed. (Each command's own parser checks its names; its unit tests pin
//! that.)
#![no_main]

use drbot::bot::cmd::read;
use drbot::commands::ParseError;
use libfuzzer_sys::fuzz_target;

const CARD_LIMIT: usize = 28 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(typed) = std::str::from_utf8(data) else { return };
    let text = drbot::teams::mentions::strip_mentions(typed);
    let card = match read(&text) {
        Ok((spec, invocation)) => {
            assert!(drbot::bot::cmd::find(spec.name).is_some(), "{invocation} read as an unlisted command");
            return;
        }
        Err(ParseError::Empty) => return,
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
    let _ = drbot::bot::cmd::closest(typed);
});

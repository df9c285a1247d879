//! Bytes from the wire → an activity, as `/api/messages` parses it, then
//! everything the bot reads from it before a turn. None of it may panic.
#![no_main]

use drbot::botframework::activity::Activity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(activity) = serde_json::from_slice::<Activity>(data) {
        let _ = activity.teams_channel_data();
        let _ = activity.tenant_id();
        let _ = activity.adds_the_bot();
        if let Some(text) = activity.text.as_deref() {
            let _ = drbot::teams::mentions::strip_mentions(text);
        }
        // What is parsed must serialize back (the bot echoes parts of it).
        serde_json::to_vec(&activity).expect("a parsed activity serializes");
    }
});

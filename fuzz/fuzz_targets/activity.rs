//! Bytes from the wire → an activity, as `/api/messages` parses it, then
//! everything the bot reads from it before and during a turn: Teams'
//! channelData, the tenant, the mention-stripped command, the sign-in
//! invoke's value, the reply addressed back. None of it may panic.
#![no_main]

use drbot::botframework::activity::{Activity, ActivityType};
use drbot::teams::signin::TokenExchangeRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(activity) = serde_json::from_slice::<Activity>(data) else { return };
    let _ = activity.teams_channel_data();
    let _ = activity.tenant_id();
    let _ = activity.adds_the_bot();
    if let Some(text) = activity.text.as_deref() {
        let _ = drbot::bot::cmd::read(&drbot::teams::mentions::strip_mentions(text));
    }
    if let Some(value) = activity.value.clone() {
        // What the invoke handlers read from `value`, by index and by type.
        let _ = value["action"]["verb"].as_str();
        let _ = value["action"]["data"]["text"].as_str();
        let _ = value["state"].as_str();
        let _ = serde_json::from_value::<TokenExchangeRequest>(value);
    }
    let reply = drbot::teams::address_reply(&activity, Activity::new(ActivityType::Message));
    assert_eq!(reply.conversation, activity.conversation);
    // What is parsed must serialize back (the bot echoes parts of it) and parse again.
    let bytes = serde_json::to_vec(&activity).expect("a parsed activity serializes");
    let again: Activity = serde_json::from_slice(&bytes).expect("what drbot writes, drbot reads");
    assert_eq!(again.kind, activity.kind);
});

//! Any template and data → a card or an error, never a panic. The input is
//! `template JSON` NUL `data JSON`; text that is not JSON also exercises the
//! expression parser on its own, as the text of a `${…}`.
#![no_main]

use drbot::cards::template::{expand, Template};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let (template_bytes, data_bytes) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &b"{}"[..]),
    };
    let data: Value = serde_json::from_slice(data_bytes).unwrap_or(json!({"items": [1, 2, 3], "name": "x"}));
    match serde_json::from_slice::<Value>(template_bytes) {
        Ok(template) => {
            if let Ok(parsed) = Template::parse(&template) {
                if let Ok(card) = parsed.expand(&data) {
                    // What comes out is JSON the bot can send.
                    serde_json::to_vec(&card).expect("an expanded card serializes");
                }
            }
        }
        Err(_) => {
            let Ok(text) = std::str::from_utf8(template_bytes) else { return };
            let _ = expand(&json!({"type": "TextBlock", "text": format!("${{{text}}}")}), &data);
        }
    }
});

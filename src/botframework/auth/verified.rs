//! Tokens whose signature was already checked, remembered by their exact
//! bytes until they expire.
//!
//! A channel signs one token and sends it with every activity until it
//! expires (an hour), so without this every request pays an RSA
//! verification (about half of a `help` turn's instructions, measured with
//! callgrind: docs/BENCHMARKS.md). A remembered token is used only while the
//! key that verified it is still the published key for its id (a rotated or
//! withdrawn key drops it), only for the issuer it was verified for, and only
//! inside its `exp`/`nbf` window; everything that depends on the activity
//! (service URL, endorsements) is still checked on every request.
//!
//! Only tokens that passed verification get in, so a caller cannot fill the
//! map with made-up ones; it is bounded anyway, and expired entries go first.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use super::keys::PublishedKey;

/// At most this many tokens are remembered (a handful of channels each
/// reuse one token; this leaves room for rotation overlap).
pub const MAX_REMEMBERED: usize = 256;

struct Remembered {
    key: Arc<PublishedKey>,
    issuer: String,
    claims: Value,
    /// `exp` and `nbf`, seconds since the epoch, without the skew.
    expires: u64,
    not_before: u64,
}

/// The remembered tokens of one authenticator.
#[derive(Default)]
pub struct VerifiedTokens {
    tokens: Mutex<HashMap<String, Remembered>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it was verified with this very `key` for
    /// `issuer` and is inside its validity window at `now` (± `skew`).
    pub fn get(&self, token: &str, key: &Arc<PublishedKey>, issuer: &str, now: u64, skew: u64) -> Option<Value> {
        let tokens = self.tokens.lock();
        let remembered = tokens.get(token)?;
        let fresh = now <= remembered.expires.saturating_add(skew)
            && remembered.not_before <= now.saturating_add(skew)
            && remembered.issuer == issuer
            && Arc::ptr_eq(&remembered.key, key);
        fresh.then(|| remembered.claims.clone())
    }

    /// Remembers a token that `key` just verified, with its claims.
    pub fn remember(&self, token: &str, key: &Arc<PublishedKey>, issuer: &str, claims: &Value, now: u64, skew: u64) {
        let Some(expires) = claims.get("exp").and_then(Value::as_u64) else { return };
        let not_before = claims.get("nbf").and_then(Value::as_u64).unwrap_or(0);
        let mut tokens = self.tokens.lock();
        if tokens.len() >= MAX_REMEMBERED {
            tokens.retain(|_, r| now <= r.expires.saturating_add(skew));
            if tokens.len() >= MAX_REMEMBERED {
                tokens.clear();
            }
        }
        let remembered =
            Remembered { key: key.clone(), issuer: issuer.to_string(), claims: claims.clone(), expires, not_before };
        tokens.insert(token.to_string(), remembered);
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.tokens.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> Arc<PublishedKey> {
        Arc::new(PublishedKey { decoding: jsonwebtoken::DecodingKey::from_secret(b"unused"), endorsements: Vec::new() })
    }

    #[test]
    fn a_token_is_remembered_only_for_its_key_issuer_and_window() {
        let tokens = VerifiedTokens::default();
        let (k, other) = (key(), key());
        let claims = json!({"exp": 2_000, "nbf": 1_000, "aud": "bot"});
        tokens.remember("t", &k, "iss", &claims, 1_500, 300);

        assert_eq!(tokens.get("t", &k, "iss", 1_500, 300), Some(claims.clone()));
        assert_eq!(tokens.get("t", &k, "iss", 2_300, 300), Some(claims.clone()), "inside the skew");
        assert_eq!(tokens.get("t", &k, "iss", 2_301, 300), None, "expired");
        assert_eq!(tokens.get("t", &k, "iss", 699, 300), None, "not yet valid");
        assert_eq!(tokens.get("t", &other, "iss", 1_500, 300), None, "another key with the same id");
        assert_eq!(tokens.get("t", &k, "other", 1_500, 300), None, "another issuer");
        assert_eq!(tokens.get("u", &k, "iss", 1_500, 300), None, "another token");
    }

    #[test]
    fn the_map_stays_bounded_and_drops_expired_tokens_first() {
        let tokens = VerifiedTokens::default();
        let k = key();
        tokens.remember("old", &k, "iss", &json!({"exp": 10}), 5, 0);
        for n in 0..MAX_REMEMBERED - 1 {
            tokens.remember(&format!("t{n}"), &k, "iss", &json!({"exp": 10_000}), 5, 0);
        }
        assert_eq!(tokens.len(), MAX_REMEMBERED);
        tokens.remember("new", &k, "iss", &json!({"exp": 10_000}), 100, 0);
        assert_eq!(tokens.len(), MAX_REMEMBERED, "the expired one made room");
        assert!(tokens.get("old", &k, "iss", 5, 0).is_none());
        assert!(tokens.get("new", &k, "iss", 100, 0).is_some());
        tokens.remember("newer", &k, "iss", &json!({"exp": 10_000}), 100, 0);
        assert!(tokens.len() <= MAX_REMEMBERED);
    }

    #[test]
    fn a_token_without_exp_is_not_remembered() {
        let tokens = VerifiedTokens::default();
        let k = key();
        tokens.remember("t", &k, "iss", &json!({"aud": "bot"}), 5, 0);
        assert!(tokens.is_empty());
    }
}

//! RSA signing keys for the sandbox's token issuers, published as a JWKS.
//!
//! Every issuer in the sandbox (Entra ID, the Bot Framework channel) owns a
//! [`KeySet`]. Tokens are signed with the current key; `rotate` publishes a
//! new key and keeps the previous one for overlap, as the real services do.
//! [`SigningKey::generate`] also makes keys that are *not* published, which
//! the tests use to forge tokens.

use std::collections::VecDeque;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::{Mutex, RwLock};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// One RSA key pair with its key id and, for the Bot Framework, the channels
/// it is endorsed for.
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    n: String,
    e: String,
    pub endorsements: Vec<String>,
    /// The JWK's `use` (RFC 7517 §4.2): `sig` for every key Entra ID and the
    /// Bot Framework publish; a test may publish an `enc` key to see it refused.
    key_use: &'static str,
    /// The most recent tokens this key signed, so a test can look for each
    /// of them where no token may appear (logs, cards, SQL).
    issued: Mutex<VecDeque<String>>,
}

/// How many signed tokens a key remembers (a load test signs thousands).
pub const ISSUED_KEPT: usize = 4096;

impl SigningKey {
    /// A fresh 2048-bit key. Not published anywhere until added to a set.
    pub fn generate(kid: impl Into<String>, endorsements: Vec<String>) -> SigningKey {
        let mut rng = rand::thread_rng();
        let private = RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation");
        let der = private.to_pkcs1_der().expect("PKCS#1 encoding");
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        SigningKey {
            kid: kid.into(),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding: DecodingKey::from_rsa_components(&n, &e).expect("RSA components"),
            n,
            e,
            endorsements,
            key_use: "sig",
            issued: Mutex::new(VecDeque::new()),
        }
    }

    /// The same key, published as an encryption key (`"use": "enc"`).
    pub fn for_encryption(mut self) -> SigningKey {
        self.key_use = "enc";
        self
    }

    /// The tokens this key signed, oldest first (at most [`ISSUED_KEPT`]).
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().iter().cloned().collect()
    }

    /// The key as a JWK, the shape Entra ID and the Bot Framework publish.
    pub fn jwk(&self) -> Value {
        let mut jwk = json!({
            "kty": "RSA",
            "use": self.key_use,
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.n,
            "e": self.e,
        });
        if !self.endorsements.is_empty() {
            jwk["endorsements"] = json!(self.endorsements);
        }
        jwk
    }

    /// Signs `claims` with this key. `alg` must be an RSA algorithm.
    pub fn sign(&self, alg: Algorithm, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, claims, &self.encoding).expect("JWT signing");
        let mut issued = self.issued.lock();
        if issued.len() == ISSUED_KEPT {
            issued.pop_front();
        }
        issued.push_back(token.clone());
        token
    }

    /// The raw modulus (base64url), for tests that need the public key bytes.
    pub fn modulus_b64(&self) -> &str {
        &self.n
    }
}

/// The keys one issuer publishes: the newest signs, the previous stays
/// published so tokens signed just before a rotation still verify.
pub struct KeySet {
    keys: RwLock<Vec<Arc<SigningKey>>>,
    endorsements: Vec<String>,
    prefix: String,
}

impl KeySet {
    /// A set with one key. `prefix` makes key ids recognisable in logs.
    pub fn new(prefix: &str, endorsements: Vec<String>) -> KeySet {
        let first = SigningKey::generate(format!("{prefix}-{}", short_id()), endorsements.clone());
        KeySet { keys: RwLock::new(vec![Arc::new(first)]), endorsements, prefix: prefix.to_string() }
    }

    /// The key new tokens are signed with.
    pub fn current(&self) -> Arc<SigningKey> {
        self.keys.read().last().cloned().expect("a key set is never empty")
    }

    /// Publishes a new signing key; keeps only the one before it. Returns the new kid.
    pub fn rotate(&self) -> String {
        let key = Arc::new(SigningKey::generate(format!("{}-{}", self.prefix, short_id()), self.endorsements.clone()));
        let kid = key.kid.clone();
        let mut keys = self.keys.write();
        keys.push(key);
        let excess = keys.len().saturating_sub(2);
        keys.drain(..excess);
        kid
    }

    /// Publishes an extra key that does not sign (tests: a key endorsed for another channel).
    pub fn publish(&self, key: Arc<SigningKey>) {
        self.keys.write().insert(0, key);
    }

    /// Every token the published keys signed (see [`SigningKey::issued`]).
    pub fn issued(&self) -> Vec<String> {
        self.keys.read().iter().flat_map(|k| k.issued()).collect()
    }

    /// The published key document: `{"keys": [...]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.read().iter().map(|k| k.jwk()).collect::<Vec<_>>() })
    }

    /// Signs with the current key, RS256.
    pub fn sign(&self, claims: &Value) -> String {
        self.current().sign(Algorithm::RS256, claims)
    }

    /// Verifies a token signed by one of the published keys: signature,
    /// `exp`/`nbf` (60 s leeway), `iss` and `aud`. Returns the claims.
    pub fn verify(&self, token: &str, issuers: &[&str], audiences: &[&str]) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512) {
            return Err("unsupported algorithm".into());
        }
        let kid = header.kid.ok_or("no kid")?;
        let key = self.keys.read().iter().find(|k| k.kid == kid).cloned().ok_or("unknown kid")?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = 60;
        validation.validate_nbf = true;
        validation.set_issuer(issuers);
        validation.set_audience(audiences);
        jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| e.to_string())
    }
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_rotation_keeps_the_previous_key() {
        let set = KeySet::new("test", vec!["msteams".into()]);
        let exp = chrono::Utc::now().timestamp() + 600;
        let claims = json!({"iss": "i", "aud": "a", "exp": exp});
        let before = set.sign(&claims);
        set.rotate();
        let after = set.sign(&claims);
        assert!(set.verify(&before, &["i"], &["a"]).is_ok());
        assert!(set.verify(&after, &["i"], &["a"]).is_ok());
        assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 2);
        set.rotate();
        assert_eq!(set.verify(&before, &["i"], &["a"]).unwrap_err(), "unknown kid");
        assert!(set.verify(&after, &["i"], &["b"]).is_err());
    }
}

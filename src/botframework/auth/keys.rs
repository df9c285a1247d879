//! Signing keys from an OpenID metadata document, cached and refreshed the
//! way the Bot Framework asks: keys older than 24 hours are fetched again,
//! and a token signed with a key we do not know may force a refresh, but at
//! most once an hour. Concurrent requests share one refresh (single flight),
//! so a flood of tokens with made-up key ids costs one fetch, not thousands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use parking_lot::{Mutex, RwLock};
use serde::Deserialize;

use crate::clock::Clock;

/// Keys older than this are fetched again.
pub const KEY_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// An unknown key id forces a refresh at most this often.
pub const UNKNOWN_KID_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);

/// A published signing key.
pub struct PublishedKey {
    pub decoding: DecodingKey,
    /// Channels the key may sign for (Bot Framework keys only).
    pub endorsements: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no published key has this id")]
    UnknownKey,
    #[error("signing keys unavailable: {0}")]
    Unavailable(String),
}

struct Loaded {
    keys: HashMap<String, Arc<PublishedKey>>,
    issuer: Option<String>,
    fetched_at: Instant,
}

/// The keys behind one OpenID metadata URL.
pub struct KeySource {
    metadata_url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    loaded: RwLock<Option<Loaded>>,
    refresh_lock: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    last_unknown_kid_refresh: Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
    #[serde(default)]
    issuer: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
    /// `sig` or `enc` (RFC 7517 §4.2); a key published for encryption never verifies a token.
    #[serde(default, rename = "use")]
    key_use: Option<String>,
}

impl KeySource {
    pub fn new(metadata_url: &str, http: reqwest::Client, clock: Arc<dyn Clock>) -> KeySource {
        KeySource {
            metadata_url: metadata_url.to_string(),
            http,
            clock,
            loaded: RwLock::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            last_unknown_kid_refresh: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// Whether keys have been loaded at least once.
    pub fn is_loaded(&self) -> bool {
        self.loaded.read().is_some()
    }

    /// How many times the metadata was fetched successfully (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The `issuer` the metadata document declares.
    pub fn issuer(&self) -> Option<String> {
        self.loaded.read().as_ref().and_then(|l| l.issuer.clone())
    }

    /// The key with this id, refreshing when the rules allow.
    pub async fn key(&self, kid: &str) -> Result<Arc<PublishedKey>, KeyError> {
        let (found, stale) = self.lookup(kid);
        if stale {
            self.refresh().await?;
            return self.lookup(kid).0.ok_or(KeyError::UnknownKey);
        }
        if let Some(key) = found {
            return Ok(key);
        }
        if !self.may_refresh_for_unknown_kid() {
            return Err(KeyError::UnknownKey);
        }
        self.refresh().await?;
        self.lookup(kid).0.ok_or(KeyError::UnknownKey)
    }

    /// Loads keys if none are loaded (start-up and readiness).
    pub async fn ensure_loaded(&self) -> Result<(), KeyError> {
        if self.is_loaded() {
            return Ok(());
        }
        self.refresh().await
    }

    fn lookup(&self, kid: &str) -> (Option<Arc<PublishedKey>>, bool) {
        let loaded = self.loaded.read();
        match loaded.as_ref() {
            None => (None, true),
            Some(l) => {
                let stale = self.clock.now().duration_since(l.fetched_at) >= KEY_MAX_AGE;
                (l.keys.get(kid).cloned(), stale)
            }
        }
    }

    /// True for at most one caller per interval: the one that will refresh.
    fn may_refresh_for_unknown_kid(&self) -> bool {
        let now = self.clock.now();
        let mut last = self.last_unknown_kid_refresh.lock();
        match *last {
            Some(at) if now.duration_since(at) < UNKNOWN_KID_REFRESH_INTERVAL => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// Fetches metadata and keys; concurrent callers wait for one fetch.
    async fn refresh(&self) -> Result<(), KeyError> {
        let seen = self.generation.load(Ordering::Acquire);
        let _guard = self.refresh_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != seen && self.is_loaded() {
            return Ok(());
        }
        match self.fetch().await {
            Ok(loaded) => {
                tracing::info!(metadata = %self.metadata_url, keys = loaded.keys.len(), "signing keys refreshed");
                *self.loaded.write() = Some(loaded);
                self.fetches.fetch_add(1, Ordering::Relaxed);
                self.generation.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(problem) => {
                tracing::warn!(metadata = %self.metadata_url, %problem, "signing key refresh failed");
                if let Some(loaded) = self.loaded.write().as_mut() {
                    // Keep serving the old keys; try again in five minutes, not on every request.
                    let retry_at = self.clock.now() + Duration::from_secs(300);
                    if let Some(backdated) = retry_at.checked_sub(KEY_MAX_AGE) {
                        loaded.fetched_at = loaded.fetched_at.max(backdated);
                    }
                    Ok(())
                } else {
                    Err(KeyError::Unavailable(problem))
                }
            }
        }
    }

    async fn fetch(&self) -> Result<Loaded, String> {
        let metadata: Metadata = self.get_json(&self.metadata_url).await?;
        let jwks: Jwks = self.get_json(&metadata.jwks_uri).await?;
        let keys = jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA" && k.key_use.as_deref().is_none_or(|u| u == "sig"))
            .filter_map(|k| {
                let decoding = DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
                Some((k.kid?, Arc::new(PublishedKey { decoding, endorsements: k.endorsements })))
            })
            .collect::<HashMap<_, _>>();
        if keys.is_empty() {
            return Err("the key document has no usable RSA keys".into());
        }
        Ok(Loaded { keys, issuer: metadata.issuer, fetched_at: self.clock.now() })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response =
            self.http.get(url).timeout(Duration::from_secs(10)).send().await.map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        response.json().await.map_err(|e| format!("GET {url}: {e}"))
    }
}

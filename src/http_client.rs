//! The one way drbot builds an HTTP client.
//!
//! rustls with the roots compiled in, named explicitly: when any crate in the
//! build also enables reqwest's `native-tls` (a default of some SDKs),
//! reqwest's default backend silently becomes OpenSSL, and every client built
//! then loads the system's CA store: about half a billion instructions and
//! megabytes resident per client, for TLS drbot never asked for.

/// The user agent drbot's requests carry.
pub const USER_AGENT: &str = concat!("drbot/", env!("CARGO_PKG_VERSION"));

/// A pooled connection unused this long is closed (reqwest keeps one for 90 s
/// by default). A burst of replies opens dozens of connections to the
/// connector, each holding its buffers; a quieter minute should not keep
/// them. Checked once per period, so one goes within twice this.
pub const IDLE_CONNECTION: std::time::Duration = std::time::Duration::from_secs(20);

/// A client builder with drbot's TLS, user agent and idle-connection limit,
/// for callers that set more.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_rustls_tls().user_agent(USER_AGENT).pool_idle_timeout(IDLE_CONNECTION)
}

/// A client with drbot's defaults.
///
/// Panics only where `reqwest::Client::new` would: when the TLS backend
/// cannot start at all, which no request could survive either.
pub fn client() -> reqwest::Client {
    builder().build().expect("the TLS backend starts")
}

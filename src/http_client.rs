//! The one way drbot builds an HTTP client.
//!
//! rustls with the roots compiled in, named explicitly: when any crate in the
//! build also enables reqwest's `native-tls` (a default of some SDKs),
//! reqwest's default backend silently becomes OpenSSL, and every client built
//! then loads the system's CA store: about half a billion instructions and
//! megabytes resident per client, for TLS drbot never asked for.

/// The user agent drbot's requests carry.
pub const USER_AGENT: &str = concat!("drbot/", env!("CARGO_PKG_VERSION"));

/// A client builder with drbot's TLS and user agent, for callers that set more.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_rustls_tls().user_agent(USER_AGENT)
}

/// A client with drbot's defaults.
///
/// Panics only where `reqwest::Client::new` would: when the TLS backend
/// cannot start at all, which no request could survive either.
pub fn client() -> reqwest::Client {
    builder().build().expect("the TLS backend starts")
}

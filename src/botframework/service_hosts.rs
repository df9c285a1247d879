//! Where the bot's own token may go.
//!
//! Every connector call carries the bot's Bot Framework token to the
//! activity's `serviceUrl`. A `serviceUrl` is data from the request, so the
//! host is checked against a short allow-list before the token leaves:
//! Teams' and the Bot Framework's published connector hosts by default
//! (configurable), `https` only; loopback (`http` allowed) only where the
//! configuration says so (local mode, or an explicit `127.0.0.1:port` entry
//! for a test connector). The check reads the URL in place: no parsing into
//! an owned value, no allocation, so it costs nothing on the request path.

/// The connector hosts Microsoft publishes for Teams (commercial, GCC,
/// GCC High, DoD) and the Bot Framework's own channels.
pub const PUBLISHED: &[&str] = &[
    "smba.trafficmanager.net",
    "smba.infra.gcc.teams.microsoft.com",
    "smba.infra.gov.teams.microsoft.us",
    "smba.infra.dod.teams.microsoft.us",
    "*.botframework.com",
];

/// The allow-list, as configured.
#[derive(Clone, Debug)]
pub struct ServiceHosts {
    entries: Vec<String>,
    /// Any loopback host may be used (local mode talks to the Playground).
    loopback: bool,
}

impl ServiceHosts {
    pub fn new(entries: &[String], loopback: bool) -> ServiceHosts {
        ServiceHosts { entries: entries.iter().map(|e| e.to_ascii_lowercase()).collect(), loopback }
    }

    /// Whether the bot's token may be sent to `url`.
    pub fn allows(&self, url: &str) -> bool {
        self.allows_with(url, self.loopback)
    }

    /// [`ServiceHosts::allows`], with loopback allowed or not for this caller.
    pub fn allows_with(&self, url: &str, loopback: bool) -> bool {
        let Some((https, authority)) = split(url) else { return false };
        let (host, port) = host_and_port(authority);
        if host.is_empty() {
            return false;
        }
        let is_loopback = is_loopback(host);
        // Plain http is for a connector on this machine only.
        if !https && !is_loopback {
            return false;
        }
        if is_loopback && loopback {
            return true;
        }
        self.entries.iter().any(|entry| matches(entry, host, port))
    }
}

/// Whether `url` is an http(s) URL on this machine (local mode's only replies).
pub fn is_loopback_url(url: &str) -> bool {
    split(url).is_some_and(|(_, authority)| is_loopback(host_and_port(authority).0))
}

/// Whether a configured entry is a host, `host:port` or `*.suffix`.
pub fn is_valid_entry(entry: &str) -> bool {
    let (host, port) = host_and_port(entry);
    let host = host.strip_prefix("*.").unwrap_or(host);
    !host.is_empty()
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
}

/// `(is https, authority)` of an absolute http(s) URL; `None` for anything
/// else, including URLs that carry credentials (`user@host`).
fn split(url: &str) -> Option<(bool, &str)> {
    let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (true, rest)
    } else {
        (false, strip_prefix_ignore_case(url, "http://")?)
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') || authority.contains('%') {
        return None;
    }
    Some((https, authority))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// `host` and the port text after it, if any (`[::1]:80` → `[::1]`, `80`).
fn host_and_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let port = authority[end + 1..].strip_prefix(':');
                (&authority[..=end], port)
            }
            None => ("", None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// `entry` is lower case; `host` is compared without regard to case. A port
/// in the entry must match; an entry without one allows only the default port.
fn matches(entry: &str, host: &str, port: Option<&str>) -> bool {
    let (entry_host, entry_port) = host_and_port(entry);
    let port = port.filter(|p| !p.is_empty() && *p != "443");
    if entry_port.filter(|p| *p != "443") != port {
        return false;
    }
    match entry_host.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => host.eq_ignore_ascii_case(entry_host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(loopback: bool) -> ServiceHosts {
        ServiceHosts::new(&PUBLISHED.iter().map(|h| h.to_string()).collect::<Vec<_>>(), loopback)
    }

    #[test]
    fn teams_and_bot_framework_hosts_are_allowed_over_https() {
        let hosts = published(false);
        assert!(hosts.allows("https://smba.trafficmanager.net/emea/"));
        assert!(hosts.allows("HTTPS://SMBA.trafficmanager.net:443/amer/"));
        assert!(hosts.allows("https://webchat.botframework.com/"));
        assert!(hosts.allows("https://smba.infra.gcc.teams.microsoft.com/"));
        assert!(!hosts.allows("http://smba.trafficmanager.net/emea/"), "never in clear text");
        assert!(!hosts.allows("https://smba.trafficmanager.net:8443/emea/"), "another port");
        assert!(!hosts.allows("https://botframework.com.evil.example/"));
        assert!(!hosts.allows("https://evilbotframework.com/"));
        assert!(!hosts.allows("https://smba.trafficmanager.net@evil.example/"), "credentials trick");
        assert!(!hosts.allows("https://evil.example/smba.trafficmanager.net"));
        assert!(!hosts.allows("https://evil.example\\@smba.trafficmanager.net/"));
        assert!(!hosts.allows("ftp://smba.trafficmanager.net/"));
        assert!(!hosts.allows(""));
    }

    #[test]
    fn loopback_only_when_allowed_or_listed() {
        assert!(!published(false).allows("http://127.0.0.1:3978/"));
        assert!(published(true).allows("http://127.0.0.1:3978/"));
        assert!(published(true).allows("http://localhost:56150/"));
        assert!(published(true).allows("http://[::1]:80/"));
        assert!(!published(true).allows("http://10.0.0.1/"), "loopback means this machine");
        let listed = ServiceHosts::new(&["127.0.0.1:4000".to_string()], false);
        assert!(listed.allows("http://127.0.0.1:4000/"));
        assert!(!listed.allows("http://127.0.0.1:4001/"));
        assert!(listed.allows_with("http://127.0.0.1:4001/", true));
    }

    #[test]
    fn entries_are_checked() {
        assert!(is_valid_entry("smba.trafficmanager.net") && is_valid_entry("*.botframework.com"));
        assert!(is_valid_entry("127.0.0.1:4000"));
        assert!(!is_valid_entry("https://smba.trafficmanager.net/") && !is_valid_entry("") && !is_valid_entry("a:b"));
    }
}

//! `Retry-After`, read one way for every service drbot calls (Databricks,
//! Azure Resource Manager, the Bot Framework connector).
//!
//! RFC 9110 §10.2.3 allows two forms: `delay-seconds` (a whole number) or an
//! `HTTP-date`. Databricks and ARM send seconds, but nothing forbids a date,
//! and a date must not be mistaken for "no advice": the caller would then
//! retry on its own, shorter backoff and only earn more throttling. A date in
//! the past means "now"; anything that is neither form is ignored, and the
//! caller falls back to its own backoff.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// The wait a response's `Retry-After` asks for, if it asks for one.
pub fn from_headers(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse(value, SystemTime::now())
}

/// One header value, a date read against `now`.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Longer than u64 seconds is "a very long time", not garbage.
        return Some(Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates_and_nothing_else() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse("99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO), "a past date means now");
        for garbage in ["-1", "1.5", "", "soon", "+3"] {
            assert_eq!(parse(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn from_the_headers_of_a_response() {
        let mut headers = HeaderMap::new();
        assert_eq!(from_headers(&headers), None);
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(from_headers(&headers), Some(Duration::from_secs(3)));
    }
}

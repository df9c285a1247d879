//! Log capture for tests: every event of every crate, as the JSON lines
//! production writes, kept in memory so a test can search them.
//!
//! A global subscriber can be installed once per test binary, and the work a
//! test starts runs on threads it does not own (sqlx's SQLite worker, tokio's
//! blocking pool), so a per-thread dispatcher would miss lines. Instead one
//! process-wide subscriber writes into one buffer and [`capture`] hands out a
//! view from "now": a test reads the lines logged since it started. Tests of
//! the same binary run in parallel and share the buffer; that only makes the
//! searches stronger (a token of one test appears in no test's lines).
//!
//! Levels: TRACE for drbot and the sandbox, DEBUG for everything else (reqwest,
//! hyper, sqlx log URLs and SQL there). `log` records (reqwest uses `log`)
//! are bridged into tracing by `try_init`.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The filter the capture runs with.
pub const FILTER: &str = "debug,drbot=trace,sandbox=trace";

static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// The process-wide buffer, installing the subscriber on first use.
fn buffer() -> Arc<Mutex<Vec<u8>>> {
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(EnvFilter::new(FILTER))
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(Buffer(buffer.clone()))
                .finish()
                .try_init()
                .expect("the log capture is the only global subscriber of this test binary");
            buffer
        })
        .clone()
}

/// Lines logged since [`capture`] was called.
pub struct Captured {
    buffer: Arc<Mutex<Vec<u8>>>,
    start: usize,
}

/// Starts capturing (installs the subscriber the first time).
pub fn capture() -> Captured {
    let buffer = buffer();
    let start = buffer.lock().len();
    Captured { buffer, start }
}

impl Captured {
    /// Lines given as text, to test the search itself.
    pub fn of_text(text: &str) -> Captured {
        Captured { buffer: Arc::new(Mutex::new(text.as_bytes().to_vec())), start: 0 }
    }

    /// Every line since the capture started.
    pub fn lines(&self) -> Vec<String> {
        let buffer = self.buffer.lock();
        String::from_utf8_lossy(&buffer[self.start..]).lines().map(str::to_string).collect()
    }

    /// Fails the test, naming the line, if any captured line contains one of
    /// `secrets` or anything shaped like a JWT. Short numeric secrets (magic
    /// codes) are matched as whole numbers outside the `timestamp` field, so
    /// a clock reading is not mistaken for one.
    pub fn assert_no_secrets(&self, secrets: &[String]) {
        let lines = self.lines();
        assert!(!lines.is_empty(), "nothing was captured: is the subscriber installed?");
        for line in &lines {
            if let Some(jwt) = find_jwt(line) {
                panic!("a JWT-shaped string ({}…) in a log line: {line}", &jwt[..jwt.len().min(24)]);
            }
            let searchable = without_timestamp(line);
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                let found = if secret.chars().all(|c| c.is_ascii_digit()) {
                    contains_number(&searchable, secret)
                } else {
                    searchable.contains(secret.as_str())
                };
                assert!(!found, "a secret ({}…) in a log line: {line}", &secret[..secret.len().min(12)]);
            }
        }
    }
}

/// The line without its `timestamp` value (JSON lines), or the line itself.
fn without_timestamp(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(mut fields)) => {
            fields.remove("timestamp");
            Value::Object(fields).to_string()
        }
        _ => line.to_string(),
    }
}

/// Whether `number` occurs in `text` with no digit right before or after it.
pub fn contains_number(text: &str, number: &str) -> bool {
    text.match_indices(number).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + number.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// Something shaped like a JWT: an `eyJ` header, a dot, an `eyJ` payload.
pub fn find_jwt(text: &str) -> Option<&str> {
    text.match_indices("eyJ").find_map(|(start, _)| {
        let rest = &text[start..];
        let header = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(rest.len());
        rest[header..].starts_with(".eyJ").then_some(rest)
    })
}

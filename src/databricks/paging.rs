//! Reading a paginated list to its end.
//!
//! Databricks lists page with `max_results` and `page_token`; a page is cut
//! from all objects *before* filtering by what the caller may see, so a page
//! may be empty and still carry a `next_page_token`. The only end is a page
//! without a token. A server that hands out a token it already gave (a loop)
//! or never stops would keep a naive client busy forever: both are errors.

use std::collections::HashSet;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::DatabricksError;

/// More pages than any metastore has (10,000 tables a page in summaries).
const MAX_PAGES: usize = 100_000;

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

impl<T: DeserializeOwned> Page<T> {
    /// The page in `body`, its objects under `key` (absent = none).
    pub fn from_json(body: Value, key: &str) -> Result<Page<T>, DatabricksError> {
        let Value::Object(mut body) = body else {
            return Err(DatabricksError::Protocol(format!("a page of {key} is not a JSON object")));
        };
        let next_page_token = match body.remove("next_page_token") {
            Some(Value::String(token)) if !token.is_empty() => Some(token),
            _ => None,
        };
        let items = match body.remove(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(items) => serde_json::from_value(items)
                .map_err(|e| DatabricksError::Protocol(format!("a page of {key} does not parse: {e}")))?,
        };
        Ok(Page { items, next_page_token })
    }
}

/// Fetches pages (the first with no token) until one comes without a token.
pub async fn collect_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, DatabricksError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, DatabricksError>>,
{
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let page = fetch(token.take()).await?;
        items.extend(page.items);
        match page.next_page_token {
            None => return Ok(items),
            Some(next) => {
                if !seen.insert(next.clone()) {
                    return Err(DatabricksError::Protocol("the server repeated a page token".into()));
                }
                token = Some(next);
            }
        }
    }
    Err(DatabricksError::Protocol(format!("a list did not end after {MAX_PAGES} pages")))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn empty_pages_with_a_token_do_not_end_the_list() {
        let pages = [
            json!({"tables": [1, 2], "next_page_token": "a"}),
            json!({"tables": [], "next_page_token": "b"}),
            json!({"next_page_token": "c"}),
            json!({"tables": [3], "next_page_token": ""}),
        ];
        let calls = AtomicUsize::new(0);
        let tokens = parking_lot::Mutex::new(Vec::new());
        let items: Vec<i64> = collect_pages(|token| {
            tokens.lock().push(token);
            let page = pages[calls.fetch_add(1, Ordering::SeqCst)].clone();
            async move { Page::from_json(page, "tables") }
        })
        .await
        .unwrap();
        assert_eq!(items, vec![1, 2, 3]);
        assert_eq!(*tokens.lock(), vec![None, Some("a".into()), Some("b".into()), Some("c".into())]);
    }

    #[tokio::test]
    async fn a_repeated_token_is_an_error_not_a_loop() {
        let answer: Result<Vec<i64>, _> =
            collect_pages(|_| async { Page::from_json(json!({"x": [], "next_page_token": "same"}), "x") }).await;
        assert!(matches!(answer, Err(DatabricksError::Protocol(_))));
    }

    #[test]
    fn malformed_pages_are_errors() {
        assert!(Page::<i64>::from_json(json!([1]), "x").is_err());
        assert!(Page::<i64>::from_json(json!({"x": "nope"}), "x").is_err());
        assert!(Page::<i64>::from_json(json!({"x": null}), "x").unwrap().items.is_empty());
    }
}

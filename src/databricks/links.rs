//! Addresses people open in a workspace's UI: the Catalog Explorer page of a
//! Unity Catalog object, the page of a job or a run.
//!
//! These are the addresses the workspace UI itself shows in the browser's
//! address bar (`/explore/data/{catalog}/{schema}/{table}`, with `volumes/`,
//! `functions/` or `models/` before the names of those kinds; `/jobs/{id}`
//! and `/jobs/{id}/runs/{run}`); the REST reference does not list them, so
//! they are built in this one place. A run's own page is better taken from
//! `runs/get`'s `run_page_url` when there is one.

use super::segment;

/// The Catalog Explorer page of an object on the workspace at `host`
/// (its URL, `https://adb-….azuredatabricks.net`, with or without a trailing slash).
/// `kind` is the object kind as readiness names it (`catalog`, `schema`,
/// `table`, `view`, `volume`, `function`, `model`, …); `None` for a kind
/// Catalog Explorer has no page for, or a name with the wrong number of parts.
pub fn catalog_explorer(host: &str, kind: &str, full_name: &str) -> Option<String> {
    let host = host.trim_end_matches('/');
    // A workspace is https; the local sandbox serves plain http on loopback.
    if !(host.starts_with("https://") || host.starts_with("http://")) {
        return None;
    }
    let parts: Vec<&str> = full_name.split('.').collect();
    let (prefix, expected) = match kind.to_ascii_lowercase().as_str() {
        "catalog" => ("", 1),
        "schema" => ("", 2),
        "table" | "view" | "materialized view" | "streaming table" => ("", 3),
        "volume" => ("volumes/", 3),
        "function" => ("functions/", 3),
        "model" | "registered model" => ("models/", 3),
        _ => return None,
    };
    if parts.len() != expected || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let path: Vec<String> = parts.iter().map(|p| segment(p)).collect();
    Some(format!("{host}/explore/data/{prefix}{}", path.join("/")))
}

/// A job's page.
pub fn job(host: &str, job_id: i64) -> String {
    format!("{}/jobs/{job_id}", host.trim_end_matches('/'))
}

/// A job run's page.
pub fn job_run(host: &str, job_id: i64, run_id: i64) -> String {
    format!("{}/jobs/{job_id}/runs/{run_id}", host.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "https://adb-1234567890123456.7.azuredatabricks.net/";

    #[test]
    fn each_kind_has_its_catalog_explorer_page() {
        let at = "https://adb-1234567890123456.7.azuredatabricks.net/explore/data";
        assert_eq!(catalog_explorer(HOST, "catalog", "main").unwrap(), format!("{at}/main"));
        assert_eq!(catalog_explorer(HOST, "schema", "main.sales").unwrap(), format!("{at}/main/sales"));
        assert_eq!(catalog_explorer(HOST, "table", "main.sales.orders").unwrap(), format!("{at}/main/sales/orders"));
        assert_eq!(catalog_explorer(HOST, "View", "main.sales.v").unwrap(), format!("{at}/main/sales/v"));
        assert_eq!(catalog_explorer(HOST, "volume", "main.raw.files").unwrap(), format!("{at}/volumes/main/raw/files"));
        assert_eq!(catalog_explorer(HOST, "function", "main.s.f").unwrap(), format!("{at}/functions/main/s/f"));
        assert_eq!(catalog_explorer(HOST, "model", "ml.m.churn").unwrap(), format!("{at}/models/ml/m/churn"));
    }

    #[test]
    fn names_are_escaped_and_nonsense_gets_no_link() {
        let url = catalog_explorer(HOST, "table", "main.sales.order lines").unwrap();
        assert!(url.ends_with("/main/sales/order%20lines"), "{url}");
        assert_eq!(catalog_explorer(HOST, "table", "main.sales"), None, "a table has three parts");
        assert_eq!(catalog_explorer(HOST, "grant", "main.sales.orders"), None);
        assert_eq!(catalog_explorer("adb-1.azuredatabricks.net", "catalog", "main"), None, "no scheme");
        assert_eq!(catalog_explorer(HOST, "schema", "main."), None);
    }

    #[test]
    fn jobs_and_runs_have_pages() {
        assert_eq!(job(HOST, 42), "https://adb-1234567890123456.7.azuredatabricks.net/jobs/42");
        assert_eq!(job_run(HOST, 42, 7), "https://adb-1234567890123456.7.azuredatabricks.net/jobs/42/runs/7");
    }
}

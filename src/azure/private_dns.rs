//! Private DNS record sets (Record Sets - Get and Create Or Update,
//! `…/providers/Microsoft.Network/privateDnsZones/{zone}/{A|CNAME}/{name}`):
//! one record set pointed at one value, idempotent by its own check.
//!
//! [`point`] reads the set first: one already holding the value with the
//! TTL asked is left alone (a resumed runbook asks nothing twice); otherwise
//! it is written whole, guarded by the etag just read (`If-Match`), or by
//! `If-None-Match: *` when there was none, so a change someone made between
//! the read and the write is refused (412) rather than overwritten.

use reqwest::Method;
use serde_json::{json, Value};

use super::{ArmClient, ArmError};
use crate::identity::AccessToken;

/// The Private DNS provider's api-version drbot speaks.
pub const PRIVATE_DNS_API_VERSION: &str = "2024-06-01";

/// What drbot reads of a record set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSet {
    pub etag: Option<String>,
    pub ttl: Option<i64>,
    /// The A records' addresses, or the one CNAME.
    pub values: Vec<String>,
}

fn url(client: &ArmClient, zone_id: &str, kind: &str, name: &str) -> String {
    format!(
        "{}{}/{kind}/{name}?api-version={PRIVATE_DNS_API_VERSION}",
        client.base_url(),
        zone_id.trim_end_matches('/')
    )
}

fn values(kind: &str, properties: &Value) -> Result<Vec<String>, ArmError> {
    let bad = |what: &str| ArmError::BadResponse(format!("a {kind} record set whose {what}"));
    match kind {
        "A" => properties["aRecords"]
            .as_array()
            .map(|records| records.iter().map(|r| r["ipv4Address"].as_str().map(str::to_string)).collect())
            .unwrap_or(Some(Vec::new()))
            .ok_or_else(|| bad("aRecords lack an ipv4Address")),
        _ => match &properties["cnameRecord"] {
            Value::Null => Ok(Vec::new()),
            record => {
                record["cname"].as_str().map(|c| vec![c.to_string()]).ok_or_else(|| bad("cnameRecord lacks a cname"))
            }
        },
    }
}

fn read(kind: &str, body: &Value) -> Result<RecordSet, ArmError> {
    Ok(RecordSet {
        etag: body["etag"].as_str().map(str::to_string),
        ttl: body["properties"]["ttl"].as_i64(),
        values: values(kind, &body["properties"])?,
    })
}

fn checked(kind: &str) -> Result<&str, ArmError> {
    match kind {
        "A" | "CNAME" => Ok(kind),
        other => Err(ArmError::BadResponse(format!("record type {other} is not one drbot writes"))),
    }
}

/// The record set `name` of type `kind` (`A` or `CNAME`) in the zone; `None` when there is none.
pub async fn record_set(
    client: &ArmClient,
    token: &AccessToken,
    zone_id: &str,
    kind: &str,
    name: &str,
) -> Result<Option<RecordSet>, ArmError> {
    let kind = checked(kind)?;
    match client.request(Method::GET, &url(client, zone_id, kind, name), token, None).await {
        Ok(answer) => Ok(Some(read(kind, &answer.body)?)),
        // A missing set is 404; a missing zone is 404 too, but says so (`ParentResourceNotFound`).
        Err(error) if error.is_not_found() && error.code() != Some("ParentResourceNotFound") => Ok(None),
        Err(error) => Err(error),
    }
}

/// Points the record set at `value` with `ttl`; `Ok(false)` when it held
/// exactly that already (nothing written).
pub async fn point(
    client: &ArmClient,
    token: &AccessToken,
    zone_id: &str,
    kind: &str,
    name: &str,
    value: &str,
    ttl: u32,
) -> Result<bool, ArmError> {
    let kind = checked(kind)?;
    let current = record_set(client, token, zone_id, kind, name).await?;
    let same = |held: &str| held.trim_end_matches('.').eq_ignore_ascii_case(value.trim_end_matches('.'));
    if let Some(set) = &current {
        if set.values.len() == 1 && same(&set.values[0]) && set.ttl == Some(i64::from(ttl)) {
            return Ok(false);
        }
    }
    let mut properties = match kind {
        "A" => json!({"aRecords": [{"ipv4Address": value}]}),
        _ => json!({"cnameRecord": {"cname": value}}),
    };
    properties["ttl"] = json!(ttl);
    let body = json!({ "properties": properties });
    let guard = match current.as_ref().and_then(|set| set.etag.clone()) {
        Some(etag) => ("If-Match", etag),
        None => ("If-None-Match", "*".to_string()),
    };
    let headers = [(guard.0, guard.1.as_str())];
    let put = client.request_with(Method::PUT, &url(client, zone_id, kind, name), token, Some(&body), &headers).await;
    let written = match put {
        Ok(answer) => read(kind, &answer.body)?,
        // Refused as changed since the read: by this very write when its
        // answer was lost and the client sent it again (then the set holds
        // the value), or by someone else (then it is theirs, and said so).
        Err(ArmError::Api { status: 412, error }) => match record_set(client, token, zone_id, kind, name).await? {
            Some(now) if now.values.len() == 1 && same(&now.values[0]) => now,
            now => {
                let held = now.map(|set| set.values.join(", ")).unwrap_or_else(|| "nothing".into());
                return Err(ArmError::BadResponse(format!(
                    "the record set {name} was changed by someone else while drbot pointed it (it holds {held}): {error}"
                )));
            }
        },
        Err(error) => return Err(error),
    };
    if written.values.len() != 1 || !same(&written.values[0]) {
        return Err(ArmError::BadResponse(format!(
            "the record set {name} was written but answers {:?}, not {value}",
            written.values
        )));
    }
    Ok(true)
}

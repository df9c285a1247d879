//! Private DNS record sets, as a DR runbook repoints a workspace alias
//! (Record Sets - Create Or Update / Get, `Microsoft.Network/privateDnsZones/{zone}/{A|CNAME}/{name}`,
//! azure-rest-api-specs `specification/privatedns`, api-version 2024-06-01):
//!
//! - `PUT` creates (201) or replaces (200) the record set whole and answers it: `id`, `name`
//!   (lowercase), `type`, a new `etag`, and `properties` with `ttl`, `fqdn` (`name.zone.`),
//!   `isAutoRegistered`, `metadata` and the records (`aRecords[].ipv4Address` or
//!   `cnameRecord.cname`). `If-Match` (the last-seen etag) refuses a set changed since;
//!   `If-None-Match: *` refuses one that exists. Both answer 412 `PreconditionFailed`.
//! - `GET` answers the set as above; a set that does not exist is 404.
//! - The zone must exist (seeded by a test with [`Arm::add_private_dns_zone`], or deployed);
//!   a record set under a missing zone is 404 `ParentResourceNotFound`.
//! - A record set of type CNAME holds one record, and a CNAME cannot share its name with a
//!   set of another type (RFC 1034 §3.6.2, and Azure DNS's "A record set of type CNAME can
//!   contain only one record"): 409 `Conflict`, the sandbox's own code.
//!
//! Only A and CNAME sets are modelled (what an alias of a workspace is); any other type is
//! refused, loudly. Every accepted write is counted ([`Arm::dns_writes`]): a resumed runbook
//! must not write twice.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::arm::{arm_error, Arm};

/// The api-versions the sandbox's Private DNS provider speaks.
pub const API_VERSIONS: &[&str] = &["2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"];

/// One record set.
#[derive(Clone, Debug)]
struct RecordSet {
    kind: String,
    name: String,
    ttl: i64,
    /// IPv4 addresses (A) or the one canonical name (CNAME).
    values: Vec<String>,
    metadata: Value,
    etag: String,
}

/// The zones (lowercase names by lowercase resource group) and their record sets.
#[derive(Default)]
pub struct Zones {
    zones: Vec<(String, String)>,
    /// (resource group, zone, kind, name), all lowercase → the set.
    sets: HashMap<(String, String, String, String), RecordSet>,
    writes: Vec<String>,
}

impl Arm {
    /// Seeds an empty private DNS zone `zone` in `resource_group`.
    pub fn add_private_dns_zone(&self, resource_group: &str, zone: &str) {
        self.dns.lock().zones.push((resource_group.to_ascii_lowercase(), zone.to_ascii_lowercase()));
    }

    /// The records of a set now (addresses, or the canonical name) and its TTL.
    pub fn dns_record(&self, resource_group: &str, zone: &str, kind: &str, name: &str) -> Option<(Vec<String>, i64)> {
        let key = key(resource_group, zone, kind, name);
        self.dns.lock().sets.get(&key).map(|set| (set.values.clone(), set.ttl))
    }

    /// Every record set write accepted, as `PUT {zone}/{type}/{name}`, in order.
    pub fn dns_writes(&self) -> Vec<String> {
        self.dns.lock().writes.clone()
    }

    fn zone_exists(&self, rg: &str, zone: &str) -> bool {
        let seeded =
            self.dns.lock().zones.iter().any(|(r, z)| r.eq_ignore_ascii_case(rg) && z.eq_ignore_ascii_case(zone));
        seeded || self.deployed(&zone_id(self, rg, zone))
    }
}

fn key(rg: &str, zone: &str, kind: &str, name: &str) -> (String, String, String, String) {
    (rg.to_ascii_lowercase(), zone.to_ascii_lowercase(), kind.to_ascii_uppercase(), name.to_ascii_lowercase())
}

fn zone_id(arm: &Arm, rg: &str, zone: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Network/privateDnsZones/{zone}",
        arm.subscription_id
    )
}

pub(crate) fn routes() -> Router<Arc<Arm>> {
    let mut router = Router::new();
    for rg in ["resourcegroups", "resourceGroups"] {
        let set = format!(
            "/subscriptions/{{sub}}/{rg}/{{rg}}/providers/Microsoft.Network/privateDnsZones/{{zone}}/{{kind}}/{{name}}"
        );
        router = router.route(&set, get(get_set).put(put_set));
    }
    router
}

/// The record types modelled: what an alias of a workspace is.
fn modelled(kind: &str) -> Option<&'static str> {
    match kind.to_ascii_uppercase().as_str() {
        "A" => Some("A"),
        "CNAME" => Some("CNAME"),
        _ => None,
    }
}

fn unmodelled(kind: &str) -> Response {
    arm_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Record type {kind} is not modelled by the sandbox: only A and CNAME record sets are."),
    )
}

fn body(arm: &Arm, rg: &str, zone: &str, set: &RecordSet) -> Value {
    let mut properties = json!({
        "ttl": set.ttl,
        "fqdn": format!("{}.{}.", set.name, zone.to_ascii_lowercase()),
        "isAutoRegistered": false,
        "metadata": set.metadata,
    });
    if set.kind == "A" {
        properties["aRecords"] = set.values.iter().map(|ip| json!({"ipv4Address": ip})).collect();
    } else if let Some(cname) = set.values.first() {
        properties["cnameRecord"] = json!({"cname": cname});
    }
    json!({
        "id": format!("{}/{}/{}", zone_id(arm, rg, zone), set.kind, set.name),
        "name": set.name,
        "type": format!("Microsoft.Network/privateDnsZones/{}", set.kind),
        "etag": set.etag,
        "properties": properties,
    })
}

async fn get_set(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, zone, kind, name)): Path<(String, String, String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller_for(&headers, &query, API_VERSIONS) {
        return refusal;
    }
    let Some(kind) = modelled(&kind) else { return unmodelled(&kind) };
    if !arm.zone_exists(&rg, &zone) {
        return parent_missing(&zone);
    }
    let found = arm.dns.lock().sets.get(&key(&rg, &zone, kind, &name)).cloned();
    match found {
        Some(set) => Json(body(&arm, &rg, &zone, &set)).into_response(),
        None => arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("The resource record '{name}' of type {kind} does not exist in zone '{zone}'."),
        ),
    }
}

fn parent_missing(zone: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ParentResourceNotFound",
        &format!("Can not perform requested operation on nested resource. Parent resource '{zone}' not found."),
    )
}

fn bad(message: &str) -> Response {
    arm_error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// The records of a PUT body of `kind`, or why it is refused.
fn records(kind: &str, properties: &Value) -> Result<Vec<String>, Response> {
    let (a, cname) = (&properties["aRecords"], &properties["cnameRecord"]);
    match kind {
        "A" => {
            if !cname.is_null() {
                return Err(bad("An A record set cannot carry a cnameRecord."));
            }
            let Some(list) = a.as_array() else { return Ok(Vec::new()) };
            list.iter()
                .map(|record| match record["ipv4Address"].as_str().map(str::parse::<Ipv4Addr>) {
                    Some(Ok(ip)) => Ok(ip.to_string()),
                    _ => Err(bad(&format!("The IPv4 address of {record} is not valid."))),
                })
                .collect()
        }
        _ => {
            if !a.is_null() {
                return Err(bad("A CNAME record set cannot carry aRecords."));
            }
            if cname.is_null() {
                return Ok(Vec::new());
            }
            match cname["cname"].as_str() {
                Some(name) if !name.is_empty() && name.len() <= 253 && !name.contains(char::is_whitespace) => {
                    Ok(vec![name.to_string()])
                }
                _ => Err(bad("The cnameRecord's cname is not a valid domain name.")),
            }
        }
    }
}

async fn put_set(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, zone, kind, name)): Path<(String, String, String, String, String)>,
    RawQuery(query): RawQuery,
    payload: Bytes,
) -> Response {
    let Some(kind) = modelled(&kind) else { return unmodelled(&kind) };
    let id = format!("{}/{kind}/{name}", zone_id(&arm, &rg, &zone));
    let action = format!("Microsoft.Network/privateDnsZones/{kind}/write");
    if let Err(refusal) = arm.writer_for(&headers, &query, API_VERSIONS, &action, &id) {
        return refusal;
    }
    if !arm.zone_exists(&rg, &zone) {
        return parent_missing(&zone);
    }
    let request: Value = match serde_json::from_slice(&payload) {
        Ok(Value::Object(object)) => Value::Object(object),
        _ => return bad("The request body is not a JSON object."),
    };
    let properties = &request["properties"];
    if !properties.is_object() {
        return bad("The record set's properties are required.");
    }
    let values = match records(kind, properties) {
        Ok(values) => values,
        Err(refusal) => return refusal,
    };
    let ttl = match &properties["ttl"] {
        Value::Null => 3600,
        ttl => match ttl.as_i64() {
            Some(ttl) if (0..=2_147_483_647).contains(&ttl) => ttl,
            _ => return bad("The TTL must be a whole number of seconds from 0 to 2147483647."),
        },
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut dns = arm.dns.lock();
    let here = key(&rg, &zone, kind, &name);
    // A CNAME owns its name: no other type beside it, and nothing beside another type.
    let clash = dns.sets.keys().any(|(r, z, k, n)| {
        (r, z, n) == (&here.0, &here.1, &here.3) && k != &here.2 && (k == "CNAME" || kind == "CNAME")
    });
    if clash {
        return arm_error(
            StatusCode::CONFLICT,
            "Conflict",
            &format!("The record set {name} conflicts with an existing record set of another type: a CNAME record set cannot share its name."),
        );
    }
    let existing = dns.sets.get(&here).cloned();
    if let Some(wanted) = header("if-match") {
        let matches = existing.as_ref().is_some_and(|set| wanted == "*" || wanted.trim_matches('"') == set.etag);
        if !matches {
            return precondition_failed(&name);
        }
    }
    if header("if-none-match").as_deref() == Some("*") && existing.is_some() {
        return precondition_failed(&name);
    }
    let set = RecordSet {
        kind: kind.to_string(),
        name: name.to_ascii_lowercase(),
        ttl,
        values,
        metadata: properties.get("metadata").cloned().unwrap_or_else(|| json!({})),
        etag: uuid::Uuid::new_v4().to_string(),
    };
    dns.sets.insert(here, set.clone());
    dns.writes.push(format!("PUT {}/{kind}/{}", zone.to_ascii_lowercase(), set.name));
    drop(dns);
    let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    (status, Json(body(&arm, &rg, &zone, &set))).into_response()
}

fn precondition_failed(name: &str) -> Response {
    arm_error(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        &format!("The condition of the request on record set {name} was not met: it was changed or exists."),
    )
}

//! What `deploy hub`, `deploy transit` and `deploy spoke NAME` mean, decided without I/O:
//! the template, the resource group, region and deployment name in each of
//! the two regions, and the parameters.
//!
//! Deployment names are deterministic (`drbot-spoke-NAME-primary`): a bot
//! restarted mid-deployment asks ARM for the same names and finds its
//! deployments again instead of starting second ones.
//!
//! Parameters come from the parameter files next to the template
//! (`spoke.parameters.json`, then `spoke.parameters.primary.json` on top)
//! and from code: `location`, `pairedLocation`, `drRole`, `spokeName` and
//! `hubResourceGroup`, each passed only when the template declares it (ARM
//! refuses parameters a template does not declare).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{DeployConfig, DeployError, RegionConfig};
use crate::azure::DeploymentRef;

/// The longest spoke name: it goes into resource names with tight limits
/// (storage accounts: 24 lowercase letters and digits in all).
pub const MAX_SPOKE_NAME: usize = 12;

/// Which region of the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    pub const BOTH: [Role; 2] = [Role::Primary, Role::Secondary];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        }
    }

    pub fn other(self) -> Role {
        match self {
            Role::Primary => Role::Secondary,
            Role::Secondary => Role::Primary,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A spoke's name: lowercase letters and digits, single hyphens inside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpokeName(String);

impl SpokeName {
    pub fn parse(text: &str) -> Result<SpokeName, DeployError> {
        let invalid = |why: &str| {
            DeployError::Invalid(format!(
                "'{}' is not a spoke name: {why} (lowercase letters and digits, hyphens inside, at most {MAX_SPOKE_NAME})",
                text.chars().take(40).collect::<String>()
            ))
        };
        if text.is_empty() || text.len() > MAX_SPOKE_NAME {
            return Err(invalid("wrong length"));
        }
        if !text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(invalid("unexpected characters"));
        }
        if !text.starts_with(|c: char| c.is_ascii_lowercase()) || text.ends_with('-') || text.contains("--") {
            return Err(invalid("it must start with a letter and not end with or double a hyphen"));
        }
        Ok(SpokeName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SpokeName {
    type Error = DeployError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        SpokeName::parse(&text)
    }
}

impl From<SpokeName> for String {
    fn from(name: SpokeName) -> String {
        name.0
    }
}

/// What to deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Hub,
    /// The region's transit spoke (`webauth.json`): the browser-authentication private
    /// endpoint on a workload-free web-auth workspace, one per region.
    Transit,
    Spoke(SpokeName),
}

impl Target {
    /// `hub` or `spoke` plus a name, as the command line and chat say it.
    pub fn parse(kind: &str, name: Option<&str>) -> Result<Target, DeployError> {
        match (kind, name) {
            ("hub", None) => Ok(Target::Hub),
            ("transit", None) => Ok(Target::Transit),
            ("spoke", Some(name)) => Ok(Target::Spoke(SpokeName::parse(name)?)),
            ("spoke", None) => Err(DeployError::Invalid("deploy spoke needs a name".into())),
            ("hub", Some(_)) => Err(DeployError::Invalid("deploy hub takes no name".into())),
            ("transit", Some(_)) => Err(DeployError::Invalid("deploy transit takes no name".into())),
            _ => Err(DeployError::Invalid("deploy hub, deploy transit, or deploy spoke NAME".into())),
        }
    }

    /// The template's file stem: `hub`, `webauth` or `spoke`.
    pub fn template_stem(&self) -> &'static str {
        match self {
            Target::Hub => "hub",
            Target::Transit => "webauth",
            Target::Spoke(_) => "spoke",
        }
    }

    /// `hub`, `transit` or `spoke-NAME`.
    pub fn label(&self) -> String {
        match self {
            Target::Hub => "hub".into(),
            Target::Transit => "transit".into(),
            Target::Spoke(name) => format!("spoke-{}", name.as_str()),
        }
    }
}

/// A template and its parameter values per region, as loaded.
#[derive(Clone, Debug)]
pub struct Templates {
    pub template: Value,
    /// Parameter values (`{name: value}`) from files, per region.
    pub parameters: BTreeMap<Role, Map<String, Value>>,
}

impl Templates {
    /// A template given in code, without parameter files (tests, embedders).
    pub fn inline(template: Value) -> Templates {
        Templates { template, parameters: BTreeMap::new() }
    }
}

/// Reads `{dir}/{hub|spoke}.json` and its optional parameter files
/// (`….parameters.json` for both regions, `….parameters.{role}.json` on top),
/// in ARM's parameter file format.
pub fn load_templates(dir: &Path, target: &Target) -> Result<Templates, DeployError> {
    let stem = target.template_stem();
    let read = |name: String, required: bool| -> Result<Option<Value>, DeployError> {
        let path = dir.join(&name);
        let problem = |problem: String| DeployError::Template { path: path.display().to_string(), problem };
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| problem(format!("not JSON ({e})"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
            Err(e) => Err(problem(e.to_string())),
        }
    };
    let template = read(format!("{stem}.json"), true)?.unwrap_or_default();
    if !template["resources"].is_array() {
        return Err(DeployError::Template {
            path: dir.join(format!("{stem}.json")).display().to_string(),
            problem: "no resources array".into(),
        });
    }
    // Two layouts: `hub.parameters.primary.json` next to the template, and
    // infra/'s own `parameters/hub.primary.json`.
    let common = [read(format!("{stem}.parameters.json"), false)?, read(format!("parameters/{stem}.json"), false)?];
    let mut parameters = BTreeMap::new();
    // A spoke's own files last: a second spoke needs its own address space
    // and storage names, which the shared files cannot give.
    let own = match target {
        Target::Spoke(name) => Some(name.as_str()),
        Target::Hub | Target::Transit => None,
    };
    let own_common = match own {
        Some(name) => read(format!("parameters/{stem}.{name}.json"), false)?,
        None => None,
    };
    for role in Role::BOTH {
        let own_specific = match own {
            Some(name) => read(format!("parameters/{stem}.{name}.{role}.json"), false)?,
            None => None,
        };
        let specific = [
            read(format!("{stem}.parameters.{role}.json"), false)?,
            read(format!("parameters/{stem}.{role}.json"), false)?,
            own_common.clone(),
            own_specific,
        ];
        let mut values = Map::new();
        for file in common.iter().chain(specific.iter()).flatten() {
            for (name, parameter) in file["parameters"].as_object().into_iter().flatten() {
                let value = parameter.get("value").cloned().unwrap_or(Value::Null);
                values.insert(name.clone(), value);
            }
        }
        parameters.insert(role, values);
    }
    Ok(Templates { template, parameters })
}

/// One region's deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionPlan {
    pub role: Role,
    pub location: String,
    pub deployment: DeploymentRef,
    /// Parameter values by name.
    pub parameters: Map<String, Value>,
}

/// Both regions' deployments of one target.
#[derive(Clone, Debug)]
pub struct Plan {
    pub target: Target,
    pub template: Value,
    /// Primary first.
    pub regions: Vec<RegionPlan>,
}

impl Plan {
    pub fn region(&self, role: Role) -> &RegionPlan {
        self.regions.iter().find(|r| r.role == role).unwrap_or(&self.regions[0])
    }

    /// The PUT / What-If body of one region.
    pub fn body(&self, role: Role) -> Value {
        let parameters: Map<String, Value> =
            self.region(role).parameters.iter().map(|(k, v)| (k.clone(), json!({ "value": v }))).collect();
        json!({"properties": {"mode": "Incremental", "template": self.template, "parameters": parameters}})
    }
}

/// The spoke template's storage account parameters and the prefix of the
/// name drbot derives for each when the parameter files give none.
pub const STORAGE_ACCOUNTS: [(&str, &str); 3] =
    [("dbfsStorageAccountName", "dbfs"), ("ucStorageAccountName", "stuc"), ("externalStorageAccountName", "stext")];

/// A storage account name for one spoke in one region: the prefix, the
/// spoke's letters and digits, `p` or `s`, and six hex digits of a hash of
/// the subscription, spoke, region and prefix. Storage names are global
/// across Azure, so the hash keeps two subscriptions deploying `sales` apart,
/// while the same inputs always give the same name (a re-run finds its
/// accounts). At most 5 + 12 + 1 + 6 = 24 lowercase letters and digits.
pub fn storage_account_name(prefix: &str, subscription_id: &str, spoke: &SpokeName, role: Role) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{subscription_id}/{}/{role}/{prefix}", spoke.as_str()).as_bytes());
    let hash: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let letters: String = spoke.as_str().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let role_letter = &role.as_str()[..1];
    let mut name = format!("{prefix}{letters}{role_letter}{hash}");
    name.truncate(24);
    name
}

pub(crate) fn resource_group(config: &RegionConfig, target: &Target) -> String {
    match target {
        Target::Hub => config.hub_resource_group.clone().unwrap_or_else(|| format!("rg-drbot-hub-{}", config.location)),
        Target::Transit => {
            config.transit_resource_group.clone().unwrap_or_else(|| format!("rg-drbot-transit-{}", config.location))
        }
        Target::Spoke(name) => match &config.spoke_resource_group {
            Some(pattern) => pattern.replace("{spoke}", name.as_str()),
            None => format!("rg-drbot-{}-{}", name.as_str(), config.location),
        },
    }
}

/// The deployments of `target` in both regions.
pub fn plan(config: &DeployConfig, target: Target, templates: Templates) -> Result<Plan, DeployError> {
    if config.subscription_id.trim().is_empty() {
        return Err(DeployError::Invalid("deploy.subscription_id is not set".into()));
    }
    if config.primary.location == config.secondary.location {
        return Err(DeployError::Invalid("the primary and secondary regions are the same".into()));
    }
    let declared: Vec<String> =
        templates.template["parameters"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    let mut regions = Vec::new();
    for role in Role::BOTH {
        let (here, there) = match role {
            Role::Primary => (&config.primary, &config.secondary),
            Role::Secondary => (&config.secondary, &config.primary),
        };
        let mut parameters = templates.parameters.get(&role).cloned().unwrap_or_default();
        let mut from_code = vec![
            ("location", json!(here.location)),
            ("pairedLocation", json!(there.location)),
            ("drRole", json!(role.as_str())),
            ("hubResourceGroup", json!(resource_group(here, &Target::Hub))),
        ];
        if let Target::Spoke(name) = &target {
            from_code.push(("spokeName", json!(name.as_str())));
            for (parameter, prefix) in STORAGE_ACCOUNTS {
                if !parameters.contains_key(parameter) {
                    let derived = storage_account_name(prefix, &config.subscription_id, name, role);
                    from_code.push((parameter, json!(derived)));
                }
            }
        }
        for (name, value) in from_code {
            if declared.iter().any(|d| d == name) {
                parameters.insert(name.to_string(), value);
            }
        }
        regions.push(RegionPlan {
            role,
            location: here.location.clone(),
            deployment: DeploymentRef {
                subscription_id: config.subscription_id.clone(),
                resource_group: resource_group(here, &target),
                name: format!("drbot-{}-{role}", target.label()),
            },
            parameters,
        });
    }
    if let Target::Spoke(name) = &target {
        link_peer_storage(&declared, &mut regions, config, name);
    }
    Ok(Plan { target, template: templates.template, regions })
}

/// What each region of a spoke needs of the other: its Unity Catalog account and spoke group
/// (the secondary's private endpoints and grants reach the primary's storage), and the pair's
/// one geo-redundant account, the primary's, which the secondary registers its external
/// tables and volumes on. Each is passed only if the template declares it.
fn link_peer_storage(declared: &[String], regions: &mut [RegionPlan], config: &DeployConfig, spoke: &SpokeName) {
    let value = |regions: &[RegionPlan], role: Role, name: &str| {
        regions.iter().find(|r| r.role == role).and_then(|r| r.parameters.get(name)).cloned()
    };
    for role in Role::BOTH {
        let there = match role.other() {
            Role::Primary => &config.primary,
            Role::Secondary => &config.secondary,
        };
        let mut linked =
            vec![("peerSpokeResourceGroup", Some(json!(resource_group(there, &Target::Spoke(spoke.clone())))))];
        linked.push(("peerUcStorageAccountName", value(regions, role.other(), "ucStorageAccountName")));
        if role == Role::Secondary {
            linked.push(("externalStorageAccountName", value(regions, Role::Primary, "externalStorageAccountName")));
        }
        let region = regions.iter_mut().find(|r| r.role == role).expect("a plan has both regions");
        for (name, value) in linked {
            if let (true, Some(value)) = (declared.iter().any(|d| d == name), value) {
                region.parameters.insert(name.to_string(), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DeployConfig {
        DeployConfig { subscription_id: "sub".into(), ..Default::default() }
    }

    fn template() -> Value {
        json!({"parameters": {"location": {"type": "string"}, "spokeName": {"type": "string"},
            "drRole": {"type": "string"}, "addressSpace": {"type": "string"}},
            "resources": []})
    }

    #[test]
    fn spoke_names_are_plain_identifiers() {
        for good in ["a", "spoke-a", "sales2", "abcdefghijkl"] {
            assert!(SpokeName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Spoke", "1spoke", "spoke-", "spo--ke", "a b", "a_b", "abcdefghijklm", "x'; drop", "ä"] {
            assert!(matches!(SpokeName::parse(bad), Err(DeployError::Invalid(_))), "{bad}");
        }
        assert!(serde_json::from_value::<SpokeName>(json!("BAD")).is_err());
        assert_eq!(Target::parse("spoke", Some("a")).unwrap().label(), "spoke-a");
        assert!(Target::parse("spoke", None).is_err() && Target::parse("hub", Some("x")).is_err());
        assert!(Target::parse("bot", None).is_err());
        let transit = Target::parse("transit", None).unwrap();
        assert_eq!((transit.label().as_str(), transit.template_stem()), ("transit", "webauth"));
        assert!(Target::parse("transit", Some("x")).is_err());
    }

    #[test]
    fn a_spoke_in_both_regions_with_deterministic_names_and_declared_parameters_only() {
        let target = Target::Spoke(SpokeName::parse("sales").unwrap());
        let mut templates = Templates::inline(template());
        templates.parameters.insert(Role::Secondary, Map::from_iter([("addressSpace".into(), json!("10.2.0.0/16"))]));
        let plan = plan(&config(), target.clone(), templates.clone()).unwrap();
        let again = super::plan(&config(), target, templates).unwrap();
        assert_eq!(plan.regions, again.regions, "the same deployments every time");
        let primary = plan.region(Role::Primary);
        let secondary = plan.region(Role::Secondary);
        assert_eq!(primary.deployment.name, "drbot-spoke-sales-primary");
        assert_eq!(secondary.deployment.name, "drbot-spoke-sales-secondary");
        assert_eq!(primary.deployment.resource_group, "rg-drbot-sales-westeurope");
        assert_eq!(secondary.deployment.resource_group, "rg-drbot-sales-northeurope");
        assert_eq!(primary.parameters["location"], "westeurope");
        assert_eq!(secondary.parameters["drRole"], "secondary");
        assert_eq!(secondary.parameters["spokeName"], "sales");
        assert_eq!(secondary.parameters["addressSpace"], "10.2.0.0/16");
        assert!(!primary.parameters.contains_key("pairedLocation"), "not declared, not sent");
        let body = plan.body(Role::Secondary);
        assert_eq!(body["properties"]["parameters"]["spokeName"]["value"], "sales");
        assert_eq!(body["properties"]["mode"], "Incremental");
    }

    #[test]
    fn storage_account_names_are_derived_per_spoke_and_region_unless_given() {
        let template = json!({"parameters": {"spokeName": {"type": "string"},
            "ucStorageAccountName": {"type": "string"}, "externalStorageAccountName": {"type": "string"},
            "dbfsStorageAccountName": {"type": "string"}}, "resources": []});
        let longest = Target::Spoke(SpokeName::parse("abcdefgh-ijk").unwrap());
        let plan_of = |target: Target, templates: Templates| plan(&config(), target, templates).unwrap();
        let derived = plan_of(longest.clone(), Templates::inline(template.clone()));
        let mut names = Vec::new();
        for role in Role::BOTH {
            for (parameter, _) in STORAGE_ACCOUNTS {
                let name = derived.region(role).parameters[parameter].as_str().unwrap().to_string();
                assert!((3..=24).contains(&name.len()), "{name}");
                assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{name}");
                names.push(name);
            }
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 5, "every account its own name, but the pair shares its geo-redundant one");
        assert_eq!(
            derived.region(Role::Secondary).parameters["externalStorageAccountName"],
            derived.region(Role::Primary).parameters["externalStorageAccountName"],
            "the secondary registers its external data on the primary's geo-redundant account"
        );
        let again = plan_of(longest, Templates::inline(template.clone()));
        assert_eq!(derived.regions, again.regions, "the same names every time");
        let other = plan_of(Target::Spoke(SpokeName::parse("hr").unwrap()), Templates::inline(template.clone()));
        assert_ne!(
            other.region(Role::Primary).parameters["ucStorageAccountName"],
            derived.region(Role::Primary).parameters["ucStorageAccountName"]
        );
        let mut given = Templates::inline(template);
        given.parameters.insert(Role::Primary, Map::from_iter([("ucStorageAccountName".into(), json!("stucmine"))]));
        let given = plan_of(Target::Spoke(SpokeName::parse("hr").unwrap()), given);
        assert_eq!(given.region(Role::Primary).parameters["ucStorageAccountName"], "stucmine");
        assert_ne!(given.region(Role::Secondary).parameters["ucStorageAccountName"], "stucmine");
    }

    #[test]
    fn each_region_of_a_spoke_learns_the_other_regions_group_and_unity_catalog_account() {
        let template = json!({"parameters": {"ucStorageAccountName": {"type": "string"},
            "peerUcStorageAccountName": {"type": "string"}, "peerSpokeResourceGroup": {"type": "string"}}, "resources": []});
        let plan =
            plan(&config(), Target::Spoke(SpokeName::parse("sales").unwrap()), Templates::inline(template)).unwrap();
        let (primary, secondary) = (&plan.region(Role::Primary).parameters, &plan.region(Role::Secondary).parameters);
        assert_eq!(secondary["peerUcStorageAccountName"], primary["ucStorageAccountName"]);
        assert_eq!(primary["peerUcStorageAccountName"], secondary["ucStorageAccountName"]);
        assert_eq!(secondary["peerSpokeResourceGroup"], "rg-drbot-sales-westeurope");
        assert_eq!(primary["peerSpokeResourceGroup"], "rg-drbot-sales-northeurope");
        assert!(!secondary.contains_key("externalStorageAccountName"), "not declared, not sent");
    }

    #[test]
    fn the_hub_and_configured_groups() {
        let mut config = config();
        config.primary.hub_resource_group = Some("rg-hub-p".into());
        config.secondary.spoke_resource_group = Some("rg-{spoke}-dr".into());
        let hub = plan(&config, Target::Hub, Templates::inline(template())).unwrap();
        assert_eq!(hub.region(Role::Primary).deployment.resource_group, "rg-hub-p");
        assert_eq!(hub.region(Role::Secondary).deployment.name, "drbot-hub-secondary");
        assert!(!hub.region(Role::Primary).parameters.contains_key("spokeName"));
        let spoke =
            plan(&config, Target::Spoke(SpokeName::parse("x").unwrap()), Templates::inline(template())).unwrap();
        assert_eq!(spoke.region(Role::Secondary).deployment.resource_group, "rg-x-dr");
        config.secondary.transit_resource_group = Some("rg-transit-dr".into());
        let transit = plan(&config, Target::Transit, Templates::inline(template())).unwrap();
        assert_eq!(transit.region(Role::Primary).deployment.resource_group, "rg-drbot-transit-westeurope");
        assert_eq!(transit.region(Role::Secondary).deployment.resource_group, "rg-transit-dr");
        assert_eq!(transit.region(Role::Secondary).deployment.name, "drbot-transit-secondary");
        let unset = DeployConfig::default();
        assert!(plan(&unset, Target::Hub, Templates::inline(template())).is_err());
    }

    #[test]
    fn templates_and_parameter_files_load_from_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load_templates(dir.path(), &Target::Hub), Err(DeployError::Template { .. })));
        std::fs::write(dir.path().join("hub.json"), template().to_string()).unwrap();
        std::fs::write(
            dir.path().join("hub.parameters.json"),
            r#"{"parameters": {"addressSpace": {"value": "10.0.0.0/16"}, "sku": {"value": "premium"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("hub.parameters.secondary.json"),
            r#"{"parameters": {"addressSpace": {"value": "10.100.0.0/16"}}}"#,
        )
        .unwrap();
        let loaded = load_templates(dir.path(), &Target::Hub).unwrap();
        assert_eq!(loaded.parameters[&Role::Primary]["addressSpace"], "10.0.0.0/16");
        assert_eq!(loaded.parameters[&Role::Secondary]["addressSpace"], "10.100.0.0/16");
        assert_eq!(loaded.parameters[&Role::Secondary]["sku"], "premium");
        std::fs::create_dir(dir.path().join("parameters")).unwrap();
        std::fs::write(dir.path().join("spoke.json"), template().to_string()).unwrap();
        let file = |value: &str| format!(r#"{{"parameters": {{"addressSpace": {{"value": "{value}"}}}}}}"#);
        std::fs::write(dir.path().join("parameters/spoke.primary.json"), file("10.1.0.0/20")).unwrap();
        std::fs::write(dir.path().join("parameters/spoke.hr.json"), file("10.2.0.0/20")).unwrap();
        std::fs::write(dir.path().join("parameters/spoke.hr.secondary.json"), file("10.130.0.0/20")).unwrap();
        let spoke = |name: &str| load_templates(dir.path(), &Target::Spoke(SpokeName::parse(name).unwrap())).unwrap();
        assert_eq!(spoke("sales").parameters[&Role::Primary]["addressSpace"], "10.1.0.0/20");
        assert!(!spoke("sales").parameters[&Role::Secondary].contains_key("addressSpace"));
        assert_eq!(spoke("hr").parameters[&Role::Primary]["addressSpace"], "10.2.0.0/20");
        assert_eq!(spoke("hr").parameters[&Role::Secondary]["addressSpace"], "10.130.0.0/20");
        std::fs::write(dir.path().join("hub.json"), "{not json").unwrap();
        assert!(load_templates(dir.path(), &Target::Hub).is_err());
    }
}

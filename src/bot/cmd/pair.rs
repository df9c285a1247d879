//! `pair list | add NAME primary=URL secondary=URL warehouse=ID [primary_warehouse=ID] [mapping=FROM,TO]… | set NAME primary_warehouse=ID | remove NAME`:
//! the DR pairs drbot looks after (`src/bot/pairs.rs`). Listing needs a role;
//! adding and removing are for admins, and audited.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Invocation, Spec, Turn};
use crate::access::Role;
use crate::bot::{Answer, Bot};
use crate::commands::{words, Needs, Reach, Scope};
use crate::pairs::{check_url, Pair, PairWorkspace};

pub static SPEC: Spec = Spec {
    name: "pair",
    // `add` also takes primary_warehouse=ID and mapping=FROM,TO (repeated), and `set NAME
    // primary_warehouse=ID` changes a pair's primary warehouse; the usage stays within the
    // manifest's 128 characters.
    usage: "pair list | add NAME primary=URL secondary=URL warehouse=ID | remove NAME",
    summary: "The DR pairs (admins add and remove them).",
    // An admin's command, offered where admins manage drbot: their chat with it
    // (twelve a scope; typed, it works everywhere).
    offered_in: &[Scope::Personal],
    needs: Needs::Role(Role::Admin),
    reach: Reach::Person,
    audit: "change the pairs",
    verbs: &[],
    parse,
};

#[derive(Debug)]
enum PairCommand {
    List,
    Add(Box<Pair>),
    /// `pair set NAME primary_warehouse=ID`: a deployed spoke's pair has no
    /// primary warehouse (the deployment makes none), and removing and
    /// adding the pair again would lose its history.
    SetPrimaryWarehouse {
        name: String,
        warehouse: String,
    },
    Remove(String),
}

fn parse(args: &[&str]) -> super::Parsed {
    let command = match args {
        [] => PairCommand::List,
        [verb] if verb.eq_ignore_ascii_case("list") => PairCommand::List,
        [verb, name] if verb.eq_ignore_ascii_case("remove") => PairCommand::Remove(words::pair(name)?),
        [verb, name, setting] if verb.eq_ignore_ascii_case("set") => {
            let name = words::pair(name)?;
            match setting.split_once('=') {
                Some((key, value)) if key.eq_ignore_ascii_case("primary_warehouse") => {
                    if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
                        return Err(format!("primary_warehouse: '{}' is not a warehouse id", clip(value)));
                    }
                    PairCommand::SetPrimaryWarehouse { name, warehouse: value.to_string() }
                }
                _ => return Err("pair set NAME primary_warehouse=ID".into()),
            }
        }
        [verb, name, settings @ ..] if verb.eq_ignore_ascii_case("add") => {
            PairCommand::Add(Box::new(pair_of(&words::pair(name)?, settings)?))
        }
        _ => return Err("pair list, pair add NAME primary=URL secondary=URL warehouse=ID, or pair remove NAME".into()),
    };
    Ok(Box::new(command))
}

/// The `key=value` words of `pair add`, checked one by one.
fn pair_of(name: &str, settings: &[&str]) -> Result<Pair, String> {
    let (mut primary, mut secondary, mut mapping) = (None, None, Vec::new());
    let (mut warehouse, mut primary_warehouse) = (None, None);
    for setting in settings {
        let (key, value) = setting.split_once('=').ok_or_else(|| format!("'{}' is not key=value", clip(setting)))?;
        match key.to_ascii_lowercase().as_str() {
            "primary" => primary = Some(url(value)?),
            "secondary" => secondary = Some(url(value)?),
            "warehouse" => warehouse = Some(value.to_string()),
            "primary_warehouse" => primary_warehouse = Some(value.to_string()),
            "mapping" => {
                let (from, to) = value.split_once(',').ok_or("mapping=FROM,TO (two storage URLs)")?;
                mapping.push((from.to_string(), to.to_string()));
            }
            other => {
                return Err(format!(
                    "unknown setting {} (primary, secondary, warehouse, primary_warehouse, mapping)",
                    clip(other)
                ))
            }
        }
    }
    let (Some(primary), Some(secondary)) = (primary, secondary) else {
        return Err("primary=URL and secondary=URL are both needed".into());
    };
    let mut pair = Pair::new(name, PairWorkspace::at(&primary), PairWorkspace::at(&secondary));
    pair.warehouse_id = warehouse;
    pair.primary_warehouse_id = primary_warehouse;
    pair.location_mapping = mapping;
    pair.validate()?;
    Ok(pair)
}

fn url(value: &str) -> Result<String, String> {
    check_url(value).map(|()| value.trim_end_matches('/').to_string())
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

impl Invocation for PairCommand {
    /// Listing shows what any operator may see; changing the pairs is an admin's.
    fn needs(&self, spec: &Spec) -> Needs {
        match self {
            PairCommand::List => Needs::AnyRole,
            _ => spec.needs,
        }
    }

    fn run<'a>(self: Box<Self>, bot: &'a Arc<Bot>, turn: &'a Turn<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let actor = match turn.actor() {
                Ok(actor) => actor,
                Err(card) => return Answer::Card(card),
            };
            match *self {
                PairCommand::List => Answer::Card(bot.list_pairs(turn.correlation_id).await),
                PairCommand::Add(pair) => bot.add_pair(actor, *pair, turn.correlation_id).await,
                PairCommand::SetPrimaryWarehouse { name, warehouse } => {
                    bot.set_primary_warehouse(actor, &name, &warehouse, turn.correlation_id).await
                }
                PairCommand::Remove(name) => Answer::Card(bot.remove_pair(actor, &name, turn.correlation_id).await),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairs::Side;

    #[test]
    fn set_takes_one_primary_warehouse_id_and_nothing_else() {
        let parsed = parse(&["set", "spoke-a", "primary_warehouse=abc123"]).unwrap();
        assert_eq!(format!("{parsed:?}"), r#"SetPrimaryWarehouse { name: "spoke-a", warehouse: "abc123" }"#);
        assert!(parse(&["set", "spoke-a", "primary_warehouse=x y"]).unwrap_err().starts_with("primary_warehouse:"));
        assert!(parse(&["set", "spoke-a", "warehouse=abc"]).is_err());
        assert!(parse(&["set", "spoke-a"]).is_err());
    }

    #[test]
    fn add_reads_its_settings_and_names_what_is_wrong() {
        let pair = pair_of(
            "finance",
            &["primary=https://adb-1.example/", "secondary=https://adb-2.example", "warehouse=abc1", "mapping=a,b"],
        )
        .unwrap();
        assert_eq!(pair.primary.url, "https://adb-1.example");
        assert_eq!(pair.warehouse_id.as_deref(), Some("abc1"));
        assert_eq!(pair.primary_warehouse_id, None, "optional");
        let both = ["primary=https://a.example", "secondary=https://b.example", "warehouse=b1", "primary_warehouse=a1"];
        let two = pair_of("f", &both).unwrap();
        assert_eq!((two.warehouse_of(Side::Primary), two.warehouse_of(Side::Secondary)), (Some("a1"), Some("b1")));
        assert_eq!(pair.location_mapping, [("a".to_string(), "b".to_string())]);
        assert_eq!(pair.sharing.recipient, "finance_secondary");
        assert!(pair_of("f", &["primary=https://a.example"]).unwrap_err().contains("both needed"));
        assert!(pair_of("f", &["primary=javascript:alert(1)"]).is_err());
        assert!(pair_of("f", &["owner=me"]).unwrap_err().contains("unknown setting"));
        assert!(pair_of("f", &["primary=https://a.example", "secondary=https://b.example", "warehouse=x;y"])
            .unwrap_err()
            .starts_with("warehouse:"));
        assert!(pair_of("f", &["primary=https://a.example", "secondary=https://b.example", "primary_warehouse=x y"])
            .unwrap_err()
            .starts_with("primary_warehouse:"));
        assert!(parse(&["remove", "Bad Name"]).is_err());
        assert!(parse(&["add", "x'y", "primary=https://a.example"]).is_err());
    }
}

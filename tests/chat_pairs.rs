//! DR pairs from chat, through the sandbox's Teams: an admin lists, adds
//! (checked against the workspaces first) and removes pairs; `status` with
//! several pairs is one card with a row each; `use PAIR` makes a chat's
//! commands mean that pair; `replicate PAIR` plans with that pair's derived
//! sharing names; a person without the admin role cannot change the pairs.

mod support;

use sandbox::connector::{Recorded, Verb};
use support::chat::{card_text, wait_for, Chat};
use support::World;

/// Types `command` and waits for the card that replaces its "checking" card.
async fn later(world: &World, chat: &Chat<'_>, command: &str) -> String {
    card_text(&later_card(world, chat, command).await)
}

async fn later_card(world: &World, chat: &Chat<'_>, command: &str) -> Recorded {
    let now = chat.say(command).await;
    let id = now.activity_id.clone();
    wait_for(world, command, |r| r.verb == Verb::Update && r.activity_id == id).await
}

fn add_command(world: &World, name: &str, primary: &str) -> String {
    format!(
        "pair add {name} primary={primary} secondary={} warehouse={}",
        world.sandbox.secondary_url(),
        sandbox::databricks::statements::SANDBOX_WAREHOUSE_ID
    )
}

#[tokio::test]
async fn an_admin_adds_a_pair_and_status_covers_every_pair() {
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;

    // The sandbox's configuration uses the old keys: one pair, `default`.
    let listed = card_text(&alice.say("pair list").await);
    assert!(listed.contains("default") && listed.contains("status default"), "{listed}");

    // Both workspaces answer and the warehouse exists: added, and audited.
    let added = later(&world, &alice, &add_command(&world, "second", &world.sandbox.primary_url())).await;
    assert!(added.contains("Pair second added") && added.contains("second_secondary"), "{added}");
    let store = &world.bot.app.store;
    let second = store.pair("second").await.unwrap().expect("stored");
    assert_eq!(second.sharing.share_prefix, "second_");
    assert!(store.recent_audit(20).await.unwrap().iter().any(|e| e.action == "add a pair" && e.result == "added"));

    // Two pairs, no default here: one card, a row per pair, each opening its dashboard.
    let overview = later(&world, &alice, "status").await;
    assert!(overview.contains("DR readiness of every pair"), "{overview}");
    for name in ["default", "second"] {
        assert!(overview.contains(&format!("\"text\":\"status {name}\"")), "{overview}");
    }
    // A pair by name is its dashboard; a name that is no pair says which exist.
    let dashboard = later(&world, &alice, "status second").await;
    assert!(dashboard.contains("second ·"), "{dashboard}");
    let unknown = card_text(&alice.say("status nope").await);
    assert!(unknown.contains("no pair named nope") && unknown.contains("default, second"), "{unknown}");
    // Naming no pair with two of them is a question, not a guess.
    let which = card_text(&alice.say("replicate --dry-run").await);
    assert!(which.contains("Which pair?") && which.contains("use PAIR"), "{which}");

    // `use PAIR`: this chat's commands mean it when they name none.
    let used = card_text(&alice.say("use second").await);
    assert!(used.contains("This chat uses pair second"), "{used}");
    let dashboard = later(&world, &alice, "status").await;
    assert!(dashboard.contains("second ·"), "{dashboard}");

    // Removed: gone from the list and from this chat's default.
    let removed = card_text(&alice.say("pair remove second").await);
    assert!(removed.contains("Pair second removed"), "{removed}");
    assert!(store.pair("second").await.unwrap().is_none());
    let listed = card_text(&alice.say("pair list").await);
    assert!(!listed.contains("second"), "{listed}");
    let again = card_text(&alice.say("pair remove second").await);
    assert!(again.contains("no pair named second"), "{again}");
}

/// A warehouse id names a warehouse of one workspace: the primary's
/// warehouse is checked on the primary, so the secondary's id there is
/// refused, and the primary's own is kept on the pair.
#[tokio::test]
async fn the_primarys_warehouse_is_checked_on_the_primary_and_kept() {
    use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let base = add_command(&world, "third", &world.sandbox.primary_url());
    let refused = later(&world, &alice, &format!("{base} primary_warehouse={SANDBOX_WAREHOUSE_ID}")).await;
    assert!(refused.contains("Pair third was not added"), "{refused}");
    assert!(refused.contains(&format!("primary_warehouse {SANDBOX_WAREHOUSE_ID}")), "{refused}");
    let added = later(&world, &alice, &format!("{base} primary_warehouse={PRIMARY_WAREHOUSE_ID}")).await;
    assert!(added.contains("Pair third added"), "{added}");
    let third = world.bot.app.store.pair("third").await.unwrap().expect("stored");
    assert_eq!(third.primary_warehouse_id.as_deref(), Some(PRIMARY_WAREHOUSE_ID));
    assert_eq!(third.warehouse_id.as_deref(), Some(SANDBOX_WAREHOUSE_ID));
}

#[tokio::test]
async fn a_pair_that_does_not_answer_is_refused_with_what_is_wrong() {
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    // A port nothing listens on, and a warehouse the secondary does not have.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let command = format!(
        "pair add broken primary={closed} secondary={} warehouse=0000000000000000",
        world.sandbox.secondary_url()
    );
    let refused = later(&world, &alice, &command).await;
    assert!(refused.contains("Pair broken was not added"), "{refused}");
    assert!(refused.contains("the primary 127.0.0.1 does not answer"), "{refused}");
    assert!(refused.contains("warehouse 0000000000000000"), "{refused}");
    assert!(!refused.contains("the secondary"), "the secondary answers: {refused}");
    assert!(world.bot.app.store.pair("broken").await.unwrap().is_none());
    let audit = world.bot.app.store.recent_audit(20).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "add a pair" && e.result.starts_with("refused: the primary")));

    // Bad words never reach a workspace: the usage says what is wrong.
    let usage = card_text(&alice.say("pair add Bad;Name primary=x").await);
    assert!(usage.contains("not a pair name"), "{usage}");

    // Only admins change the pairs; listing them needs one of drbot's roles.
    let bob = Chat::personal(&world, "bob");
    bob.sign_in().await;
    let denied = card_text(&bob.say(&add_command(&world, "mine", &world.sandbox.primary_url())).await);
    assert!(denied.contains("Not allowed") && denied.contains("**admin**"), "{denied}");
    let listed = card_text(&bob.say("pair list").await);
    assert!(listed.contains("Not allowed") && !listed.contains("default"), "{listed}");
    assert!(world.bot.app.store.pair("mine").await.unwrap().is_none());
}

#[tokio::test]
async fn replicate_pair_plans_with_the_pairs_own_sharing_names() {
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let added = later(&world, &alice, &add_command(&world, "finance-eu", &world.sandbox.primary_url())).await;
    assert!(added.contains("Pair finance-eu added"), "{added}");

    let plan = later_card(&world, &alice, "replicate finance-eu --dry-run").await;
    assert!(card_text(&plan).contains("Dry run"), "{}", card_text(&plan));
    // The stored plan is the pair's: its recipient and shares are named after it.
    let card = plan.adaptive_card().expect("a card");
    let plan_id = card["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["verb"] == "replicate.cancel"))
        .and_then(|a| a["data"]["plan_id"].as_str())
        .expect("the plan's id on its Cancel button");
    let store = &world.bot.app.store;
    let stored = store.plan(plan_id, 0).await.unwrap().expect("a stored plan");
    assert_eq!(stored.payload["pair"], "finance-eu");
    let text = stored.payload["plan"].to_string();
    assert!(text.contains("finance_eu_secondary") && text.contains("finance_eu_"), "{text}");
    assert!(!text.contains("drbot_secondary"), "not the default pair's names: {text}");

    // `replicate WORD` is the catalog when no pair has that name: as before.
    let used = card_text(&alice.say("use default").await);
    assert!(used.contains("This chat uses pair default"), "{used}");
    let plan = later(&world, &alice, "replicate main --dry-run").await;
    assert!(plan.contains("Dry run"), "{plan}");
}

/// `status` over several pairs on the same two workspaces (spokes sharing a
/// hub): every pair is read and shown, and together they never ask one
/// workspace for more than the configured requests in flight.
#[tokio::test]
async fn pairs_that_share_a_workspace_share_its_budget_of_requests() {
    let world = World::start_with(|config| config.replication.read_concurrency = 5).await;
    let store = &world.bot.app.store;
    let default = store.pair("default").await.unwrap().expect("the configured pair");
    for i in 0..6 {
        let mut pair =
            drbot::pairs::Pair::new(&format!("spoke-{i}"), default.primary.clone(), default.secondary.clone());
        pair.warehouse_id = default.warehouse_id.clone();
        pair.location_mapping = default.location_mapping.clone();
        assert!(store.add_pair(&pair, drbot::store::pairs::Origin::Added, 0).await.unwrap());
    }
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    for ws in [&world.sandbox.primary, &world.sandbox.secondary] {
        // Requests that take a while, so that reads overlap.
        ws.faults.set(sandbox::faults::FaultConfig { latency_ms: Some((10, 10)), ..Default::default() });
        ws.reset_peak_in_flight();
    }

    let overview = later(&world, &alice, "status").await;
    for name in ["default", "spoke-0", "spoke-5"] {
        assert!(overview.contains(&format!("\"text\":\"status {name}\"")), "{overview}");
    }
    for ws in [&world.sandbox.primary, &world.sandbox.secondary] {
        let peak = ws.peak_in_flight();
        assert!((2..=5).contains(&peak), "{} answered {peak} requests at once (budget 5)", ws.name);
    }
}

/// `pair set NAME primary_warehouse=ID`: a pair added (or deployed) without
/// the primary's warehouse gets one in place, checked on the primary first
/// (the secondary's warehouse id names no warehouse there); an unknown pair
/// is said so.
#[tokio::test]
async fn an_admin_sets_a_pairs_primary_warehouse_in_place_after_a_check() {
    use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
    let world = World::start().await;
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let added = later(&world, &alice, &add_command(&world, "fourth", &world.sandbox.primary_url())).await;
    assert!(added.contains("Pair fourth added"), "{added}");
    assert_eq!(world.bot.app.store.pair("fourth").await.unwrap().unwrap().primary_warehouse_id, None);

    let refused = later(&world, &alice, &format!("pair set fourth primary_warehouse={SANDBOX_WAREHOUSE_ID}")).await;
    assert!(refused.contains("Pair fourth was not changed"), "{refused}");
    assert_eq!(world.bot.app.store.pair("fourth").await.unwrap().unwrap().primary_warehouse_id, None);

    let set = later(&world, &alice, &format!("pair set fourth primary_warehouse={PRIMARY_WAREHOUSE_ID}")).await;
    assert!(set.contains("Pair fourth changed"), "{set}");
    let fourth = world.bot.app.store.pair("fourth").await.unwrap().unwrap();
    assert_eq!(fourth.primary_warehouse_id.as_deref(), Some(PRIMARY_WAREHOUSE_ID));
    assert_eq!(fourth.warehouse_id.as_deref(), Some(SANDBOX_WAREHOUSE_ID), "the rest stays");

    let unknown = card_text(&alice.say("pair set nosuch primary_warehouse=abc").await);
    assert!(unknown.contains("There is no pair named nosuch"), "{unknown}");
}

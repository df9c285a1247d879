//! drbot's client for Databricks managed DR's failover groups, against the
//! sandbox's account API: it reads a group, asks for a forced failover with
//! the etag it read (a stale etag re-reads and reports instead), and follows
//! the failover until it ends ACTIVE in the target region or FAILOVER_FAILED.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use drbot::databricks::account::AccountClient;
use drbot::databricks::failover_groups::FailoverStart;
use drbot::databricks::DatabricksError;
use drbot::identity::AccessToken;
use sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID;
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};

const GROUP: &str = "sales-dr";
const POLL: Duration = Duration::from_millis(20);
const DEADLINE: Duration = Duration::from_secs(10);

struct Fixture {
    sandbox: Sandbox,
    client: AccountClient,
    token: AccessToken,
}

async fn fixture() -> Fixture {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let alice = sandbox.teams.user("alice").expect("a sandbox user");
    sandbox.accounts.add_account_admin(&alice.upn);
    let point = Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap();
    sandbox.accounts.failover_groups.add(GROUP, &["westeurope", "northeurope"], "westeurope", &[1, 2], point);
    let token = AccessToken::new(sandbox.entra.user_token(&alice, "drbot", DATABRICKS_AUDIENCE, "user_impersonation"));
    let client = AccountClient::new(reqwest::Client::new(), &sandbox.accounts_url(), SANDBOX_ACCOUNT_ID);
    Fixture { sandbox, client, token }
}

#[tokio::test]
async fn a_group_reads_with_its_primary_replication_point_and_rpo() {
    let f = fixture().await;
    let group = f.client.failover_group(&f.token, GROUP).await.expect("the group");
    assert_eq!(group.name, format!("accounts/{SANDBOX_ACCOUNT_ID}/failover-groups/{GROUP}"));
    assert_eq!(group.state, "ACTIVE");
    assert_eq!(group.effective_primary_region, "westeurope");
    assert_eq!(group.regions, ["westeurope", "northeurope"]);
    let point = Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap();
    assert_eq!(group.replication_point, Some(point));
    assert_eq!(group.rpo(point + chrono::Duration::minutes(7)), Some(chrono::Duration::minutes(7)));

    let missing = f.client.failover_group(&f.token, "nope").await;
    assert!(matches!(missing, Err(DatabricksError::NotFound(_))), "{missing:?}");
}

#[tokio::test]
async fn a_failover_with_the_etag_runs_until_active_in_the_target_region() {
    let f = fixture().await;
    f.sandbox.accounts.failover_groups.set_failover_duration(Duration::from_millis(200));
    let group = f.client.failover_group(&f.token, GROUP).await.unwrap();
    let started = f.client.fail_over_group(&f.token, GROUP, "northeurope", &group.etag).await.expect("failover");
    let FailoverStart::Started(running) = started else { panic!("not started: {started:?}") };
    assert_eq!(running.state, "FAILING_OVER");
    assert_eq!(running.effective_primary_region, "westeurope", "the primary moves when the failover ends");

    let done = f.client.follow_failover(&f.token, GROUP, POLL, DEADLINE).await.unwrap();
    assert_eq!(done.state, "ACTIVE");
    assert_eq!(done.effective_primary_region, "northeurope");
}

#[tokio::test]
async fn a_stale_etag_starts_nothing_and_reports_the_group_as_it_is() {
    let f = fixture().await;
    let read = f.client.failover_group(&f.token, GROUP).await.unwrap();
    // Replication moves on after the read: a new etag.
    let later = Utc.with_ymd_and_hms(2026, 12, 6, 9, 5, 0).unwrap();
    f.sandbox.accounts.failover_groups.set_replication_point(GROUP, later);

    let answer = f.client.fail_over_group(&f.token, GROUP, "northeurope", &read.etag).await.unwrap();
    let FailoverStart::Stale(now) = answer else { panic!("started on a stale etag: {answer:?}") };
    assert_eq!(now.state, "ACTIVE");
    assert_eq!(now.effective_primary_region, "westeurope");
    assert_eq!(now.replication_point, Some(later));
    assert_ne!(now.etag, read.etag);
}

#[tokio::test]
async fn a_failed_failover_ends_failover_failed_with_the_primary_unchanged_and_can_be_retried() {
    let f = fixture().await;
    f.sandbox.accounts.failover_groups.fail_next_failover("the secondary metastore is unreachable");
    let group = f.client.failover_group(&f.token, GROUP).await.unwrap();
    let started = f.client.fail_over_group(&f.token, GROUP, "northeurope", &group.etag).await.unwrap();
    assert!(matches!(started, FailoverStart::Started(_)), "{started:?}");
    let failed = f.client.follow_failover(&f.token, GROUP, POLL, DEADLINE).await.unwrap();
    assert_eq!(failed.state, "FAILOVER_FAILED");
    assert_eq!(failed.effective_primary_region, "westeurope");

    let retried = f.client.fail_over_group(&f.token, GROUP, "northeurope", &failed.etag).await.unwrap();
    assert!(matches!(retried, FailoverStart::Started(_)), "{retried:?}");
    let done = f.client.follow_failover(&f.token, GROUP, POLL, DEADLINE).await.unwrap();
    assert_eq!((done.state.as_str(), done.effective_primary_region.as_str()), ("ACTIVE", "northeurope"));
}

#[tokio::test]
async fn invalid_failovers_are_refused() {
    let f = fixture().await;
    let etag = f.client.failover_group(&f.token, GROUP).await.unwrap().etag;
    for target in ["westeurope", "eastus"] {
        let refused = f.client.fail_over_group(&f.token, GROUP, target, &etag).await;
        assert!(matches!(refused, Err(DatabricksError::InvalidParameter(_))), "{target}: {refused:?}");
    }
    // A second failover while one runs.
    f.sandbox.accounts.failover_groups.set_failover_duration(Duration::from_secs(600));
    f.client.fail_over_group(&f.token, GROUP, "northeurope", &etag).await.unwrap();
    let running = f.client.failover_group(&f.token, GROUP).await.unwrap();
    let again = f.client.fail_over_group(&f.token, GROUP, "northeurope", &running.etag).await;
    assert!(matches!(again, Err(DatabricksError::InvalidParameter(_))), "{again:?}");
}

#[tokio::test]
async fn a_group_names_its_stable_urls_and_each_reads_with_its_address() {
    let f = fixture().await;
    let urls = &f.sandbox.accounts.failover_groups;
    let web = urls.add_stable_url("sales-web", 1, Some(GROUP));
    urls.add_stable_url("scratch", 2, None);
    let group = f.client.failover_group(&f.token, GROUP).await.unwrap();
    let name = format!("accounts/{SANDBOX_ACCOUNT_ID}/stable-urls/sales-web");
    assert_eq!(group.stable_url_names(&[]), std::slice::from_ref(&name), "only the linked one");
    let read = f.client.stable_url(&f.token, &name).await.expect("the stable URL");
    assert_eq!(read.url, web);
    assert_eq!(read.failover_group_name, format!("accounts/{SANDBOX_ACCOUNT_ID}/failover-groups/{GROUP}"));
    assert_eq!(read.effective_workspace_id, "1", "the group's primary, in westeurope");
    let loose = f.client.stable_url(&f.token, &format!("accounts/{SANDBOX_ACCOUNT_ID}/stable-urls/scratch")).await;
    let loose = loose.unwrap();
    assert_eq!((loose.failover_group_name.as_str(), loose.effective_workspace_id.as_str()), ("", "2"));

    // It follows the group across a failover (only once the failover ended).
    f.sandbox.accounts.failover_groups.set_failover_duration(Duration::from_millis(100));
    let group = f.client.failover_group(&f.token, GROUP).await.unwrap();
    f.client.fail_over_group(&f.token, GROUP, "northeurope", &group.etag).await.unwrap();
    assert_eq!(f.client.stable_url(&f.token, &name).await.unwrap().effective_workspace_id, "1", "failing over");
    let ended = f.client.follow_failover(&f.token, GROUP, POLL, DEADLINE).await.unwrap();
    assert_eq!(ended.effective_primary_region, "northeurope");
    assert_eq!(f.client.stable_url(&f.token, &name).await.unwrap().effective_workspace_id, "2");

    // A name the group gives is checked before it becomes a path.
    for foreign in ["accounts/other/stable-urls/x", "accounts/x/failover-groups/y", &format!("{name}/../../z")] {
        let refused = f.client.stable_url(&f.token, foreign).await;
        assert!(matches!(refused, Err(DatabricksError::Protocol(_))), "{foreign}: {refused:?}");
    }
    let missing = f.client.stable_url(&f.token, &format!("accounts/{SANDBOX_ACCOUNT_ID}/stable-urls/nope")).await;
    assert!(matches!(missing, Err(DatabricksError::NotFound(_))), "{missing:?}");

    // Another workspace set's stable URL routes to that set's workspace in
    // the group's primary region, and is named for that set's workspaces only.
    urls.add_workspace_set(GROUP, &[3, 4]);
    urls.add_stable_url("hr-web", 3, Some(GROUP));
    let group = f.client.failover_group(&f.token, GROUP).await.unwrap();
    let other = format!("accounts/{SANDBOX_ACCOUNT_ID}/stable-urls/hr-web");
    assert_eq!(group.stable_url_names(&["1".into(), "2".into()]), std::slice::from_ref(&name));
    assert_eq!(group.stable_url_names(&["4".into()]), std::slice::from_ref(&other));
    assert_eq!(group.stable_url_names(&[]), [name.clone(), other.clone()], "every set's when no id is known");
    assert_eq!(f.client.stable_url(&f.token, &other).await.unwrap().effective_workspace_id, "4", "northeurope's");

    // Unlinked (the group's update): the group no longer names it, and it
    // keeps routing where the group's primary was.
    urls.unlink_stable_url("sales-web");
    let names = f.client.failover_group(&f.token, GROUP).await.unwrap().stable_url_names(&[]);
    assert_eq!(names, [other], "only the other set's is left");
    let kept = f.client.stable_url(&f.token, &name).await.unwrap();
    assert_eq!((kept.failover_group_name.as_str(), kept.effective_workspace_id.as_str()), ("", "2"));
}

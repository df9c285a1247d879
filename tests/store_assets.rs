//! Workspace assets in the store, on SQLite and on PostgreSQL: each primary
//! job's pause state per pair (a new reading replaces the last, a job gone
//! from the primary is forgotten, two pairs keep their own), and each
//! pair's mapping table.

use drbot::assets::job_settings::PauseState;
use drbot::assets::mapping::MappingKind;
use drbot::store::job_pause_states::JobPauseState;
#[macro_use]
mod support;

use support::fresh::Fresh;

fn state(id: i64, schedule: Option<&str>, trigger: Option<&str>, continuous: Option<&str>) -> JobPauseState {
    JobPauseState {
        source_job_id: id,
        job_name: format!("job {id}"),
        pause: PauseState {
            schedule: schedule.map(str::to_string),
            trigger: trigger.map(str::to_string),
            continuous: continuous.map(str::to_string),
        },
    }
}

on_both_backends!(pause_states_are_the_last_reading_per_pair, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert!(store.job_pause_states("default").await.unwrap().is_empty());
    let first = vec![
        state(1, Some("UNPAUSED"), None, None),
        state(2, Some("PAUSED"), None, None),
        state(4, None, None, None),
        state(3_000_000_000_123, None, Some("UNPAUSED"), None),
    ];
    store.record_job_pause_states("default", &first, 1_000).await.unwrap();
    store.record_job_pause_states("other", &[state(1, None, None, Some("PAUSED"))], 1_000).await.unwrap();
    assert_eq!(store.job_pause_states("default").await.unwrap(), first, "ids beyond 32 bits survive");

    // Job 1 was paused on purpose, job 2 is gone from the primary.
    let second = vec![state(1, Some("PAUSED"), None, None), state(3_000_000_000_123, None, Some("UNPAUSED"), None)];
    store.record_job_pause_states("default", &second, 2_000).await.unwrap();
    assert_eq!(store.job_pause_states("default").await.unwrap(), second);
    assert_eq!(store.job_pause_states("other").await.unwrap(), vec![state(1, None, None, Some("PAUSED"))]);
    fresh
});

on_both_backends!(mappings_are_kept_per_pair_and_kind, |fresh: Fresh| async move {
    let store = fresh.open().await;
    store.set_asset_mapping("default", MappingKind::ClusterPolicy, "P1", "S1").await.unwrap();
    store.set_asset_mapping("default", MappingKind::ClusterPolicy, "P1", "S2").await.unwrap();
    store.set_asset_mapping("default", MappingKind::Principal, "a@x.com", "a@y.com").await.unwrap();
    store.set_asset_mapping("other", MappingKind::ClusterPolicy, "P1", "O1").await.unwrap();
    let mapping = store.asset_mapping("default").await.unwrap();
    assert_eq!(mapping.id(MappingKind::ClusterPolicy, "P1"), Ok("S2".into()), "a later mapping replaces");
    assert_eq!(mapping.principal("a@x.com"), "a@y.com");
    assert_eq!(store.asset_mapping("other").await.unwrap().id(MappingKind::ClusterPolicy, "P1"), Ok("O1".into()));
    assert!(store.remove_asset_mapping("default", MappingKind::Principal, "a@x.com").await.unwrap());
    assert!(!store.remove_asset_mapping("default", MappingKind::Principal, "a@x.com").await.unwrap());
    assert_eq!(store.asset_mapping("default").await.unwrap().principal("a@x.com"), "a@x.com");
    fresh
});

"""The official databricks-sdk's AccountClient against the sandbox's account
API: managed DR's failover groups (DisasterRecoveryAPI), read and failed over;
and its WorkspaceClient reading the group's events from system.replication.states
through the Statement Execution API. Run by tests/compat_databricks.rs with
ACCOUNTS_HOST, ACCOUNT_ID, ADMIN_TOKEN, GROUP, WORKSPACE_HOST, WAREHOUSE_ID."""

import json
import os

import pytest
from databricks.sdk import AccountClient, WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceConflict
from databricks.sdk.service.disasterrecovery import FailoverFailoverGroupRequestFailoverType, FailoverGroupState
from databricks.sdk.service.sql import StatementState

FORCED = FailoverFailoverGroupRequestFailoverType.FORCED


def client():
    return AccountClient(
        host=os.environ["ACCOUNTS_HOST"], account_id=os.environ["ACCOUNT_ID"], token=os.environ["ADMIN_TOKEN"], auth_type="pat"
    )


def name(group):
    return f"accounts/{os.environ['ACCOUNT_ID']}/failover-groups/{group}"


def test_a_failover_group_is_read_and_failed_over_with_its_etag():
    a = client()
    group = a.disaster_recovery.get_failover_group(name(os.environ["GROUP"]))
    assert group.name == name(os.environ["GROUP"])
    assert group.state == FailoverGroupState.ACTIVE
    assert group.effective_primary_region == "westeurope"
    assert group.regions == ["westeurope", "northeurope"]
    assert group.replication_point is not None
    assert group.workspace_sets[0].workspace_ids == ["1", "2"]  # List[str] in the SDK
    assert [c.name for c in group.unity_catalog_assets.catalogs] == ["main"]

    with pytest.raises(InvalidParameterValue):
        a.disaster_recovery.failover_failover_group(group.name, "westeurope", FORCED, etag=group.etag)
    with pytest.raises(ResourceConflict):
        a.disaster_recovery.failover_failover_group(group.name, "northeurope", FORCED, etag="stale")

    running = a.disaster_recovery.failover_failover_group(group.name, "northeurope", FORCED, etag=group.etag)
    assert running.state == FailoverGroupState.FAILING_OVER
    # The sandbox's failover takes no time: the next read has it done.
    done = a.disaster_recovery.get_failover_group(group.name)
    assert done.state == FailoverGroupState.ACTIVE
    assert done.effective_primary_region == "northeurope"


def test_stable_urls_list_in_pages_and_route_to_the_group_s_primary():
    a = client()
    parent = f"accounts/{os.environ['ACCOUNT_ID']}"
    listed = list(a.disaster_recovery.list_stable_urls(parent, page_size=1))
    assert [u.name for u in listed] == [f"{parent}/stable-urls/sales-web", f"{parent}/stable-urls/scratch"]
    with pytest.raises(InvalidParameterValue):
        list(a.disaster_recovery.list_stable_urls(parent, page_size=-1))

    group = a.disaster_recovery.get_failover_group(name(os.environ["GROUP"]))
    assert group.workspace_sets[0].stable_url_names == [f"{parent}/stable-urls/sales-web"]
    linked = a.disaster_recovery.get_stable_url(f"{parent}/stable-urls/sales-web")
    assert linked.failover_group_name == group.name
    assert linked.url.startswith("https://") and linked.stable_workspace_id in linked.url
    primary = group.workspace_sets[0].workspace_ids[group.regions.index(group.effective_primary_region)]
    assert linked.effective_workspace_id == primary
    assert linked.initial_workspace_id is None  # create requests only
    loose = a.disaster_recovery.get_stable_url(f"{parent}/stable-urls/scratch")
    assert not loose.failover_group_name and loose.effective_workspace_id == "2"
    with pytest.raises(NotFound):
        a.disaster_recovery.get_stable_url(f"{parent}/stable-urls/nope")


def test_a_missing_group_is_not_found():
    with pytest.raises(NotFound):
        client().disaster_recovery.get_failover_group(name("nope"))


def test_the_group_s_events_are_read_from_the_replication_system_table():
    w = WorkspaceClient(host=os.environ["WORKSPACE_HOST"], token=os.environ["ADMIN_TOKEN"], auth_type="pat")
    sql = (
        "SELECT event_time, replication_state, replication_lag_ms, to_json(errors) AS errors "
        f"FROM system.replication.states WHERE failover_group_name = '{name(os.environ['GROUP'])}' "
        "ORDER BY event_time DESC LIMIT 1"
    )
    answer = w.statement_execution.execute_statement(statement=sql, warehouse_id=os.environ["WAREHOUSE_ID"], wait_timeout="30s")
    assert answer.status.state == StatementState.SUCCEEDED
    [row] = answer.result.data_array
    assert row[1] in {"REPLICATING", "FAILOVER_STARTED", "FAILOVER_FINISHED", "FAILOVER_ABORTED"}
    assert row[2] is None or int(row[2]) >= 0
    assert isinstance(json.loads(row[3]), list)

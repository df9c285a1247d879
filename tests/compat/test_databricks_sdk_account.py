"""The official databricks-sdk's AccountClient against the sandbox's account
API: managed DR's failover groups (DisasterRecoveryAPI), read and failed over.
Run by tests/compat_databricks.rs with ACCOUNTS_HOST, ACCOUNT_ID, ADMIN_TOKEN, GROUP."""

import os

import pytest
from databricks.sdk import AccountClient
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceConflict
from databricks.sdk.service.disasterrecovery import FailoverFailoverGroupRequestFailoverType, FailoverGroupState

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


def test_a_missing_group_is_not_found():
    with pytest.raises(NotFound):
        client().disaster_recovery.get_failover_group(name("nope"))

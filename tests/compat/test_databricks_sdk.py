"""The official databricks-sdk, unchanged, against the sandbox's workspace.

Driven by tests/compat_databricks.rs, which starts the sandbox and passes:
DATABRICKS_HOST, ADMIN_TOKEN and READER_TOKEN (Entra tokens of two sandbox
users for the Azure Databricks resource), and EXPECTED (what each user may
see, computed from the sandbox's own model).
"""
import io
import json
import os

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    AlreadyExists,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from databricks.sdk.service.catalog import PermissionsChange, Privilege

EXPECTED = json.loads(os.environ["EXPECTED"])


def client(token_variable):
    return WorkspaceClient(host=os.environ["DATABRICKS_HOST"], token=os.environ[token_variable], auth_type="pat")


def visible_tables(w):
    """Every table the caller can list, walking catalogs and schemas it may use."""
    tables = []
    for catalog in w.catalogs.list():
        if catalog.catalog_type and catalog.catalog_type.value == "SYSTEM_CATALOG":
            continue
        try:
            schemas = list(w.schemas.list(catalog_name=catalog.name))
        except PermissionDenied:
            continue
        for schema in schemas:
            try:
                tables.extend(t.full_name for t in w.tables.list(catalog_name=catalog.name, schema_name=schema.name))
            except PermissionDenied:
                continue
    return sorted(tables)


def test_admin_lists_every_catalog_schema_and_table_across_pages():
    w = client("ADMIN_TOKEN")
    assert sorted(c.name for c in w.catalogs.list()) == EXPECTED["admin"]["catalogs"]
    schemas = sorted(s.full_name for c in EXPECTED["admin"]["catalogs"] if c != "system" for s in w.schemas.list(catalog_name=c))
    assert schemas == EXPECTED["admin"]["schemas"]
    assert visible_tables(w) == EXPECTED["admin"]["tables"]


def test_reader_sees_exactly_what_is_granted_even_when_pages_are_empty():
    w = client("READER_TOKEN")
    assert sorted(c.name for c in w.catalogs.list()) == EXPECTED["reader"]["catalogs"]
    assert visible_tables(w) == EXPECTED["reader"]["tables"]


def test_table_details_and_summaries():
    w = client("ADMIN_TOKEN")
    view = w.tables.get(EXPECTED["view"])
    assert view.table_type.value == "VIEW"
    assert view.view_dependencies.dependencies, "a GET returns the view's dependencies"
    catalog = EXPECTED["view"].split(".")[0]
    summaries = [s.full_name for s in w.tables.list_summaries(catalog_name=catalog)]
    assert EXPECTED["view"] in summaries
    with pytest.raises(NotFound):
        w.tables.get(f"{catalog}.no_such_schema.no_such_table")


def test_permissions_are_read_and_updated():
    w = client("ADMIN_TOKEN")
    table = EXPECTED["table"]
    w.grants.update("table", table, changes=[PermissionsChange(principal="compat-auditors", add=[Privilege.SELECT])])
    granted = {a.principal: sorted(p.value for p in a.privileges) for a in w.grants.get("table", table).privilege_assignments}
    assert granted["compat-auditors"] == ["SELECT"]
    effective = w.grants.get_effective("table", table).privilege_assignments
    assert any(a.principal == "compat-auditors" for a in effective)
    w.grants.update("table", table, changes=[PermissionsChange(principal="compat-auditors", remove=[Privilege.SELECT])])
    after = [a.principal for a in (w.grants.get("table", table).privilege_assignments or [])]
    assert "compat-auditors" not in after


def test_a_reader_cannot_change_grants():
    w = client("READER_TOKEN")
    with pytest.raises(PermissionDenied):
        w.grants.update("catalog", EXPECTED["admin"]["catalogs"][0], changes=[PermissionsChange(principal="x", add=[Privilege.USE_CATALOG])])


def test_statements_execute_and_are_read_back():
    w = client("ADMIN_TOKEN")
    done = w.statement_execution.execute_statement(
        statement="SELECT current_metastore()", warehouse_id=os.environ["WAREHOUSE_ID"], wait_timeout="10s"
    )
    assert done.status.state.value == "SUCCEEDED"
    assert done.result.data_array == [[EXPECTED["metastore"]]]
    again = w.statement_execution.get_statement(done.statement_id)
    assert again.status.state.value == "SUCCEEDED"
    failed = w.statement_execution.execute_statement(statement="DROP TABLE x", warehouse_id=os.environ["WAREHOUSE_ID"], wait_timeout="10s")
    assert failed.status.state.value == "FAILED"
    assert failed.status.error.error_code.value == "BAD_REQUEST"
    assert failed.status.error.message.startswith("[PARSE_SYNTAX_ERROR]")


def test_jobs_run_now_and_get_run():
    w = client("ADMIN_TOKEN")
    job_id = int(os.environ["JOB_ID"])
    started = w.jobs.run_now(job_id=job_id, idempotency_token="compat-run-1").response
    again = w.jobs.run_now(job_id=job_id, idempotency_token="compat-run-1").response
    assert started.run_id == again.run_id
    run = w.jobs.get_run(started.run_id)
    assert run.run_id == started.run_id
    assert [t.task_key for t in run.tasks][:2] == ["schemas", "managed_tables"]


def test_sharing_recipient_share_and_provider():
    from databricks.sdk.service.sharing import (
        AuthenticationType,
        SharedDataObject,
        SharedDataObjectDataObjectType,
        SharedDataObjectUpdate,
        SharedDataObjectUpdateAction,
    )
    from databricks.sdk.service.sharing import PermissionsChange as SharePermissionsChange

    primary = client("ADMIN_TOKEN")
    secondary = WorkspaceClient(host=os.environ["SECONDARY_HOST"], token=os.environ["ADMIN_TOKEN"], auth_type="pat")
    primary.recipients.create(
        name="compat-recipient",
        authentication_type=AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=EXPECTED["secondary_metastore"],
    )
    primary.shares.create(name="compat_share")
    schema = ".".join(EXPECTED["table"].split(".")[:2])
    primary.shares.update(
        name="compat_share",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(name=schema, data_object_type=SharedDataObjectDataObjectType.SCHEMA),
            )
        ],
    )
    primary.shares.update_permissions(
        name="compat_share", changes=[SharePermissionsChange(principal="compat-recipient", add=["SELECT"])]
    )
    assert "compat-recipient" in [r.name for r in primary.recipients.list()]
    assert "compat_share" in [s.name for s in primary.shares.list_shares()]
    providers = list(secondary.providers.list(data_provider_global_metastore_id=EXPECTED["metastore"]))
    assert len(providers) == 1
    assert providers[0].data_provider_global_metastore_id == EXPECTED["metastore"]


# Error shapes (sandbox/FIDELITY.md): the SDK picks its exception from the
# status when it does not know the code, and keeps the code on the exception.


def test_a_duplicate_create_names_the_object_in_its_code():
    from databricks.sdk.errors import BadRequest

    w = client("ADMIN_TOKEN")
    catalog = EXPECTED["admin"]["catalogs"][0]
    with pytest.raises(BadRequest) as duplicate:
        w.catalogs.create(name=catalog)
    assert duplicate.value.error_code == "CATALOG_ALREADY_EXISTS"
    schema = EXPECTED["table"].split(".")[1]
    with pytest.raises(BadRequest) as duplicate:
        w.schemas.create(name=schema, catalog_name=EXPECTED["table"].split(".")[0])
    assert duplicate.value.error_code == "SCHEMA_ALREADY_EXISTS"
    w.shares.create(name="compat_duplicate_share")
    with pytest.raises(BadRequest) as duplicate:
        w.shares.create(name="compat_duplicate_share")
    assert duplicate.value.error_code == "SHARE_ALREADY_EXISTS"


def test_a_missing_object_and_a_missing_endpoint_are_told_apart():
    w = client("ADMIN_TOKEN")
    with pytest.raises(NotFound) as missing:
        w.catalogs.get("no_such_catalog")
    assert missing.value.error_code == "CATALOG_DOES_NOT_EXIST"
    with pytest.raises(NotFound) as missing:
        w.schemas.get(f"{EXPECTED['admin']['catalogs'][0]}.no_such_schema")
    assert missing.value.error_code == "SCHEMA_DOES_NOT_EXIST"
    with pytest.raises(NotFound) as endpoint:
        w.api_client.do("GET", "/api/2.1/unity-catalog/no-such-api")
    assert endpoint.value.error_code == "ENDPOINT_NOT_FOUND"


def test_grants_page_with_a_token_and_refuse_short_pages():
    from databricks.sdk.errors import InvalidParameterValue

    w = client("ADMIN_TOKEN")
    table = EXPECTED["table"]
    w.grants.update(
        "table", table, changes=[PermissionsChange(principal=f"compat-pager-{i}", add=[Privilege.SELECT]) for i in range(5)]
    )
    everything = sorted(a.principal for a in w.grants.get("table", table).privilege_assignments)
    paged, token, pages = [], None, 0
    while True:
        page = w.grants.get("table", table, max_results=0, page_token=token)
        paged.extend(a.principal for a in page.privilege_assignments or [])
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages > 1
    assert sorted(paged) == everything
    with pytest.raises(InvalidParameterValue):
        w.grants.get("table", table, max_results=10)


def test_altering_a_view_keeps_its_grants_and_replacing_it_drops_them():
    w = client("ADMIN_TOKEN")
    table = ".".join(f"`{p}`" for p in EXPECTED["table"].split("."))
    view_name = ".".join(EXPECTED["table"].split(".")[:2] + ["compat_view"])
    view = ".".join(f"`{p}`" for p in view_name.split("."))

    def run(sql):
        done = w.statement_execution.execute_statement(statement=sql, warehouse_id=os.environ["WAREHOUSE_ID"], wait_timeout="10s")
        assert done.status.state.value == "SUCCEEDED", (sql, done.status)

    def grantees():
        return [a.principal for a in (w.grants.get("table", view_name).privilege_assignments or [])]

    run(f"CREATE VIEW IF NOT EXISTS {view} AS SELECT * FROM {table}")
    run(f"GRANT SELECT ON VIEW {view} TO `compat-auditors`")
    run(f"ALTER VIEW {view} AS SELECT * FROM {table} WHERE 1 = 1")
    assert "compat-auditors" in grantees()
    assert w.tables.get(view_name).view_definition.endswith("WHERE 1 = 1")
    run(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {table}")
    assert "compat-auditors" not in grantees()


def test_an_update_answers_the_updated_object():
    """FIDELITY.md: a PATCH answers the updated object (drbot checks the answer)."""
    w = client("ADMIN_TOKEN")
    catalog = EXPECTED["admin"]["catalogs"][0]
    before = w.catalogs.get(catalog).comment or ""
    answered = w.catalogs.update(catalog, comment="compat: updated")
    assert answered.name == catalog
    assert answered.comment == "compat: updated"
    assert w.catalogs.get(catalog).comment == "compat: updated"
    w.catalogs.update(catalog, comment=before)


def test_me_names_the_caller_and_its_groups():
    """FIDELITY.md: SCIM Me lists the caller's groups (drbot judges ownership by them)."""
    me = client("ADMIN_TOKEN").current_user.me()
    assert me.user_name
    assert me.groups, "the admin belongs to groups"
    assert all(group.display for group in me.groups)


def test_sql_warehouses_are_listed_across_pages_created_and_shared():
    """The deployment bootstrap's warehouse calls: list (pages), create, get, permissions."""
    from databricks.sdk.service.sql import (
        CreateWarehouseRequestWarehouseType,
        WarehouseAccessControlRequest,
        WarehousePermissionLevel,
    )

    w = client("ADMIN_TOKEN")
    before = [e.id for e in w.warehouses.list()]
    assert os.environ["WAREHOUSE_ID"] in before
    created = w.warehouses.create(
        name="sdk-compat",
        cluster_size="Small",
        max_num_clusters=1,
        auto_stop_mins=10,
        enable_serverless_compute=True,
        warehouse_type=CreateWarehouseRequestWarehouseType.PRO,
    ).response
    for name in ["sdk-compat-2", "sdk-compat-3"]:
        w.warehouses.create(name=name, cluster_size="Small", auto_stop_mins=10, warehouse_type=CreateWarehouseRequestWarehouseType.PRO)
    listed = [e.name for e in w.warehouses.list()]
    assert {"sdk-compat", "sdk-compat-2", "sdk-compat-3"} <= set(listed), "every page is followed"
    got = w.warehouses.get(created.id)
    assert got.name == "sdk-compat" and got.enable_serverless_compute
    granted = w.warehouses.update_permissions(
        created.id,
        access_control_list=[
            WarehouseAccessControlRequest(group_name="dr-readers", permission_level=WarehousePermissionLevel.CAN_USE)
        ],
    )
    levels = {a.group_name: [p.permission_level.value for p in a.all_permissions] for a in granted.access_control_list if a.group_name}
    assert levels.get("dr-readers") == ["CAN_USE"], levels
    with pytest.raises(PermissionDenied):
        client("READER_TOKEN").warehouses.create(name="not-mine", cluster_size="Small", auto_stop_mins=10)


def test_functions_are_created_with_sql_and_read_with_the_functions_api():
    """FIDELITY.md: CREATE FUNCTION, Functions › List and Get (FunctionInfo)."""
    w = client("ADMIN_TOKEN")
    catalog, schema = EXPECTED["table"].split(".")[:2]
    name = f"{catalog}.{schema}.compat_is_eu"
    quoted = ".".join(f"`{p}`" for p in name.split("."))
    done = w.statement_execution.execute_statement(
        statement=f"CREATE OR REPLACE FUNCTION {quoted} (region STRING, n DECIMAL(10,2)) RETURNS BOOLEAN RETURN region = 'EU'",
        warehouse_id=os.environ["WAREHOUSE_ID"],
        wait_timeout="10s",
    )
    assert done.status.state.value == "SUCCEEDED", done.status
    listed = [f.full_name for f in w.functions.list(catalog_name=catalog, schema_name=schema)]
    assert name in listed
    function = w.functions.get(name)
    assert function.routine_body.value == "SQL"
    assert function.routine_definition == "region = 'EU'"
    assert function.full_data_type == "BOOLEAN"
    assert [p.type_text for p in function.input_params.parameters] == ["STRING", "DECIMAL(10,2)"]
    with pytest.raises(NotFound):
        w.functions.get(f"{catalog}.{schema}.no_such_function")


def test_registered_models_are_listed_read_and_updated():
    w = client("ADMIN_TOKEN")
    full_name = EXPECTED["model"]
    catalog, schema, name = full_name.split(".")
    listed = [m.full_name for m in w.registered_models.list(catalog_name=catalog, schema_name=schema)]
    assert full_name in listed
    # The whole metastore, across the sandbox's small pages.
    assert full_name in [m.full_name for m in w.registered_models.list()]
    model = w.registered_models.get(full_name, include_aliases=True)
    assert model.comment == "predicts churn"
    assert [(a.alias_name, a.version_num) for a in model.aliases] == [("champion", 2)]
    assert [v.version for v in w.model_versions.list(full_name)] == [1, 2]
    assert w.model_versions.get_by_alias(full_name, "champion").version == 2
    assert w.model_versions.get(full_name, 1).status.value == "READY"
    assert w.model_versions.update(full_name, 1, comment="the first").comment == "the first"
    assert w.registered_models.update(full_name, comment="still predicts churn").comment == "still predicts churn"
    assert w.registered_models.set_alias(full_name, "previous", 1).version_num == 1
    w.registered_models.delete_alias(full_name, "previous")
    aliases = [a.alias_name for a in w.registered_models.get(full_name, include_aliases=True).aliases]
    assert aliases == ["champion"]
    with pytest.raises(NotFound):
        w.registered_models.set_alias(full_name, "nowhere", 9)


def test_principals_are_found_by_their_unity_catalog_name():
    """FIDELITY.md: SCIM lookups with an eq filter, paged by startIndex."""
    w = client("ADMIN_TOKEN")
    users = list(w.users.list(filter='userName eq "alice@contoso.example"', attributes="id,userName"))
    assert [u.user_name for u in users] == ["alice@contoso.example"]
    assert [g.display_name for g in w.groups.list(filter='displayName eq "dr-readers"')] == ["dr-readers"]
    assert list(w.groups.list(filter='displayName eq "no-such-group"')) == []
    assert list(w.service_principals.list(filter='applicationId eq "00000000-0000-4000-8000-000000000000"')) == []


def test_a_grant_to_an_unknown_principal_is_refused_by_its_code():
    w = client("ADMIN_TOKEN")
    with pytest.raises(Exception) as refused:
        w.grants.update("table", EXPECTED["table"], changes=[PermissionsChange(principal="nobody-we-know", add=[Privilege.SELECT])])
    assert refused.value.error_code == "PRINCIPAL_DOES_NOT_EXIST"


def test_a_model_is_granted_as_a_function_and_its_version_tags_set_through_mlflows_registry():
    w = client("ADMIN_TOKEN")
    model = EXPECTED["model"]
    w.grants.update("function", model, changes=[PermissionsChange(principal="analysts", add=[Privilege.EXECUTE])])
    granted = {a.principal: [p.value for p in a.privileges] for a in w.grants.get("function", model).privilege_assignments}
    assert granted["analysts"] == ["EXECUTE"]
    tags = "/api/2.0/mlflow/unity-catalog/model-versions/tags"
    w.api_client.do("POST", tags, body={"name": model, "version": "2", "key": "validated", "value": "yes"})
    got = w.api_client.do("GET", "/api/2.0/mlflow/unity-catalog/model-versions/get", query={"name": model, "version": "2"})
    assert got["model_version"]["tags"] == [{"key": "validated", "value": "yes"}]
    w.api_client.do("DELETE", tags, query={"name": model, "version": "2", "key": "validated"})
    got = w.api_client.do("GET", "/api/2.0/mlflow/unity-catalog/model-versions/get", query={"name": model, "version": "2"})
    assert got["model_version"]["tags"] == []


def test_a_model_is_created_without_versions_and_a_duplicate_is_named():
    w = client("ADMIN_TOKEN")
    catalog, schema, _ = EXPECTED["model"].split(".")
    created = w.registered_models.create(catalog_name=catalog, schema_name=schema, name="compat_model", comment="c")
    assert created.full_name == f"{catalog}.{schema}.compat_model"
    assert list(w.model_versions.list(created.full_name)) == []
    with pytest.raises(Exception) as duplicate:
        w.registered_models.create(catalog_name=catalog, schema_name=schema, name="compat_model")
    assert duplicate.value.error_code.endswith("_ALREADY_EXISTS")
    reader = client("READER_TOKEN")
    assert created.full_name not in [m.full_name for m in reader.registered_models.list()]
    with pytest.raises((PermissionDenied, NotFound)):
        reader.registered_models.get(created.full_name)


def test_verify_reads_rows_hashes_details_and_columns():
    """FIDELITY.md, Verification: COUNT(*), bit_xor(xxhash64(*)), DESCRIBE DETAIL, information_schema.columns."""
    w = client("ADMIN_TOKEN")
    catalog, schema, table = EXPECTED["table"].split(".")
    quoted = f"`{catalog}`.`{schema}`.`{table}`"

    def run(sql):
        done = w.statement_execution.execute_statement(statement=sql, warehouse_id=os.environ["WAREHOUSE_ID"], wait_timeout="10s")
        assert done.status.state.value == "SUCCEEDED", (sql, done.status)
        return done

    rows = run(f"SELECT COUNT(*) AS row_count, bit_xor(xxhash64(*)) AS row_hash FROM {quoted}")
    assert [c.name for c in rows.manifest.schema.columns] == ["row_count", "row_hash"]
    assert int(rows.result.data_array[0][0]) > 0
    detail = run(f"DESCRIBE DETAIL {quoted}")
    names = [c.name for c in detail.manifest.schema.columns]
    assert detail.result.data_array[0][names.index("format")] == "delta"
    assert int(detail.result.data_array[0][names.index("sizeInBytes")]) > 0
    columns = run(
        f"SELECT table_schema, table_name, column_name, full_data_type, ordinal_position FROM `{catalog}`.`information_schema`.`columns`"
    )
    mine = [r for r in columns.result.data_array if r[0] == schema and r[1] == table]
    assert [r[4] for r in mine] == ["1", "2", "3"]


def volume_root():
    return "/Volumes/" + EXPECTED["managed_volume"].replace(".", "/")


def test_volume_files_are_listed_across_pages_downloaded_and_described():
    """FIDELITY.md, Files API: list directory contents (pages), download, get metadata."""
    w = client("ADMIN_TOKEN")
    root = volume_root()
    months = list(w.files.list_directory_contents(f"{root}/exports/2026"))
    assert sorted(e.name for e in months) == ["01", "02", "03"], months
    assert all(e.is_directory and e.path.startswith(root) for e in months)
    [csv] = list(w.files.list_directory_contents(f"{root}/exports/2026/01"))
    assert csv.name == "orders.csv" and not csv.is_directory and csv.file_size > 0 and csv.last_modified > 0
    body = w.files.download(csv.path).contents.read()
    assert len(body) == csv.file_size and body.startswith(b"id,qty,price")
    metadata = w.files.get_metadata(csv.path)
    assert int(metadata.content_length) == csv.file_size and metadata.last_modified
    with pytest.raises(NotFound):
        w.files.get_metadata(f"{root}/no_such_file.csv")
    with pytest.raises(NotFound):
        list(w.files.list_directory_contents(f"{root}/no_such_folder"))


def test_volume_files_are_uploaded_overwritten_only_when_asked_and_deleted():
    """FIDELITY.md, Files API: create directory, upload (overwrite), delete."""
    w = client("ADMIN_TOKEN")
    folder = f"{volume_root()}/compat/sub"
    w.files.create_directory(folder)
    w.files.create_directory(folder)  # idempotent
    path = f"{folder}/hello.txt"
    w.files.upload(path, io.BytesIO(b"hello"), overwrite=True)
    assert w.files.download(path).contents.read() == b"hello"
    with pytest.raises(AlreadyExists):
        w.files.upload(path, io.BytesIO(b"other"), overwrite=False)
    w.files.upload(path, io.BytesIO(b"hello again"), overwrite=True)
    assert w.files.download(path).contents.read() == b"hello again"
    assert [e.name for e in w.files.list_directory_contents(folder)] == ["hello.txt"]
    w.files.delete(path)
    with pytest.raises(NotFound):
        w.files.get_metadata(path)


def test_volume_files_need_read_volume():
    """FIDELITY.md, Files API: reading or listing files needs READ VOLUME."""
    with pytest.raises(PermissionDenied):
        list(client("READER_TOKEN").files.list_directory_contents(volume_root()))


def test_job_definitions_are_listed_created_updated_reset_permissioned_and_deleted():
    from databricks.sdk.errors import InvalidParameterValue
    from databricks.sdk.service.jobs import (
        CronSchedule,
        JobAccessControlRequest,
        JobPermissionLevel,
        JobSettings,
        NotebookTask,
        PauseStatus,
        Task,
    )

    w = client("ADMIN_TOKEN")
    # Every seeded job, over pages of 25 read with page tokens.
    listed = list(w.jobs.list(limit=25))
    assert len(listed) == EXPECTED["jobs"]
    assert len({j.job_id for j in listed}) == len(listed)
    assert any(j.settings.schedule and j.settings.schedule.pause_status == PauseStatus.PAUSED for j in listed)

    tasks = [Task(task_key=f"t{i:03}", notebook_task=NotebookTask(notebook_path=f"/Shared/n{i}")) for i in range(130)]
    schedule = CronSchedule(quartz_cron_expression="0 0 * * * ?", timezone_id="UTC", pause_status=PauseStatus.PAUSED)
    created = w.jobs.create(name="compat-job", tags={"drbot_source_job_id": "1"}, schedule=schedule, tasks=tasks)
    job = w.jobs.get(created.job_id)
    assert len(job.settings.tasks) == 130, "the SDK reads a job's task pages to the end"
    assert job.settings.schedule.pause_status == PauseStatus.PAUSED

    # update replaces the top-level fields it is given, whole, and keeps the others.
    w.jobs.update(created.job_id, new_settings=JobSettings(tags={"team": "x"}))
    job = w.jobs.get(created.job_id)
    assert job.settings.tags == {"team": "x"}
    assert job.settings.schedule.quartz_cron_expression == "0 0 * * * ?"
    # reset replaces every setting.
    w.jobs.reset(created.job_id, new_settings=JobSettings(name="compat-job-2", tasks=tasks[:1]))
    job = w.jobs.get(created.job_id)
    assert job.settings.schedule is None and len(job.settings.tasks) == 1
    assert [j.job_id for j in w.jobs.list(name="COMPAT-JOB-2")] == [created.job_id]

    permissions = w.jobs.set_permissions(
        str(created.job_id),
        access_control_list=[
            JobAccessControlRequest(group_name="data-engineers", permission_level=JobPermissionLevel.CAN_MANAGE_RUN)
        ],
    )
    levels = {
        (a.group_name or a.user_name): a.all_permissions[0].permission_level.value
        for a in permissions.access_control_list
    }
    assert levels["data-engineers"] == "CAN_MANAGE_RUN" and "IS_OWNER" in levels.values()

    with pytest.raises(InvalidParameterValue):
        w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "x", "not_a_setting": 1})
    with pytest.raises(InvalidParameterValue):
        w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "x", "schedule": {"quartz_cron_expression": "0 0 * * * ?"}})

    w.jobs.delete(created.job_id)
    # Databricks answers 400 INVALID_PARAMETER_VALUE "Job N does not exist."; the SDK's
    # override for that message makes it a not-found.
    with pytest.raises(NotFound):
        w.jobs.get(created.job_id)


def test_workspace_tree_notebooks_and_files_are_imported_listed_and_exported():
    """FIDELITY.md, Workspace tree: mkdirs, import (SOURCE, RAW), list, get-status, export."""
    import base64

    from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

    w = client("ADMIN_TOKEN")
    w.workspace.mkdirs("/Shared/sdk-compat/nested")
    w.workspace.mkdirs("/Shared/sdk-compat/nested")  # idempotent
    source = "# Databricks notebook source\nprint('compat')\n"
    w.workspace.import_(
        "/Shared/sdk-compat/nested/nb",
        content=base64.b64encode(source.encode()).decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
    )
    w.workspace.import_(
        "/Shared/sdk-compat/conf.yaml", content=base64.b64encode(b"a: 1\n").decode(), format=ImportFormat.RAW
    )
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.import_(
            "/Shared/sdk-compat/conf.yaml", content=base64.b64encode(b"a: 2\n").decode(), format=ImportFormat.RAW
        )
    w.workspace.import_(
        "/Shared/sdk-compat/conf.yaml", content=base64.b64encode(b"a: 2\n").decode(), format=ImportFormat.RAW, overwrite=True
    )
    with pytest.raises(NotFound):
        w.workspace.import_(
            "/Shared/no-such-folder/nb", content="", format=ImportFormat.SOURCE, language=Language.SQL
        )
    listed = {o.path: o for o in w.workspace.list("/Shared/sdk-compat", recursive=True)}
    assert set(listed) == {"/Shared/sdk-compat/nested/nb", "/Shared/sdk-compat/conf.yaml"}, listed
    notebook = w.workspace.get_status("/Shared/sdk-compat/nested/nb")
    assert notebook.object_type == ObjectType.NOTEBOOK and notebook.language == Language.PYTHON and notebook.modified_at
    exported = w.workspace.export("/Shared/sdk-compat/nested/nb", format=ExportFormat.SOURCE)
    assert base64.b64decode(exported.content).decode() == source
    raw = w.workspace.export("/Shared/sdk-compat/conf.yaml", format=ExportFormat.RAW)
    assert base64.b64decode(raw.content) == b"a: 2\n"
    with pytest.raises(NotFound):
        w.workspace.get_status("/Shared/sdk-compat/missing")


def test_git_folders_are_created_listed_across_pages_and_checked_out():
    """FIDELITY.md, Git folders: Repos create, list (next_page_token), update (branch), get."""
    w = client("ADMIN_TOKEN")
    w.workspace.mkdirs("/Repos/sdk-compat")
    made = [
        w.repos.create(url=f"https://github.com/contoso/compat-{i}.git", provider="gitHub", path=f"/Repos/sdk-compat/r{i}")
        for i in range(3)
    ]
    listed = [r.path for r in w.repos.list(path_prefix="/Repos/sdk-compat")]
    assert listed == [f"/Repos/sdk-compat/r{i}" for i in range(3)], "every page is followed"
    w.repos.update(made[0].id, branch="release")
    assert w.repos.get(made[0].id).branch == "release"
    with pytest.raises(NotFound):
        w.repos.create(url="https://github.com/contoso/x.git", provider="gitHub", path="/Repos/no-such/x")


def test_cluster_policies_are_created_listed_and_edited():
    """FIDELITY.md, Cluster policies: create, list, get, edit (whole settings)."""
    w = client("ADMIN_TOKEN")
    definition = json.dumps({"autotermination_minutes": {"type": "fixed", "value": 30}})
    created = w.cluster_policies.create(name="sdk-compat policy", definition=definition, description="compat")
    assert "sdk-compat policy" in [p.name for p in w.cluster_policies.list()]
    w.cluster_policies.edit(created.policy_id, name="sdk-compat policy", definition="{}")
    got = w.cluster_policies.get(created.policy_id)
    assert json.loads(got.definition) == {} and got.description is None, "edit replaces every setting"
    from databricks.sdk.service.iam import AccessControlRequest, PermissionLevel

    w.permissions.update(
        "cluster-policies",
        created.policy_id,
        access_control_list=[AccessControlRequest(group_name="dr-readers", permission_level=PermissionLevel.CAN_USE)],
    )
    acl = w.permissions.get("cluster-policies", created.policy_id).access_control_list
    assert [(a.group_name, a.all_permissions[0].permission_level.value) for a in acl] == [("dr-readers", "CAN_USE")]
    with pytest.raises(PermissionDenied):
        client("READER_TOKEN").cluster_policies.create(name="not-mine", definition="{}")


def test_secret_scopes_keys_and_acls_never_show_a_value():
    """FIDELITY.md, Secrets: create scope, put, list keys (no values), ACLs."""
    from databricks.sdk.service.workspace import AclPermission

    w = client("ADMIN_TOKEN")
    w.secrets.create_scope("sdk-compat")
    with pytest.raises(ResourceAlreadyExists):
        w.secrets.create_scope("sdk-compat")
    w.secrets.put_secret("sdk-compat", "password", string_value="compat-secret-value")
    keys = list(w.secrets.list_secrets("sdk-compat"))
    assert [k.key for k in keys] == ["password"] and keys[0].last_updated_timestamp
    assert "compat-secret-value" not in json.dumps([k.as_dict() for k in keys])
    w.secrets.put_acl("sdk-compat", "dr-readers", AclPermission.READ)
    acls = {a.principal: a.permission for a in w.secrets.list_acls("sdk-compat")}
    assert acls["dr-readers"] == AclPermission.READ
    assert "sdk-compat" in [s.name for s in w.secrets.list_scopes()]
    with pytest.raises(NotFound):
        list(w.secrets.list_secrets("no-such-scope"))


def test_a_warehouse_is_edited_and_stopped():
    """FIDELITY.md, SQL warehouses: edit (whole settings) and stop, without waiting."""
    from databricks.sdk.service.sql import CreateWarehouseRequestWarehouseType, EditWarehouseRequestWarehouseType

    w = client("ADMIN_TOKEN")
    made = w.warehouses.create(
        name="sdk-compat-edit", cluster_size="Small", auto_stop_mins=10, warehouse_type=CreateWarehouseRequestWarehouseType.PRO
    ).response
    w.warehouses.edit(
        made.id,
        name="sdk-compat-edit",
        cluster_size="Medium",
        min_num_clusters=1,
        max_num_clusters=2,
        auto_stop_mins=20,
        warehouse_type=EditWarehouseRequestWarehouseType.PRO,
    )
    w.warehouses.stop(made.id)
    got = w.warehouses.get(made.id)
    assert (got.cluster_size, got.max_num_clusters, got.state.value) == ("Medium", 2, "STOPPED")


def test_clusters_are_created_listed_edited_and_terminated():
    """FIDELITY.md, Workspace assets: Clusters 2.1 create, list (pages), get, edit, delete (terminate)."""
    from databricks.sdk.service.compute import AutoScale

    w = client("ADMIN_TOKEN")
    made = [
        w.clusters.create(
            cluster_name=f"sdk-compat-{i}",
            spark_version="15.4.x-scala2.12",
            node_type_id="Standard_D4ds_v5",
            autoscale=AutoScale(min_workers=1, max_workers=2),
            autotermination_minutes=30,
        ).response
        for i in range(4)
    ]
    names = [c.cluster_name for c in w.clusters.list()]
    assert {f"sdk-compat-{i}" for i in range(4)} <= set(names), "every page is followed"
    w.clusters.edit(
        made[0].cluster_id, spark_version="15.4.x-scala2.12", cluster_name="sdk-compat-0", node_type_id="Standard_D8ds_v5", num_workers=1
    )
    w.clusters.delete(made[0].cluster_id)
    got = w.clusters.get(made[0].cluster_id)
    assert (got.node_type_id, got.num_workers, got.state.value) == ("Standard_D8ds_v5", 1, "TERMINATED")


def test_instance_pools_are_created_listed_edited_permissioned_and_deleted():
    """FIDELITY.md, Workspace assets: Instance Pools 2.0 create, list, get, edit (editable fields), delete; pool permissions."""
    from databricks.sdk.service.compute import InstancePoolAzureAttributes, InstancePoolAzureAttributesAvailability
    from databricks.sdk.service.iam import AccessControlRequest, PermissionLevel

    w = client("ADMIN_TOKEN")
    made = w.instance_pools.create(
        instance_pool_name="sdk-compat pool",
        node_type_id="Standard_D4ds_v5",
        min_idle_instances=1,
        max_capacity=10,
        azure_attributes=InstancePoolAzureAttributes(availability=InstancePoolAzureAttributesAvailability.ON_DEMAND_AZURE),
    )
    assert "sdk-compat pool" in [p.instance_pool_name for p in w.instance_pools.list()]
    w.instance_pools.edit(made.instance_pool_id, "sdk-compat pool", "Standard_D4ds_v5", max_capacity=12)
    got = w.instance_pools.get(made.instance_pool_id)
    assert (got.max_capacity, got.min_idle_instances, got.state.value) == (12, None, "ACTIVE"), "edit clears what it does not send"
    assert got.azure_attributes.availability == InstancePoolAzureAttributesAvailability.ON_DEMAND_AZURE
    with pytest.raises(InvalidParameterValue):
        w.instance_pools.edit(made.instance_pool_id, "sdk-compat pool", "Standard_E8ds_v5")
    with pytest.raises(InvalidParameterValue):
        w.instance_pools.create(instance_pool_name="sdk-compat pool", node_type_id="Standard_D4ds_v5")
    w.permissions.update(
        "instance-pools",
        made.instance_pool_id,
        access_control_list=[AccessControlRequest(group_name="dr-readers", permission_level=PermissionLevel.CAN_ATTACH_TO)],
    )
    acl = w.permissions.get("instance-pools", made.instance_pool_id).access_control_list
    assert [(a.group_name, a.all_permissions[0].permission_level.value) for a in acl] == [("dr-readers", "CAN_ATTACH_TO")]
    with pytest.raises(PermissionDenied):
        client("READER_TOKEN").instance_pools.create(instance_pool_name="not-mine", node_type_id="Standard_D4ds_v5")
    # A cluster on the pool takes the pool's node type.
    pooled = w.clusters.create(
        cluster_name="sdk-compat pooled", spark_version="15.4.x-scala2.12", instance_pool_id=made.instance_pool_id, num_workers=1
    ).response
    got = w.clusters.get(pooled.cluster_id)
    assert (got.instance_pool_id, got.node_type_id) == (made.instance_pool_id, "Standard_D4ds_v5")
    with pytest.raises(InvalidParameterValue):
        w.clusters.create(cluster_name="sdk-compat no pool", spark_version="15.4.x-scala2.12", instance_pool_id="no-such-pool", num_workers=1)
    w.clusters.delete(pooled.cluster_id)
    w.instance_pools.delete(made.instance_pool_id)
    assert "sdk-compat pool" not in [p.instance_pool_name for p in w.instance_pools.list()]
    with pytest.raises(ResourceDoesNotExist):
        w.instance_pools.get(made.instance_pool_id)


def test_notebook_and_directory_permissions_are_read_and_updated():
    """FIDELITY.md, Workspace assets: permissions on notebooks and directories by their workspace object_id."""
    import base64

    from databricks.sdk.service.iam import AccessControlRequest, PermissionLevel
    from databricks.sdk.service.workspace import ImportFormat, Language

    w = client("ADMIN_TOKEN")
    w.workspace.mkdirs("/Shared/sdk-compat-acl")
    w.workspace.import_(
        "/Shared/sdk-compat-acl/nb",
        content=base64.b64encode(b"# Databricks notebook source\nprint(1)\n").decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
    )
    folder = w.workspace.get_status("/Shared/sdk-compat-acl")
    notebook = w.workspace.get_status("/Shared/sdk-compat-acl/nb")
    for object_type, object_id, level in [
        ("directories", folder.object_id, PermissionLevel.CAN_READ),
        ("notebooks", notebook.object_id, PermissionLevel.CAN_RUN),
    ]:
        w.permissions.update(
            object_type,
            str(object_id),
            access_control_list=[AccessControlRequest(group_name="dr-readers", permission_level=level)],
        )
        acl = w.permissions.get(object_type, str(object_id)).access_control_list
        assert [(a.group_name, a.all_permissions[0].permission_level) for a in acl] == [("dr-readers", level)]
    with pytest.raises(InvalidParameterValue):
        w.permissions.update(
            "notebooks",
            str(notebook.object_id),
            access_control_list=[AccessControlRequest(group_name="dr-readers", permission_level=PermissionLevel.CAN_USE)],
        )


def test_sql_queries_and_alerts_are_created_listed_across_pages_updated_and_trashed():
    """FIDELITY.md, Databricks SQL objects: Queries and Alerts create, list (pages), get, update (update_mask), delete; permissions."""
    from databricks.sdk.service.iam import AccessControlRequest, PermissionLevel
    from databricks.sdk.service.sql import (
        AlertCondition,
        AlertConditionOperand,
        AlertConditionThreshold,
        AlertOperandColumn,
        AlertOperandValue,
        AlertOperator,
        CreateAlertRequestAlert,
        CreateQueryRequestQuery,
        UpdateAlertRequestAlert,
        UpdateQueryRequestQuery,
    )

    w = client("ADMIN_TOKEN")
    folder = "/Shared/sdk-compat-sql"
    w.workspace.mkdirs(folder)
    warehouse = os.environ["WAREHOUSE_ID"]
    made = [
        w.queries.create(
            query=CreateQueryRequestQuery(display_name=f"q{i}", query_text=f"SELECT {i}", warehouse_id=warehouse, parent_path=folder, tags=["compat"])
        )
        for i in range(3)
    ]
    listed = {q.display_name: q for q in w.queries.list(page_size=2)}
    assert {"q0", "q1", "q2"} <= set(listed), "every page is followed"
    assert listed["q0"].query_text == "SELECT 0"
    got = w.queries.get(made[0].id)
    assert (got.parent_path, got.warehouse_id, got.tags, got.lifecycle_state.value) == (folder, warehouse, ["compat"], "ACTIVE")
    with pytest.raises(ResourceAlreadyExists):
        w.queries.create(query=CreateQueryRequestQuery(display_name="q0", query_text="SELECT 9", parent_path=folder))
    renamed = w.queries.create(
        query=CreateQueryRequestQuery(display_name="q0", query_text="SELECT 9", parent_path=folder), auto_resolve_display_name=True
    )
    assert renamed.display_name == "q0 (1)"
    updated = w.queries.update(made[0].id, "query_text,description", query=UpdateQueryRequestQuery(query_text="SELECT 10", description="ten"))
    assert (updated.query_text, updated.description, updated.tags) == ("SELECT 10", "ten", ["compat"]), "only the masked fields change"
    with pytest.raises(InvalidParameterValue):
        w.queries.create(query=CreateQueryRequestQuery(display_name="bad", query_text="SELECT 1", warehouse_id="no-such-warehouse", parent_path=folder))
    condition = AlertCondition(
        op=AlertOperator.GREATER_THAN,
        operand=AlertConditionOperand(column=AlertOperandColumn(name="n")),
        threshold=AlertConditionThreshold(value=AlertOperandValue(double_value=5.0)),
    )
    alert = w.alerts.create(alert=CreateAlertRequestAlert(display_name="a0", query_id=made[0].id, condition=condition, parent_path=folder))
    assert (alert.query_id, alert.state.value, alert.condition.op) == (made[0].id, "UNKNOWN", AlertOperator.GREATER_THAN)
    w.alerts.update(alert.id, "seconds_to_retrigger", alert=UpdateAlertRequestAlert(seconds_to_retrigger=60))
    assert w.alerts.get(alert.id).seconds_to_retrigger == 60
    assert "a0" in [a.display_name for a in w.alerts.list()]
    for object_type, object_id in [("queries", made[1].id), ("alerts", alert.id)]:
        w.permissions.update(
            object_type, object_id, access_control_list=[AccessControlRequest(group_name="dr-readers", permission_level=PermissionLevel.CAN_RUN)]
        )
        acl = w.permissions.get(object_type, object_id).access_control_list
        assert [(a.group_name, a.all_permissions[0].permission_level) for a in acl] == [("dr-readers", PermissionLevel.CAN_RUN)]
    w.queries.delete(made[2].id)
    assert "q2" not in [q.display_name for q in w.queries.list()], "a trashed query is not listed"
    assert w.queries.get(made[2].id).lifecycle_state.value == "TRASHED"
    with pytest.raises(InvalidParameterValue):
        w.alerts.create(alert=CreateAlertRequestAlert(display_name="on trash", query_id=made[2].id, condition=condition, parent_path=folder))


def test_ai_bi_dashboards_are_created_listed_updated_published_and_permissioned():
    """FIDELITY.md, Databricks SQL objects: Lakeview create, list (pages), get, update, publish, get published, trash; permissions."""
    from databricks.sdk.service.dashboards import Dashboard
    from databricks.sdk.service.iam import AccessControlRequest, PermissionLevel

    w = client("ADMIN_TOKEN")
    folder = "/Shared/sdk-compat-dashboards"
    w.workspace.mkdirs(folder)
    warehouse = os.environ["WAREHOUSE_ID"]
    contents = json.dumps({"pages": [{"name": "p", "displayName": "Page"}]})
    made = [
        w.lakeview.create(Dashboard(display_name=f"d{i}", warehouse_id=warehouse, serialized_dashboard=contents, parent_path=folder))
        for i in range(3)
    ]
    assert made[0].path == f"{folder}/d0.lvdash.json"
    assert {"d0", "d1", "d2"} <= {d.display_name for d in w.lakeview.list(page_size=2)}, "every page is followed"
    listed = [o.path for o in w.workspace.list(folder)]
    assert f"{folder}/d0.lvdash.json" in listed, "a dashboard is an object of the workspace tree"
    with pytest.raises(NotFound):
        w.lakeview.get_published(made[0].dashboard_id)
    w.lakeview.publish(made[0].dashboard_id, embed_credentials=False)
    assert w.lakeview.get_published(made[0].dashboard_id).embed_credentials is False
    edited = json.dumps({"pages": [{"name": "p", "displayName": "Edited"}]})
    updated = w.lakeview.update(made[0].dashboard_id, Dashboard(display_name="d0", serialized_dashboard=edited, etag=made[0].etag))
    assert json.loads(updated.serialized_dashboard) == json.loads(edited)
    with pytest.raises(Exception):
        w.lakeview.update(made[0].dashboard_id, Dashboard(display_name="d0", serialized_dashboard=contents, etag=made[0].etag))
    with pytest.raises(ResourceAlreadyExists):
        w.lakeview.create(Dashboard(display_name="d1", serialized_dashboard=contents, parent_path=folder))
    w.permissions.update(
        "dashboards", made[1].dashboard_id, access_control_list=[AccessControlRequest(group_name="dr-readers", permission_level=PermissionLevel.CAN_READ)]
    )
    acl = w.permissions.get("dashboards", made[1].dashboard_id).access_control_list
    assert [(a.group_name, a.all_permissions[0].permission_level) for a in acl] == [("dr-readers", PermissionLevel.CAN_READ)]
    w.lakeview.trash(made[2].dashboard_id)
    assert "d2" not in [d.display_name for d in w.lakeview.list()]


def test_permissions_refuse_a_principal_the_workspace_lacks():
    """FIDELITY.md, Principals: the Permissions API refuses a principal the workspace does not have."""
    from databricks.sdk.service.iam import AccessControlRequest, PermissionLevel

    w = client("ADMIN_TOKEN")
    w.workspace.mkdirs("/Shared/sdk-compat-principals")
    folder = w.workspace.get_status("/Shared/sdk-compat-principals")
    with pytest.raises(InvalidParameterValue):
        w.permissions.update(
            "directories",
            str(folder.object_id),
            access_control_list=[AccessControlRequest(group_name="no-such-group", permission_level=PermissionLevel.CAN_READ)],
        )

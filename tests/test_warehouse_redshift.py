"""Redshift: the rendered load SQL, Data API requests, and snapshot commands.

Requests go to moto in server mode over real HTTP where moto implements the operation
(``execute_statement``, ``describe_statement``, ``cancel_statement``; clusters and snapshots), so
botocore serialises and validates every call against the real service model. moto 5.2.5 has no
``batch_execute_statement``, snapshot schedules or table restores; those are checked with
botocore's Stubber, which validates the same request shapes against the same model.
"""
from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber
from crisislake.config import ConfigError, WarehouseSettings
from crisislake.warehouse import backup_job as bj
from crisislake.warehouse import model as m
from crisislake.warehouse.backends import RedshiftDataApiBackend, WarehouseLoadError
from crisislake.warehouse.loadsql import render_load, sql_literal
from crisislake.warehouse.manifest import ExportInfo
from crisislake.warehouse.model import ModelError

RUN = "20260101T000000Z-aaaaaaaa"
ROLE = "arn:aws:iam::123456789012:role/crisislake-redshift-copy"
MANIFEST = f"s3://lake-bucket/lake/exports/fact_incident/{RUN}/manifest.json"
STARTED = "2026-01-01T00:00:00.000000+00:00"


def incident_plan(schema="crisislake"):
    return render_load(m.FACT_INCIDENT, "redshift", schema, RUN, MANIFEST, 4, 4096, 10, STARTED, ROLE)


def provisioned(**kw) -> WarehouseSettings:
    return WarehouseSettings(backend="redshift", redshift_cluster_id="crisislake-wh", redshift_db_user="loader",
                             redshift_iam_role=ROLE, **kw)


def data_api(endpoint: str = ""):
    return boto3.client("redshift-data", region_name="us-east-1", **({"endpoint_url": endpoint} if endpoint else {}))


def test_copy_statement_reads_parquet_through_the_manifest_with_the_iam_role():
    assert incident_plan().sql("copy") == (
        f"COPY stage_fact_incident FROM '{MANIFEST}' IAM_ROLE '{ROLE}' FORMAT AS PARQUET MANIFEST;")


def test_stage_is_a_temp_table_like_the_target():
    assert incident_plan().sql("stage") == "CREATE TEMP TABLE stage_fact_incident (LIKE crisislake.fact_incident);"


def test_merge_matches_on_the_natural_key_and_updates_every_other_column():
    merge = incident_plan().sql("merge")
    assert merge.startswith("MERGE INTO crisislake.fact_incident USING stage_fact_incident "
                            "ON fact_incident.incident_id = stage_fact_incident.incident_id\n")
    assert "WHEN MATCHED THEN UPDATE SET first_seen = stage_fact_incident.first_seen, " in merge
    assert "incident_id = stage_fact_incident.incident_id," not in merge.split("UPDATE SET")[1]


def test_statements_run_in_exactly_once_order():
    assert [s.step for s in incident_plan().statements] == ["lock", "stage", "copy", "guard", "merge", "audit", "drop"]


def test_audit_row_is_inserted_only_when_the_run_is_not_yet_audited():
    audit = incident_plan().sql("audit")
    assert f"SELECT '{RUN}', 'fact_incident', (SELECT COUNT(*) FROM stage_fact_incident), 4, 4096, '{MANIFEST}'" in audit
    assert audit.endswith(f"WHERE NOT EXISTS (SELECT 1 FROM crisislake.load_audit WHERE run_id = '{RUN}' "
                          "AND table_name = 'fact_incident');")


def test_redshift_copy_refuses_a_local_manifest():
    with pytest.raises(ModelError, match="needs an s3:// manifest"):
        render_load(m.FACT_INCIDENT, "redshift", "crisislake", RUN, "file:///tmp/manifest.json", 1, 1, 1, STARTED, ROLE)


def test_iam_role_with_a_quote_is_refused():
    with pytest.raises(ModelError, match="IAM role"):
        render_load(m.FACT_INCIDENT, "redshift", "crisislake", RUN, MANIFEST, 1, 1, 1, STARTED, ROLE + "' --")


def test_unsafe_schema_identifier_is_refused():
    with pytest.raises(ModelError, match="unsafe SQL identifier"):
        render_load(m.FACT_INCIDENT, "redshift", "crisislake;drop", RUN, MANIFEST, 1, 1, 1, STARTED, ROLE)


def test_sql_literal_refuses_backslashes():
    with pytest.raises(ModelError, match="backslash"):
        sql_literal("a\\'b")


def test_provisioned_target_uses_cluster_and_db_user():
    assert RedshiftDataApiBackend.target_kwargs(provisioned()) == {
        "Database": "dev", "ClusterIdentifier": "crisislake-wh", "DbUser": "loader"}


def test_serverless_target_uses_workgroup_and_secret():
    settings = WarehouseSettings(redshift_workgroup="crisislake-wg",
                                 redshift_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:wh-AbCdEf")
    assert RedshiftDataApiBackend.target_kwargs(settings) == {
        "Database": "dev", "WorkgroupName": "crisislake-wg",
        "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:wh-AbCdEf"}


def test_cluster_without_user_or_secret_is_a_config_error():
    with pytest.raises(ConfigError, match="redshift_db_user or redshift_secret_arn"):
        RedshiftDataApiBackend.target_kwargs(WarehouseSettings(redshift_cluster_id="c"))


def _info() -> ExportInfo:
    return ExportInfo("fact_incident", MANIFEST, ["s3://lake-bucket/x/part-0.parquet"], 10, 4096)


def test_load_sends_one_batch_with_every_statement_and_polls_until_finished():
    client = data_api()
    plan = incident_plan()
    backend = RedshiftDataApiBackend(provisioned(), client=client, poll_s=0)
    with Stubber(client) as stub:
        stub.add_response("batch_execute_statement", {"Id": "b-1"}, {
            "Sqls": [s.sql for s in plan.statements], "StatementName": f"crisislake-load-fact_incident-{RUN}",
            "ClusterIdentifier": "crisislake-wh", "DbUser": "loader", "Database": "dev"})
        stub.add_response("describe_statement", {"Id": "b-1", "Status": "STARTED"}, {"Id": "b-1"})
        stub.add_response("describe_statement", {
            "Id": "b-1", "Status": "FINISHED",
            "SubStatements": [{"Id": f"b-1:{i}", "Status": "FINISHED", "ResultRows": 10 if s.step == "merge" else 0}
                              for i, s in enumerate(plan.statements, 1)]}, {"Id": "b-1"})

        result = backend.load(plan, _info())

        stub.assert_no_pending_responses()
    assert result == {"rows": 10, "statement_id": "b-1"}


def test_failed_batch_surfaces_redshifts_own_error_text():
    client = data_api()
    backend = RedshiftDataApiBackend(provisioned(), client=client, poll_s=0)
    error = "ERROR: Spectrum Scan Error. File 'https://s3.../part-0.parquet' has an incompatible Parquet schema"
    with Stubber(client) as stub:
        stub.add_response("batch_execute_statement", {"Id": "b-2"}, {
            "Sqls": ANY, "StatementName": ANY, "ClusterIdentifier": ANY, "DbUser": ANY, "Database": ANY})
        stub.add_response("describe_statement", {
            "Id": "b-2", "Status": "FAILED", "Error": "batch failed",
            "SubStatements": [{"Id": "b-2:1", "Status": "FINISHED"},
                              {"Id": "b-2:3", "Status": "FAILED", "Error": error, "QueryString": "COPY stage_fact_incident"}]},
            {"Id": "b-2"})

        with pytest.raises(WarehouseLoadError, match="Redshift reported FAILED: ERROR: Spectrum Scan Error"):
            backend.load(incident_plan(), _info())


def test_data_api_client_error_is_one_clear_line():
    client = data_api()
    backend = RedshiftDataApiBackend(provisioned(), client=client, poll_s=0)
    with Stubber(client) as stub:
        stub.add_client_error("batch_execute_statement", "ValidationException", "Cluster crisislake-wh not found")
        with pytest.raises(WarehouseLoadError, match="ValidationException: Cluster crisislake-wh not found"):
            backend.run_batch(["SELECT 1;"], "x")


def test_serverless_audit_check_reads_loaded_table_names_from_the_result():
    client = data_api()
    settings = WarehouseSettings(redshift_workgroup="crisislake-wg")
    backend = RedshiftDataApiBackend(settings, client=client, poll_s=0)
    with Stubber(client) as stub:
        stub.add_response("execute_statement", {"Id": "q-1"}, {
            "Sql": f"SELECT table_name FROM crisislake.load_audit WHERE run_id = '{RUN}';",
            "StatementName": "crisislake-audit-check", "WorkgroupName": "crisislake-wg", "Database": "dev"})
        stub.add_response("describe_statement", {"Id": "q-1", "Status": "FINISHED", "HasResultSet": True}, {"Id": "q-1"})
        stub.add_response("get_statement_result", {
            "Records": [[{"stringValue": "dim_date"}], [{"stringValue": "fact_tweet"}]], "TotalNumRows": 2},
            {"Id": "q-1"})

        assert backend.loaded_tables(RUN) == {"dim_date", "fact_tweet"}


def test_statement_still_running_at_timeout_is_cancelled_on_the_endpoint(s3_endpoint):
    # moto keeps every statement STARTED, which is exactly the stuck-query case.
    client = data_api(s3_endpoint)
    sent = []
    client.meta.events.register(
        "after-call.redshift-data.ExecuteStatement", lambda parsed, **_: sent.append(parsed["Id"]))
    backend = RedshiftDataApiBackend(provisioned(), client=client, poll_s=0.05, timeout_s=0.3)

    with pytest.raises(WarehouseLoadError, match="load_audit check: statement .* still STARTED after 0s; cancelled"):
        backend.loaded_tables(RUN)

    desc = client.describe_statement(Id=sent[0])
    assert desc["Status"] == "ABORTED"
    assert desc["QueryString"] == f"SELECT table_name FROM crisislake.load_audit WHERE run_id = '{RUN}';"
    assert (desc["ClusterIdentifier"], desc["DbUser"], desc["Database"]) == ("crisislake-wh", "loader", "dev")


# ---- snapshots -----------------------------------------------------------------------------

@pytest.fixture()
def redshift(s3_endpoint):
    import uuid

    client = boto3.client("redshift", region_name="us-east-1", endpoint_url=s3_endpoint)
    cluster = f"wh-{uuid.uuid4().hex[:8]}"
    client.create_cluster(ClusterIdentifier=cluster, NodeType="ra3.xlplus", MasterUsername="admin",
                          MasterUserPassword="Passw0rd-for-moto-only", NumberOfNodes=2)
    return client, cluster


def test_manual_snapshot_is_created_and_listed(redshift):
    client, cluster = redshift

    bj.take_snapshot(client, cluster, f"{cluster}-pre-load", retention_days=35, delay=1, max_attempts=5)

    # (moto does not echo ManualSnapshotRetentionPeriod back; botocore validated it on the way out)
    assert [(s["id"], s["type"], s["status"]) for s in bj.list_snapshots(client, cluster, "manual")] == [
        (f"{cluster}-pre-load", "manual", "available")]


def test_restore_cluster_from_snapshot_creates_the_new_cluster(redshift):
    client, cluster = redshift
    bj.take_snapshot(client, cluster, f"{cluster}-snap", delay=1, max_attempts=5)

    restored = bj.restore_cluster(client, f"{cluster}-snap", f"{cluster}-restored", wait=True, delay=1, max_attempts=5)

    assert restored["ClusterIdentifier"] == f"{cluster}-restored"
    assert client.describe_clusters(ClusterIdentifier=f"{cluster}-restored")["Clusters"][0]["ClusterStatus"] == "available"


def test_snapshot_of_unknown_cluster_is_a_clear_error(s3_endpoint):
    client = boto3.client("redshift", region_name="us-east-1", endpoint_url=s3_endpoint)
    with pytest.raises(bj.BackupError, match="create_cluster_snapshot failed: ClusterNotFound"):
        bj.take_snapshot(client, "no-such-cluster", "s1", wait=False)


def test_schedule_is_created_attached_and_retention_set():
    client = boto3.client("redshift", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("describe_snapshot_schedules", {"SnapshotSchedules": []}, {"ScheduleIdentifier": "cl-12h"})
        stub.add_response("create_snapshot_schedule", {"ScheduleIdentifier": "cl-12h"}, {
            "ScheduleIdentifier": "cl-12h", "ScheduleDefinitions": ["rate(12 hours)"],
            "ScheduleDescription": "crisislake warehouse snapshots"})
        stub.add_response("modify_cluster_snapshot_schedule", {}, {
            "ClusterIdentifier": "wh", "ScheduleIdentifier": "cl-12h"})
        stub.add_response("modify_cluster", {"Cluster": {"ClusterIdentifier": "wh", "AutomatedSnapshotRetentionPeriod": 7}},
                          {"ClusterIdentifier": "wh", "AutomatedSnapshotRetentionPeriod": 7})

        out = bj.set_schedule(client, "wh", "cl-12h", ["rate(12 hours)"], 7)

        stub.assert_no_pending_responses()
    assert out == {"schedule": "cl-12h", "definitions": ["rate(12 hours)"], "automated_retention_days": 7}


def test_restore_table_polls_until_succeeded():
    client = boto3.client("redshift", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("restore_table_from_cluster_snapshot", {"TableRestoreStatus": {
            "TableRestoreRequestId": "r-1", "Status": "PENDING"}}, {
            "ClusterIdentifier": "wh", "SnapshotIdentifier": "s1", "SourceDatabaseName": "dev",
            "SourceSchemaName": "crisislake", "SourceTableName": "fact_tweet",
            "TargetSchemaName": "crisislake", "NewTableName": "fact_tweet_restored"})
        stub.add_response("describe_table_restore_status", {"TableRestoreStatusDetails": [{
            "TableRestoreRequestId": "r-1", "Status": "SUCCEEDED"}]},
            {"ClusterIdentifier": "wh", "TableRestoreRequestId": "r-1"})

        status = bj.restore_table(client, "wh", "s1", "dev", "crisislake", "fact_tweet", "fact_tweet_restored", poll_s=0)

    assert status["Status"] == "SUCCEEDED"

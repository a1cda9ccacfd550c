"""``crisislake redshift-backup``: Redshift snapshots, taken, scheduled and restored (boto3 ``redshift``).

    crisislake redshift-backup snapshot --snapshot-id pre-load-20261127 --retention-days 35
    crisislake redshift-backup schedule --schedule-id crisislake-12h --rate "rate(12 hours)" \\
        --automated-retention-days 7
    crisislake redshift-backup restore-cluster --snapshot-id pre-load-20261127 --new-cluster-id crisislake-restored
    crisislake redshift-backup restore-table --snapshot-id pre-load-20261127 --table fact_tweet \\
        --new-table fact_tweet_restored
    crisislake redshift-backup list

The cluster comes from ``warehouse.redshift_cluster_id``. Waiting uses boto3's own waiters
(``snapshot_available``, ``cluster_restored``); restore-table polls
``describe_table_restore_status`` because Redshift has no waiter for it. Serverless workgroups
use ``redshift-serverless`` recovery points/snapshots instead (see the README, "Warehouse / Backups").
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Dict, List, Optional

from crisislake.config import ConfigError
from crisislake.context import JobContext
from crisislake.errors import CrisislakeError
from crisislake.warehouse.model import validate_identifier


class BackupError(CrisislakeError, RuntimeError):
    """Redshift refused a snapshot operation; carries Redshift's error text."""


def _client(endpoint_url: str = ""):
    from crisislake import aws

    return aws.client("redshift", endpoint_url=endpoint_url)


def _call(client, operation: str, **kwargs):
    from botocore.exceptions import ClientError

    try:
        return getattr(client, operation)(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise BackupError(f"redshift {operation} failed: {error.get('Code', '?')}: {error.get('Message', exc)}") from exc


def _wait(client, waiter: str, delay: int, max_attempts: int, **kwargs) -> None:
    from botocore.exceptions import WaiterError

    try:
        client.get_waiter(waiter).wait(WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}, **kwargs)
    except WaiterError as exc:
        raise BackupError(f"waiting for {waiter} failed: {exc}") from exc


def take_snapshot(client, cluster_id: str, snapshot_id: str, retention_days: int = -1,
                  wait: bool = True, delay: int = 30, max_attempts: int = 120) -> dict:
    """A manual snapshot, kept ``retention_days`` (-1: until deleted)."""
    resp = _call(client, "create_cluster_snapshot", SnapshotIdentifier=snapshot_id,
                 ClusterIdentifier=cluster_id, ManualSnapshotRetentionPeriod=retention_days)
    if wait:
        _wait(client, "snapshot_available", delay, max_attempts,
              ClusterIdentifier=cluster_id, SnapshotIdentifier=snapshot_id)
    return resp["Snapshot"]


def set_schedule(client, cluster_id: str, schedule_id: str, definitions: List[str],
                 automated_retention_days: int, manual_retention_days: Optional[int] = None) -> dict:
    """Create (or update) a snapshot schedule, attach it to the cluster, set retention.

    ``definitions`` are Redshift schedule expressions, e.g. ``rate(12 hours)`` or
    ``cron(0 3 * * ? *)``. Automated snapshots are kept ``automated_retention_days`` (1-35).
    """
    existing = _call(client, "describe_snapshot_schedules", ScheduleIdentifier=schedule_id).get("SnapshotSchedules", [])
    if existing:
        _call(client, "modify_snapshot_schedule", ScheduleIdentifier=schedule_id, ScheduleDefinitions=definitions)
    else:
        _call(client, "create_snapshot_schedule", ScheduleIdentifier=schedule_id, ScheduleDefinitions=definitions,
              ScheduleDescription="crisislake warehouse snapshots")
    _call(client, "modify_cluster_snapshot_schedule", ClusterIdentifier=cluster_id, ScheduleIdentifier=schedule_id)
    modify = {"ClusterIdentifier": cluster_id, "AutomatedSnapshotRetentionPeriod": automated_retention_days}
    if manual_retention_days is not None:
        modify["ManualSnapshotRetentionPeriod"] = manual_retention_days
    cluster = _call(client, "modify_cluster", **modify)["Cluster"]
    return {"schedule": schedule_id, "definitions": definitions,
            "automated_retention_days": cluster.get("AutomatedSnapshotRetentionPeriod")}


def restore_cluster(client, snapshot_id: str, new_cluster_id: str, source_cluster_id: str = "",
                    wait: bool = True, delay: int = 60, max_attempts: int = 90) -> dict:
    """A new cluster from a snapshot (the original is untouched); waits until it is restored."""
    kwargs = {"ClusterIdentifier": new_cluster_id, "SnapshotIdentifier": snapshot_id}
    if source_cluster_id:
        kwargs["SnapshotClusterIdentifier"] = source_cluster_id
    cluster = _call(client, "restore_from_cluster_snapshot", **kwargs)["Cluster"]
    if wait:
        _wait(client, "cluster_restored", delay, max_attempts, ClusterIdentifier=new_cluster_id)
    return cluster


def restore_table(client, cluster_id: str, snapshot_id: str, database: str, schema: str, table: str,
                  new_table: str, target_schema: str = "", wait: bool = True,
                  poll_s: float = 15.0, timeout_s: float = 3600.0) -> dict:
    """Restore one table from a snapshot into ``new_table`` of the running cluster."""
    for ident in (schema, table, new_table) + ((target_schema,) if target_schema else ()):
        validate_identifier(ident)
    kwargs = {
        "ClusterIdentifier": cluster_id, "SnapshotIdentifier": snapshot_id,
        "SourceDatabaseName": database, "SourceSchemaName": schema, "SourceTableName": table,
        "TargetSchemaName": target_schema or schema, "NewTableName": new_table,
    }
    status = _call(client, "restore_table_from_cluster_snapshot", **kwargs)["TableRestoreStatus"]
    deadline = time.monotonic() + timeout_s
    while wait and status.get("Status") in ("PENDING", "IN_PROGRESS"):
        if time.monotonic() > deadline:
            raise BackupError(f"table restore {status.get('TableRestoreRequestId')} still {status['Status']}")
        time.sleep(poll_s)
        status = _call(client, "describe_table_restore_status", ClusterIdentifier=cluster_id,
                       TableRestoreRequestId=status["TableRestoreRequestId"])["TableRestoreStatusDetails"][0]
    if status.get("Status") in ("FAILED", "CANCELED"):
        raise BackupError(f"table restore {status.get('Status')}: {status.get('Message', '')}")
    return status


def list_snapshots(client, cluster_id: str, snapshot_type: str = "") -> List[Dict[str, object]]:
    """The cluster's snapshots (``snapshot_type``: ``manual``, ``automated`` or all)."""
    kwargs = {"ClusterIdentifier": cluster_id}
    if snapshot_type:
        kwargs["SnapshotType"] = snapshot_type
    out = []
    for page in client.get_paginator("describe_cluster_snapshots").paginate(**kwargs):
        for s in page.get("Snapshots", []):
            out.append({"id": s["SnapshotIdentifier"], "type": s.get("SnapshotType"), "status": s.get("Status"),
                        "created": str(s.get("SnapshotCreateTime", "")),
                        "retention_days": s.get("ManualSnapshotRetentionPeriod")})
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster-id", default=None, help="default warehouse.redshift_cluster_id")
    parser.add_argument("--no-wait", action="store_true", help="return without waiting")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("snapshot", help="take a manual snapshot")
    p.add_argument("--snapshot-id", required=True)
    p.add_argument("--retention-days", type=int, default=-1, help="-1 keeps it until deleted")
    p = sub.add_parser("schedule", help="create/attach a snapshot schedule and set retention")
    p.add_argument("--schedule-id", required=True)
    p.add_argument("--rate", action="append", required=True, help='e.g. "rate(12 hours)" (repeatable)')
    p.add_argument("--automated-retention-days", type=int, required=True)
    p.add_argument("--manual-retention-days", type=int, default=None)
    p = sub.add_parser("restore-cluster", help="restore a new cluster from a snapshot")
    p.add_argument("--snapshot-id", required=True)
    p.add_argument("--new-cluster-id", required=True)
    p = sub.add_parser("restore-table", help="restore one table from a snapshot into a new table")
    p.add_argument("--snapshot-id", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--new-table", required=True)
    p.add_argument("--source-schema", default=None, help="default warehouse.schema")
    sub.add_parser("list", help="list the cluster's snapshots")


def run(ctx: JobContext) -> int:
    """Prints the AWS answer as JSON (the command's product); a failed call is a one-line error."""
    args, config = ctx.args, ctx.config
    cluster = args.cluster_id or config.warehouse.redshift_cluster_id
    if not cluster:
        raise ConfigError("set warehouse.redshift_cluster_id or pass --cluster-id")
    client = _client()
    wait = not args.no_wait
    if args.action == "snapshot":
        out = take_snapshot(client, cluster, args.snapshot_id, args.retention_days, wait)
    elif args.action == "schedule":
        out = set_schedule(client, cluster, args.schedule_id, args.rate, args.automated_retention_days,
                           args.manual_retention_days)
    elif args.action == "restore-cluster":
        out = restore_cluster(client, args.snapshot_id, args.new_cluster_id, cluster, wait)
    elif args.action == "restore-table":
        schema = args.source_schema or config.warehouse.schema
        out = restore_table(client, cluster, args.snapshot_id, config.warehouse.redshift_database, schema,
                            args.table, args.new_table, wait=wait)
    else:
        out = list_snapshots(client, cluster)
    print(json.dumps(out, indent=2, default=str))
    return 0

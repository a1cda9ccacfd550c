"""Crash anywhere, rerun, nothing lost or doubled: SIGKILL of a job's whole process group at fixed
points, and a PostgreSQL restart in the middle of a load (on a server of its own).

The killed runs are real ``crisislake`` processes (their own process group, a real SIGKILL,
for ingest-tweets a JVM of their own); the kill points are fixed by wrapping one internal step,
so each test hits the same moment every time. ``bench/chaos.py`` kills at random moments instead.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from crisislake.config import load_config
from crisislake.warehouse.load_job import load_export
from test_warehouse_load_pg import INCIDENT_ARROW, RUN_1, incident_rows, write_export

psycopg = pytest.importorskip("psycopg")

ROOT = Path(__file__).resolve().parents[1]

# Runs the CLI with PostgresBackend.load wrapped: SIGKILL the whole process group when the load
# reaches ``point`` (a statement of its transaction) or, for "committed", right after the commit.
LOAD_KILLER = """
import os, signal, sys
from crisislake.warehouse import backends
point, argv = sys.argv[1], sys.argv[2:]
original = backends.PostgresBackend.load
def crash(step):
    if step == point:
        os.killpg(0, signal.SIGKILL)
def load(self, plan, info, hook=None):
    out = original(self, plan, info, crash)
    if point == "committed":
        os.killpg(0, signal.SIGKILL)
    return out
backends.PostgresBackend.load = load
from crisislake.cli import main
sys.exit(main(argv))
"""

# Runs ingest-tweets with the quarantine write replaced by a SIGKILL of the process group (the
# driver, its JVM and Python workers): curated/tweets is committed, quarantine/tweets and the
# run record are not.
INGEST_KILLER = """
import os, signal, sys
from crisislake.tweets import batch
def die(*args, **kwargs):
    os.killpg(0, signal.SIGKILL)
batch.write_quarantine = die
from crisislake.cli import main
sys.exit(main(sys.argv[1:]))
"""


def child_env(pg_url: str = "") -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"), PYSPARK_PYTHON=sys.executable)
    if pg_url:
        env["CRISISLAKE_WAREHOUSE__POSTGRES_URL"] = pg_url
    return env


def run_group(argv, env, timeout=300) -> subprocess.CompletedProcess:
    """Run ``argv`` in a process group of its own; wait until every process of it is gone."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    out, err = proc.communicate(timeout=timeout)
    for _ in range(100):
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    return subprocess.CompletedProcess(argv, proc.returncode, out.decode(), err.decode())


@pytest.fixture()
def schema(pg_url):
    name = f"f_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def load_argv(lake: str, schema: str):
    return ["load", "--lake-root", lake, "--export-run", RUN_1, "--tables", "fact_incident",
            "--set", f"warehouse.schema={schema}"]


def warehouse_state(url: str, schema: str):
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT incident_id, n_reports FROM {schema}.fact_incident ORDER BY 1").fetchall()
        audit = conn.execute(f"SELECT run_id, table_name, rows_loaded FROM {schema}.load_audit").fetchall()
    return rows, audit


@pytest.mark.parametrize("point", ["copy", "merge", "committed"])
def test_load_killed_mid_run_then_rerun_loads_every_row_exactly_once(pg_url, lake, schema, point):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1, n_reports_a=3), INCIDENT_ARROW)

    killed = run_group([sys.executable, "-c", LOAD_KILLER, point, *load_argv(lake, schema)], child_env(pg_url))
    rerun = run_group([sys.executable, "-m", "crisislake.cli", *load_argv(lake, schema)], child_env(pg_url))

    assert killed.returncode == -signal.SIGKILL
    assert rerun.returncode == 0, rerun.stderr
    assert warehouse_state(pg_url, schema) == ([("inc-a", 3), ("inc-b", 1)], [(RUN_1, "fact_incident", 2)])


def v1_line(tweet_id: int, text: str) -> str:
    import json

    return json.dumps({"created_at": "Mon Apr 15 18:50:12 +0000 2013", "id_str": str(tweet_id), "text": text,
                       "user": {"id_str": "11", "screen_name": "alice"}})


def test_ingest_killed_between_tweet_and_quarantine_commits_reruns_to_the_same_tables(spark, lake):
    from crisislake.tweets import job

    raw = Path(lake, "raw", "tweets", "2013", "04", "15", "18")
    raw.mkdir(parents=True)
    ids = [100000000000000301, 100000000000000302, 100000000000000303]
    (raw / "a.json").write_text("\n".join([v1_line(ids[0], "one"), v1_line(ids[1], "two"), '{"id_str": "3", "text"',
                                           v1_line(ids[2], "three")]) + "\n")
    argv = ["ingest-tweets", "--lake-root", lake, "--run-id", "killed",
            *[a for s in ("spark.master=local[1]", "spark.shuffle_partitions=1", "spark.driver_memory=1g",
                          "spark.conf.spark.ui.enabled=false") for a in ("--set", s)]]

    killed = run_group([sys.executable, "-c", INGEST_KILLER, *argv], child_env())
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    config = load_config("local", lake_root=lake, overrides=["spark.shuffle_partitions=2"], environ={})
    tweets = config.table("curated", "tweets")
    assert sorted(r.tweet_id for r in spark.read.format("delta").load(tweets).collect()) == ids

    counts = job.ingest(spark, config, "rerun")

    assert sorted(r.tweet_id for r in spark.read.format("delta").load(tweets).collect()) == ids
    quarantine = spark.read.format("delta").load(config.table("quarantine", "tweets")).collect()
    assert [(r.source_line, r.reason) for r in quarantine] == [(3, "malformed JSON (or a field of an unexpected type)")]
    assert (counts["records_read"], counts["new_rows"], counts["duplicates"], counts["quarantined"]) == (4, 0, 3, 1)


# ---- PostgreSQL restarted during a load (a server of its own, never the shared one) -------------

@pytest.fixture()
def own_postgres():
    """A PostgreSQL server of this test's own on a free port; yields (url, restart)."""
    import devservices

    with devservices.private_postgres() as (url, pg_ctl):
        yield url, lambda: pg_ctl("-m", "fast", "restart")


def test_postgres_restarted_mid_load_then_rerun_loads_exactly_once(own_postgres, lake):
    url, restart = own_postgres
    config = load_config("local", lake_root=lake, environ={},
                         overrides=[f"warehouse.postgres_url={url}", "warehouse.schema=restarted"])
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1, n_reports_a=3), INCIDENT_ARROW)

    def restart_after_copy(step):
        if step == "copy":
            restart()

    with pytest.raises(psycopg.OperationalError):
        load_export(config, RUN_1, tables=["fact_incident"], echo=lambda _: None, hook=restart_after_copy)
    assert warehouse_state(url, "restarted") == ([], [])
    load_export(config, RUN_1, tables=["fact_incident"], echo=lambda _: None)
    second = load_export(config, RUN_1, tables=["fact_incident"], echo=lambda _: None)

    assert warehouse_state(url, "restarted") == ([("inc-a", 3), ("inc-b", 1)], [(RUN_1, "fact_incident", 2)])
    assert second["tables"]["fact_incident"] == {"skipped": True, "reason": "already in load_audit"}

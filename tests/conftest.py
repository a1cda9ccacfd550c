"""Shared fixtures: one local SparkSession for the whole run, and the local services."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "scripts"))
# moto accepts any credentials; these exist only for the loopback endpoint.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Python UDF workers must run this interpreter (the venv that has crisislake), not python3 on PATH.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """moto in server mode on 127.0.0.1 (S3, EMR, Redshift Data API over real HTTP)."""
    import devservices

    endpoint = devservices.ensure_moto()
    # boto3 and pyarrow (crisislake.fs) reach S3 through the standard variable, as under the CLI.
    os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    return endpoint


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The project's PostgreSQL server on 127.0.0.1."""
    import devservices

    return devservices.ensure_postgres()


@pytest.fixture(scope="session")
def spark(s3_endpoint):
    """One local SparkSession (Delta, Spark NLP and hadoop-aws on the classpath), S3A on moto."""
    from crisislake import registry
    from crisislake.config import load_config
    from crisislake.session import build_spark

    config = load_config("local", overrides=[
        "spark.shuffle_partitions=2",
        "spark.driver_memory=3g",
        f"spark.s3_endpoint={s3_endpoint}",
        "spark.conf.spark.ui.enabled=false",
        "spark.conf.spark.ui.showConsoleProgress=false",
    ], environ={})
    jars = registry.local_jars(registry.pipeline_jobs())
    session = build_spark(config.spark, app_name="crisislake-tests", jars=jars)
    yield session
    session.stop()


@pytest.fixture()
def lake(tmp_path) -> str:
    """A fresh local lake root for one test."""
    root = tmp_path / "lake"
    root.mkdir()
    return str(root)


@pytest.fixture()
def config(lake):
    """The local config pointed at a per-test lake (no environment overrides)."""
    from crisislake.config import load_config

    return load_config("local", lake_root=lake, overrides=["spark.shuffle_partitions=2"], environ={})


# ---- the API over a hand-written warehouse (tests/serve_fixtures.py), one per test module --------

@pytest.fixture(scope="module")
def wh(pg_url):
    """A warehouse schema with the rows of serve_fixtures and the API's two roles, dropped afterwards."""
    from serve_fixtures import Warehouse

    warehouse = Warehouse(pg_url)
    yield warehouse
    warehouse.drop()


@pytest.fixture(scope="module")
def api(wh, tmp_path_factory):
    """``crisislake serve`` over ``wh`` and a lake holding the marts, on a free loopback port."""
    from serve_fixtures import Server, write_marts

    tmp = tmp_path_factory.mktemp("serve")
    write_marts(tmp / "lake")
    server = Server(wh, tmp / "lake", tmp / "server.log")
    yield server
    server.stop()

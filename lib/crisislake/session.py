"""The one place a SparkSession is built.

Locally the session runs ``local[*]`` with Delta enabled and the JVM packages (Delta, Spark NLP,
hadoop-aws) resolved once from Maven Central into ``~/.cache/crisislake/jvm/<hash>/`` and then
loaded from there as plain jars, so every later start is offline and skips Ivy. On a cluster
(no master configured) it trusts the cluster's own configuration: EMR ships Delta, and the
Spark NLP coordinates come from the cluster's spark-defaults.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Mapping, Optional, Sequence

from crisislake.config import SparkSettings
from crisislake.errors import CrisislakeError
from crisislake.jdk import JavaNotFoundError, check_java, jvm_cache_root

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Dates and timestamps before 1582 / 1900 go into Parquet as they are (proleptic Gregorian, as
# every Spark 3 reader reads them). Spark's default refuses to write them, so one tweet dated
# "0042" failed the whole run's stage write.
PARQUET_DATES_CONF = {
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
}


class SparkRuntimeError(CrisislakeError, RuntimeError):
    """Spark cannot start here; the message says what to install or fix."""


class JvmPackagesError(SparkRuntimeError):
    pass


def _unresolved_lines(stderr: str) -> List[str]:
    keep = []
    for line in stderr.splitlines():
        if "repos.spark-packages.org" in line:  # Spark's second default resolver; noise offline
            continue
        if re.search(r"unresolved dependency|: not found|Server access error|UnknownHost|Connection refused|FAILED", line):
            keep.append(line.strip(" :|"))
    return keep[:12]


def resolve_jvm_packages(packages: Sequence[str], excludes: Sequence[str] = (), timeout_s: int = 1800) -> List[str]:
    """Resolve Maven coordinates once with Spark's own Ivy resolver and return the local jars.

    The first call downloads from Maven Central into ``~/.cache/crisislake/jvm/<hash>``; later
    calls read the ``resolved.json`` there and touch no network. Raises
    :class:`JvmPackagesError` naming the coordinates that failed.
    """
    packages = sorted(p.strip() for p in packages if p.strip())
    excludes = sorted(e.strip() for e in excludes if e.strip())
    if not packages:
        return []
    key = hashlib.sha256("\n".join(packages + ["--exclude"] + excludes).encode()).hexdigest()[:16]
    root = jvm_cache_root() / key
    marker = root / "resolved.json"
    if marker.is_file():
        jars = json.loads(marker.read_text())["jars"]
        if all(Path(j).is_file() for j in jars):
            return jars
    import pyspark

    spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp) / "noop.py"
        noop.write_text("pass\n")
        env = dict(
            os.environ, SPARK_HOME=str(spark_submit.parent.parent),
            PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
        )
        cmd = [
            str(spark_submit), "--master", "local[1]",
            "--conf", f"spark.jars.ivy={root / 'ivy'}",
            "--packages", ",".join(packages),
        ]
        if excludes:
            cmd += ["--exclude-packages", ",".join(excludes)]
        cmd.append(str(noop))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired as exc:
            raise JvmPackagesError(
                f"resolving JVM packages {', '.join(packages)} from Maven Central timed out after {timeout_s}s"
            ) from exc
    jar_dir = root / "ivy" / "jars"
    jars = sorted(str(p) for p in jar_dir.glob("*.jar")) if jar_dir.is_dir() else []
    if proc.returncode != 0 or not jars:
        detail = "; ".join(_unresolved_lines(proc.stderr)) or proc.stderr.strip()[-800:]
        raise JvmPackagesError(
            f"could not resolve JVM packages {', '.join(packages)} from Maven Central "
            f"(cache {root}): {detail}"
        )
    marker.write_text(json.dumps({"packages": packages, "jars": jars}, indent=2))
    return jars


def spark_conf(settings: SparkSettings, jars: Sequence[str] = ()) -> dict:
    """The Spark configuration the session is started with, as a plain dict."""
    conf = dict(DELTA_CONF)
    conf.update(PARQUET_DATES_CONF)
    conf["spark.sql.shuffle.partitions"] = str(settings.shuffle_partitions)
    if settings.master:
        # Locally s3:// and s3a:// both go through S3A (on EMR, s3:// is EMRFS).
        conf["spark.hadoop.fs.s3.impl"] = "org.apache.hadoop.fs.s3a.S3AFileSystem"
        if settings.driver_memory:
            conf["spark.driver.memory"] = settings.driver_memory
        if jars:
            conf["spark.jars"] = ",".join(jars)
    if settings.s3_endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(settings.s3_endpoint.startswith("https")).lower()
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "com.amazonaws.auth.EnvironmentVariableCredentialsProvider"
        )
        conf["spark.hadoop.fs.s3a.change.detection.mode"] = "none"
    if settings.master and "spark.ui.showConsoleProgress" not in settings.conf:
        # Spark's progress bar redraws one line with carriage returns: on for a terminal, off
        # for logs and CI output.
        conf["spark.ui.showConsoleProgress"] = str(sys.stderr.isatty()).lower()
    conf.update(settings.conf)
    return conf


def ui_url(spark: SparkSession) -> Optional[str]:
    """The Spark UI's address, or None when the UI is off (``spark.ui.enabled=false``)."""
    return spark.sparkContext.uiWebUrl


def build_spark(settings: SparkSettings, app_name: Optional[str] = None, jars: Sequence[str] = ()) -> SparkSession:
    """Start (or return) the SparkSession for these settings.

    Parameters
    ----------
    settings: the config's ``spark`` section.
    app_name: the Spark application name (default ``settings.app_name``).
    jars: extra local jars the jobs of this session need (e.g. a job's own compiled functions);
        locally they join the resolved JVM packages on the classpath, on a cluster they are
        expected to come with the submission (``--jars``).

    Locally this checks Java and the JVM packages first so a missing JDK or an unreachable Maven
    Central fails with one clear line instead of a JVM stack trace.
    """
    from pyspark.sql import SparkSession

    classpath: List[str] = []
    if settings.master:
        # PySpark reads the worker interpreter from this variable (not from spark.pyspark.python)
        # when the session is built in-process: use the driver's, which has crisislake and numpy.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        try:
            check_java()
        except JavaNotFoundError as exc:
            raise SparkRuntimeError(str(exc)) from exc
        if settings.resolve_packages:
            classpath = resolve_jvm_packages(settings.packages, settings.package_excludes)
        classpath += [str(j) for j in jars]
    builder = SparkSession.builder.appName(app_name or settings.app_name)
    if settings.master:
        builder = builder.master(settings.master)
    for key, value in spark_conf(settings, classpath).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j/launcher errors carry no useful first line
        raise SparkRuntimeError(f"Spark failed to start ({type(exc).__name__}: {str(exc)[:300]})") from exc
    spark.sparkContext.setLogLevel("WARN")
    return spark


@contextmanager
def temporary_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Set these SQL settings of ``spark`` while inside; each goes back to what it was (or unset).

    Settings are read when a query is planned or run, so every action that should see them
    must run inside the block."""
    conf = spark.conf
    before = {key: conf.get(key, None) for key in settings}
    for key, value in settings.items():
        conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                conf.unset(key)
            else:
                conf.set(key, value)


def _prefetch_main() -> int:
    """``python -m crisislake.session``: resolve the local JVM packages into the cache now."""
    from crisislake.config import load_config

    settings = load_config("local").spark
    try:
        jars = resolve_jvm_packages(settings.packages, settings.package_excludes)
    except SparkRuntimeError as exc:
        print(f"crisislake: {exc}", file=sys.stderr)
        return 1
    print(f"{len(jars)} JVM jars cached under {jvm_cache_root()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_prefetch_main())

"""The JVM lane of the tweet parse: ``V1StatusParser.java`` (next to this file) as a Spark SQL
function, so plain v1.1 statuses never cross to a Python worker.

Most lines of a tweet dump are plain, usable v1.1 statuses. For those the Java class builds the
contract row inside the JVM, where the Python parse costs a worker round trip (Arrow out, parse,
Arrow back) per line. It declines every other line (null), and those lines take the Python parse
(:mod:`crisislake.tweets.records`), which decides them as it decides every line without this
lane: so the lane changes speed, not results. ``tests/test_tweets_jvm_parse.py`` holds the two
to the same rows.

The class is compiled here from source, never shipped as a committed jar: locally at the first
session start into ``~/.cache/crisislake/jvm/udfs-<digest>/`` (:func:`cached_jar`), for EMR by
``crisislake emr build`` into ``dist/jars/`` (:func:`compile_jar`). Without a JDK there is no
jar, :func:`register` says so once, and every line takes the Python parse. The Spark setting
``spark.crisislake.tweets.jvmParse=false`` turns the lane off.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crisislake.errors import CrisislakeError
from crisislake.fs import write_zip
from crisislake.jdk import java_executable, jvm_cache_root
from crisislake.tweets.records import OUTPUT
from crisislake.tweets.schemas import TWEET_COLUMNS
from crisislake.tweets.transforms import with_lineage

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("V1StatusParser.java")
CLASS_NAME = "crisislake.tweets.V1StatusParser"
FUNCTION = "crisislake_v1_status"
JAR_NAME = "crisislake-udfs.jar"
ENABLED_CONF = "spark.crisislake.tweets.jvmParse"
# The row the Java class returns: the content columns of the Python parse's output, in order.
CONTENT = [(name, kind) for name, kind in OUTPUT if name not in ("source_uri", "source_line", "reason", "raw_payload")]
RETURN_DDL = "struct<" + ",".join(f"{name}:{kind}" for name, kind in CONTENT) + ">"
# What javac compiles against: Spark's SQL API and Jackson, from the pyspark install (the same
# Spark 3.5 API as EMR 7's). Bytecode for Java 8, the oldest JVM Spark 3.5 runs on.
_CLASSPATH_JARS = ("jackson-core-2.*.jar", "spark-sql-api_*.jar", "spark-catalyst_*.jar", "spark-sql_*.jar")
_JAVA_RELEASE = "8"


_warned = False  # whether register() has said that the class is missing


class JvmLaneError(CrisislakeError, RuntimeError):
    """The Java class could not be compiled; the message holds javac's own words."""


def javac_executable() -> Optional[str]:
    return java_executable("javac")


def _spark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def compile_jar(dest: Path, source: Path = SOURCE) -> Path:
    """Compile ``source`` against the pyspark install's jars into the jar ``dest`` (entries in
    name order with fixed dates, so one source gives one jar); raises :class:`JvmLaneError`."""
    javac = javac_executable()
    if javac is None:
        raise JvmLaneError("no javac on PATH or in JAVA_HOME (Debian: apt-get install openjdk-17-jdk-headless)")
    jars_dir = _spark_jars_dir()
    classpath: List[str] = []
    for pattern in _CLASSPATH_JARS:
        found = sorted(jars_dir.glob(pattern))
        if not found:
            raise JvmLaneError(f"no {pattern} under {jars_dir} to compile against")
        classpath.append(str(found[0]))
    with tempfile.TemporaryDirectory(prefix="crisislake-javac-") as out:
        proc = subprocess.run(
            [javac, "--release", _JAVA_RELEASE, "-nowarn", "-encoding", "UTF-8", "-d", out,
             "-cp", ":".join(classpath), str(source)],
            capture_output=True, text=True, timeout=300,
        )
        if proc.returncode != 0:
            raise JvmLaneError(f"javac failed on {source}: {(proc.stderr or proc.stdout).strip()[:2000]}")
        classes = {p.relative_to(out).as_posix(): p for p in Path(out).rglob("*.class")}
        partial = dest.with_name(f"{dest.name}.{os.getpid()}.partial")  # two builds at once each write their own
        write_zip(classes, partial).replace(dest)
    return dest


def build_jar(package_dir: Path, jars_dir: Path) -> Optional[Path]:
    """For EMR packaging: compile ``package_dir``'s copy of the Java source into ``jars_dir``;
    None, with one warning, when it cannot be built here (the cluster then parses every line
    in Python: same rows, slower)."""
    source = package_dir / "tweets" / SOURCE.name
    try:
        if not source.is_file():
            raise JvmLaneError(f"no {source}")
        return compile_jar(jars_dir / JAR_NAME, source=source)
    except (JvmLaneError, OSError, subprocess.TimeoutExpired) as exc:
        log.warning("building without jars/%s, the cluster will parse every tweet line in Python: %s", JAR_NAME, exc)
        return None


def source_digest(source: Path = SOURCE) -> str:
    """What the cached jar is keyed on: the source and the Spark it is compiled against."""
    import pyspark

    digest = hashlib.sha256(source.read_bytes())
    digest.update(pyspark.__version__.encode())
    return digest.hexdigest()[:16]


def cached_jar() -> Optional[Path]:
    """The local jar of the lane, compiled on first use into the JVM cache; None (with a
    warning) when it cannot be built here, e.g. a JRE without javac."""
    if not SOURCE.is_file():  # running from a zip (a cluster): the jar comes with the submission
        return None
    jar = jvm_cache_root() / f"udfs-{source_digest()}" / JAR_NAME
    if jar.is_file():
        return jar
    try:
        return compile_jar(jar)
    except (JvmLaneError, OSError, subprocess.TimeoutExpired) as exc:
        log.warning("the JVM tweet parse is off, every line takes the Python parse: %s", exc)
        return None


# One status the class must take: tried on the driver before registering, so a class that
# cannot run here (missing, or a Jackson older than the 2.15 it is compiled against) turns the
# lane off instead of failing tasks.
_PROBE = b'{"id_str": "1", "created_at": "Mon Apr 15 18:50:12 +0000 2013", "text": "probe"}'


def register(spark: SparkSession) -> bool:
    """Register :data:`FUNCTION` in ``spark``; False when the lane is off or its class cannot run
    here (then logged once per process)."""
    if spark.conf.get(ENABLED_CONF, "true").strip().lower() == "false":
        return False
    try:
        java_class = functools.reduce(getattr, CLASS_NAME.split("."), spark._jvm)  # py4j: package by package
        parser = java_class()
        if parser.call(bytearray(_PROBE)) is None:
            raise RuntimeError(f"{CLASS_NAME} declined its probe status")
        spark.udf.registerJavaFunction(FUNCTION, CLASS_NAME, RETURN_DDL)
    except Exception as exc:  # noqa: BLE001 - py4j wraps a missing class in several ways
        global _warned
        if not _warned:
            _warned = True
            log.warning("the JVM tweet parse (%s) cannot run here (%s); every line takes the Python parse",
                        CLASS_NAME, (str(exc).splitlines() or [type(exc).__name__])[0][:300])
        return False
    return True


def _parsed(payload: Column) -> Column:
    return F.call_function(FUNCTION, payload.cast("binary"))


def parse_lines(run_id: str, ingested_at: Optional[datetime] = None) -> Callable[[DataFrame], DataFrame]:
    """Lines (:data:`crisislake.tweets.io.LINE_SCHEMA`, JVM-read) -> one row per line: the
    contract columns with lineage where the Java class took the line; ``declined`` and, for a
    declined line only, its ``payload`` for the Python parse. Needs :func:`register` first."""

    def inner(lines_df: DataFrame) -> DataFrame:
        return (
            lines_df.select("source_uri", "source_line", "payload", _parsed(F.col("payload")).alias("row"))
            .select("source_uri", "source_line", "row.*", F.col("row").isNull().alias("declined"),
                    F.when(F.col("row").isNull(), F.col("payload")).alias("payload"))
            .withColumn("created_at", F.expr("timestamp_micros(created_us)"))
            .transform(with_lineage(run_id, ingested_at))
            .select(*TWEET_COLUMNS, "declined", "payload")
        )

    return inner


def first_pass_totals() -> List[Column]:
    """Aggregates over :func:`parse_lines`' rows: lines, lines declined, distinct ids taken."""
    return [
        F.count(F.lit(1)).alias("lines"),
        F.count(F.when(F.col("declined"), 1)).alias("declined"),
        F.countDistinct(F.when(~F.col("declined"), F.col("tweet_id"))).alias("distinct"),
    ]


def taken(parsed: DataFrame) -> DataFrame:
    """The lines of :func:`parse_lines` the Java class took, as parse records (no reason)."""
    return parsed.filter(~F.col("declined")).select(
        *TWEET_COLUMNS, F.lit(None).cast("string").alias("reason"), F.lit(None).cast("string").alias("raw_payload"))


def declined_lines(parsed: DataFrame) -> DataFrame:
    """The lines of :func:`parse_lines` the Java class declined, as lines for the Python parse."""
    return parsed.filter(F.col("declined")).select(
        "source_uri", "source_line", "payload", F.lit(None).cast("string").alias("raw"),
        F.lit(None).cast("string").alias("error"))

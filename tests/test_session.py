import os
import stat

import pytest
from crisislake.config import SparkSettings
from crisislake.jdk import JavaNotFoundError, check_java, parse_java_major
from crisislake.session import JvmPackagesError, resolve_jvm_packages, spark_conf, temporary_conf


def test_parse_java_major_reads_modern_and_legacy_formats():
    assert parse_java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert parse_java_major('java version "1.8.0_412"') == 8
    assert parse_java_major("no version here") is None


def _fake_java(tmp_path, version_line):
    bindir = tmp_path / "jdk" / "bin"
    bindir.mkdir(parents=True)
    java = bindir / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return str(tmp_path / "jdk")


def test_check_java_rejects_too_old_java_with_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", _fake_java(tmp_path, 'openjdk version "9.0.4"'))
    with pytest.raises(JavaNotFoundError, match="Java 9 .* not supported.*openjdk-17"):
        check_java()


def test_check_java_without_any_java_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="not found.*apt-get install openjdk-17"):
        check_java()


def test_check_java_accepts_java_17(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", _fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15'))
    assert check_java() == 17


def test_unresolvable_jvm_package_names_the_coordinate(tmp_path, monkeypatch):
    monkeypatch.setenv("CRISISLAKE_JVM_CACHE", str(tmp_path / "jvm"))
    with pytest.raises(JvmPackagesError, match="org.crisislake.nonexistent#no-such-artifact_2.12;0.0.1"):
        resolve_jvm_packages(["org.crisislake.nonexistent:no-such-artifact_2.12:0.0.1"], timeout_s=300)


def test_cached_resolution_is_reused_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("CRISISLAKE_JVM_CACHE", str(tmp_path))
    jar = tmp_path / "a.jar"
    jar.write_bytes(b"PK")
    import hashlib
    import json

    key = hashlib.sha256(b"g:a:1\n--exclude").hexdigest()[:16]
    (tmp_path / key).mkdir()
    (tmp_path / key / "resolved.json").write_text(json.dumps({"packages": ["g:a:1"], "jars": [str(jar)]}))
    # spark-submit is never called: a PATH without anything would break it.
    monkeypatch.setenv("PATH", "/nonexistent")
    assert resolve_jvm_packages(["g:a:1"]) == [str(jar)]


def test_spark_conf_enables_delta_and_local_s3a_only_for_local_master():
    local = spark_conf(SparkSettings(master="local[*]", shuffle_partitions=4, s3_endpoint="http://127.0.0.1:9"), ["/x.jar"])
    assert local["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert local["spark.jars"] == "/x.jar"
    assert local["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert local["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9"
    cluster = spark_conf(SparkSettings(master="", shuffle_partitions=200))
    assert "spark.jars" not in cluster
    assert "spark.hadoop.fs.s3.impl" not in cluster
    assert cluster["spark.sql.shuffle.partitions"] == "200"


def test_session_has_delta_and_spark_nlp_on_the_classpath(spark):
    from py4j.java_gateway import JavaClass
    from sparknlp.base import DocumentAssembler

    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert DocumentAssembler()._java_obj.getClass().getName() == "com.johnsnowlabs.nlp.DocumentAssembler"
    assert isinstance(spark.sparkContext._jvm.org.apache.hadoop.fs.s3a.S3AFileSystem, JavaClass)
    assert os.environ.get("AWS_ACCESS_KEY_ID") == "testing"


def test_temporary_conf_restores_a_set_value_and_unsets_one_that_was_unset_even_on_error(spark):
    conf = spark.conf
    conf.set("spark.sql.files.maxRecordsPerFile", "7")
    conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    default = conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    with pytest.raises(RuntimeError):
        with temporary_conf(spark, {"spark.sql.files.maxRecordsPerFile": "9", "spark.sql.execution.arrow.maxRecordsPerBatch": "5"}):
            assert (conf.get("spark.sql.files.maxRecordsPerFile"), conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")) == ("9", "5")
            raise RuntimeError("the block failed")
    assert conf.get("spark.sql.files.maxRecordsPerFile") == "7"
    assert conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == default == "10000"
    conf.unset("spark.sql.files.maxRecordsPerFile")

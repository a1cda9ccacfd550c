import pytest
from crisislake.config import ConfigError, join_uri, load_config


def test_local_config_defaults_to_lake_dir_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "local.json").write_text('{"lake_root": "./lake"}')
    config = load_config("local", environ={})
    assert config.lake_root == f"{tmp_path}/lake"
    assert config.table("curated", "tweets") == f"{tmp_path}/lake/curated/tweets"


def test_env_var_overrides_nested_field():
    config = load_config("local", environ={"CRISISLAKE_WAREHOUSE__POSTGRES_URL": "postgresql://x@127.0.0.1/db"})
    assert config.warehouse.postgres_url == "postgresql://x@127.0.0.1/db"


def test_cli_set_wins_over_env_and_coerces_type():
    config = load_config(
        "local", overrides=["spark.shuffle_partitions=3"], environ={"CRISISLAKE_SPARK__SHUFFLE_PARTITIONS": "5"}
    )
    assert config.spark.shuffle_partitions == 3


def test_set_spark_conf_key_with_dots():
    config = load_config("local", overrides=["spark.conf.spark.sql.ansi.enabled=true"], environ={})
    assert config.spark.conf["spark.sql.ansi.enabled"] == "true"


def test_unknown_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown setting 'spark.nope'"):
        load_config("local", overrides=["spark.nope=1"], environ={})


def test_aws_env_without_lake_root_names_the_fix():
    with pytest.raises(ConfigError, match="CRISISLAKE_LAKE_ROOT"):
        load_config("aws", environ={})


def test_aws_lake_root_from_flag():
    config = load_config("aws", lake_root="s3://bucket/prefix", environ={})
    assert config.zone("raw") == "s3://bucket/prefix/raw"
    assert config.spark.master == ""


def test_join_uri_strips_slashes():
    assert join_uri("s3://b/p/", "/raw/", "tweets") == "s3://b/p/raw/tweets"


@pytest.mark.parametrize("section, value", [
    ({"warehouse": {"postgres_url": "postgresql://app:s3cret@db.internal:5432/lake"}}, "warehouse.postgres_url"),
    ({"serve": {"read_url": "postgresql://reader:pw@127.0.0.1/x"}}, "serve.read_url"),
    ({"serve": {"api_tokens": "alice:" + "0" * 64}}, "serve.api_tokens"),
])
def test_a_credential_in_a_config_file_is_refused_naming_the_variable_to_use(tmp_path, section, value):
    import json

    path = tmp_path / "mine.json"
    path.write_text(json.dumps(section))
    with pytest.raises(ConfigError, match=rf"{value} holds a credential; .* in the environment \(CRISISLAKE_"):
        load_config("local", config_file=str(path), environ={})


def test_a_url_without_a_password_may_live_in_a_file_and_the_environment_may_hold_one(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text('{"warehouse": {"postgres_url": "postgresql://app@db.internal/lake"}}')
    env = {"CRISISLAKE_SERVE__READ_URL": "postgresql://reader:pw@127.0.0.1/x"}

    config = load_config("local", config_file=str(path), environ=env)

    assert config.warehouse.postgres_url == "postgresql://app@db.internal/lake"
    assert config.serve.read_url == "postgresql://reader:pw@127.0.0.1/x"


SECRET_PATTERNS = {
    "AWS access key id": r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "password in a URL": r"\b[a-z][a-z0-9+.-]*://[^/@\s:'\"{}]+:(?!testing@|pw@|s3cret@|…@|\*+@|<)[^/@\s'\"{}]+@[a-z0-9.-]+",
}


def test_no_tracked_file_holds_a_credential():
    """Keys, private keys and URL passwords: none in the repository (tests use moto's 'testing' and
    the two fake passwords above; docs write a password as '…')."""
    import re
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.split(b"\0")
    found = []
    for name in filter(None, (f.decode() for f in files)):
        path = root / name
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [(name, what) for what, pattern in SECRET_PATTERNS.items() if re.search(pattern, text)]
    assert found == []

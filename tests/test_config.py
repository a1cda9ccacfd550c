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

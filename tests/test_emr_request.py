"""The EMR requests built for each submit option (pure dict builders, no AWS)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from crisislake.emr.request import (
    PlanError,
    SubmitPlan,
    build_add_steps_request,
    build_run_job_flow_request,
    configurations,
    emr_s3_uri,
    estimate_hourly_cost,
    select_plan_steps,
    spark_submit_args,
)
from crisislake.emr.settings import EmrSettingsError, load_emr_settings, validate_emr_settings

ROOT = Path(__file__).resolve().parents[1]
CODE = "s3://lake-bucket/crisis/code/v1"
PIPELINE = [("ingest-tweets", "crisislake.tweets.job"), ("ingest-hdx", "crisislake.hdx.ingest_job"),
            ("dedup", "crisislake.dedup.job")]


@pytest.fixture()
def settings():
    return load_emr_settings(str(ROOT / "emr"))


def make_plan(settings, **kwargs) -> SubmitPlan:
    values = dict(settings=settings, version="v1", run_id="run-1", lake_root="s3://lake-bucket/crisis",
                  code_root="s3://lake-bucket/crisis", steps=list(PIPELINE))
    values.update(kwargs)
    return SubmitPlan(**values)


def test_spark_submit_args_are_one_list_item_per_argument(settings):
    settings.steps.spark_submit_args = ["--conf", "spark.yarn.maxAppAttempts=1"]
    settings.steps.per_step_spark_submit_args = {}
    plan = make_plan(settings, overrides=["warehouse.redshift_workgroup=wg one"])
    assert spark_submit_args(plan, "ingest-tweets") == [
        "spark-submit", "--deploy-mode", "client", "--name", "crisislake-ingest-tweets-run-1",
        "--py-files", f"{CODE}/crisislake.zip",
        "--conf", "spark.yarn.maxAppAttempts=1",
        f"{CODE}/jobs/ingest_tweets.py",
        "--env", "aws", "--config", "/home/hadoop/crisislake/v1/conf/aws.json",
        "--lake-root", "s3://lake-bucket/crisis", "--run-id", "run-1",
        "--set", "warehouse.redshift_workgroup=wg one",
    ]


def test_built_jar_goes_to_every_step_with_jars_before_the_job_file(settings):
    settings.steps.spark_submit_args = ["--conf", "spark.yarn.maxAppAttempts=1"]
    settings.steps.per_step_spark_submit_args = {}
    plan = make_plan(settings, jars=["jars/crisislake-udfs.jar"])
    assert spark_submit_args(plan, "ingest-tweets")[:12] == [
        "spark-submit", "--deploy-mode", "client", "--name", "crisislake-ingest-tweets-run-1",
        "--py-files", f"{CODE}/crisislake.zip",
        "--jars", f"{CODE}/jars/crisislake-udfs.jar",
        "--conf", "spark.yarn.maxAppAttempts=1",
        f"{CODE}/jobs/ingest_tweets.py",
    ]
    for step in ("ingest-hdx", "dedup"):
        args = spark_submit_args(plan, step)
        assert args[args.index("--jars") + 1] == f"{CODE}/jars/crisislake-udfs.jar"


def test_several_jars_are_one_comma_separated_jars_option(settings):
    plan = make_plan(settings, jars=["jars/a.jar", "jars/b.jar"])
    args = spark_submit_args(plan, "dedup")
    assert args.count("--jars") == 1
    assert args[args.index("--jars") + 1] == f"{CODE}/jars/a.jar,{CODE}/jars/b.jar"


def test_without_a_built_jar_there_is_no_jars_option(settings):
    assert "--jars" not in spark_submit_args(make_plan(settings), "ingest-tweets")


def test_per_step_spark_args_apply_only_to_their_step(settings):
    settings.steps.per_step_spark_submit_args = {"dedup": ["--conf", "spark.sql.shuffle.partitions=400"]}
    plan = make_plan(settings)
    assert "spark.sql.shuffle.partitions=400" in spark_submit_args(plan, "dedup")
    assert "spark.sql.shuffle.partitions=400" not in spark_submit_args(plan, "ingest-hdx")


def test_new_cluster_steps_stage_config_then_follow_pipeline_order(settings):
    request = build_run_job_flow_request(make_plan(settings))
    assert [s["Name"] for s in request["Steps"]] == [
        "crisislake stage-config", "crisislake ingest-tweets", "crisislake ingest-hdx", "crisislake dedup",
    ]
    assert request["Steps"][0]["HadoopJarStep"] == {
        "Jar": "command-runner.jar",
        "Args": ["aws", "s3", "cp", "--recursive", f"{CODE}/conf/", "/home/hadoop/crisislake/v1/conf/"],
    }
    assert {s["ActionOnFailure"] for s in request["Steps"]} == {"TERMINATE_CLUSTER"}


def test_cluster_deploy_mode_ships_config_with_files_and_skips_staging(settings):
    settings.steps.deploy_mode = "cluster"
    plan = make_plan(settings)
    args = spark_submit_args(plan, "dedup")
    assert args[args.index("--files") + 1] == f"{CODE}/conf/aws.json"
    assert args[args.index("--config") + 1] == "aws.json"
    assert [s["Name"] for s in build_run_job_flow_request(plan)["Steps"]][0] == "crisislake ingest-tweets"


def test_steps_subset_keeps_pipeline_order():
    assert select_plan_steps(PIPELINE, "dedup,ingest-tweets") == [
        ("ingest-tweets", "crisislake.tweets.job"), ("dedup", "crisislake.dedup.job"),
    ]


def test_unknown_step_name_is_a_plan_error():
    with pytest.raises(PlanError, match="unknown step"):
        select_plan_steps(PIPELINE, "ingest-tweets,trian")


def test_run_job_flow_request_names_roles_logs_idle_timeout_and_tags(settings):
    request = build_run_job_flow_request(make_plan(settings))
    assert request["ReleaseLabel"] == "emr-7.13.0"
    assert request["ServiceRole"] == "EMR_DefaultRole"
    assert request["JobFlowRole"] == "EMR_EC2_DefaultRole"
    assert request["LogUri"] == "s3://lake-bucket/crisis/emr-logs/"
    assert request["AutoTerminationPolicy"] == {"IdleTimeout": 1800}
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert {"Key": "crisislake:run-id", "Value": "run-1"} in request["Tags"]
    assert {"Key": "crisislake:version", "Value": "v1"} in request["Tags"]
    assert request["BootstrapActions"] == [{
        "Name": "install_python_deps",
        "ScriptBootstrapAction": {"Path": f"{CODE}/bootstrap/install_python_deps.sh", "Args": []},
    }]
    assert "SecurityConfiguration" not in request


def test_keep_alive_keeps_cluster_after_steps(settings):
    request = build_run_job_flow_request(make_plan(settings), keep_alive=True)
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True


def test_configurations_enable_delta_spark_nlp_and_python_311(settings):
    by_class = {c["Classification"]: c for c in configurations(settings)}
    defaults = by_class["spark-defaults"]["Properties"]
    assert defaults["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert defaults["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert defaults["spark.jars.packages"] == "com.johnsnowlabs.nlp:spark-nlp_2.12:5.5.3"
    assert by_class["delta-defaults"]["Properties"] == {"delta.enabled": "true"}
    assert by_class["spark-env"]["Configurations"] == [{
        "Classification": "export",
        "Properties": {"PYSPARK_PYTHON": "/usr/bin/python3.11", "PYSPARK_DRIVER_PYTHON": "/usr/bin/python3.11"},
    }]
    assert "emrfs-site" not in by_class


def test_kms_key_turns_on_emrfs_sse_kms(settings):
    settings.cluster.s3_kms_key_id = "alias/crisislake-lake"
    by_class = {c["Classification"]: c for c in configurations(settings)}
    assert by_class["emrfs-site"]["Properties"] == {
        "fs.s3.enableServerSideEncryption": "true",
        "fs.s3.serverSideEncryption.kms.keyId": "alias/crisislake-lake",
    }


def test_security_configuration_replaces_emrfs_encryption(settings):
    settings.cluster.s3_kms_key_id = "alias/crisislake-lake"
    settings.cluster.security_configuration = "crisislake-at-rest"
    request = build_run_job_flow_request(make_plan(settings))
    assert request["SecurityConfiguration"] == "crisislake-at-rest"
    assert "emrfs-site" not in {c["Classification"] for c in request["Configurations"]}


def test_task_group_on_spot_is_added_when_it_has_nodes(settings):
    for group in settings.instances.groups:
        if group.role == "TASK":
            group.count = 3
    groups = build_run_job_flow_request(make_plan(settings))["Instances"]["InstanceGroups"]
    task = [g for g in groups if g["InstanceRole"] == "TASK"]
    assert [(t["Market"], t["InstanceCount"], t["InstanceType"]) for t in task] == [("SPOT", 3, "m5.xlarge")]


def test_default_plan_has_no_task_group(settings):
    groups = build_run_job_flow_request(make_plan(settings))["Instances"]["InstanceGroups"]
    assert [(g["InstanceRole"], g["InstanceCount"]) for g in groups] == [("MASTER", 1), ("CORE", 2)]


def test_fleet_mode_builds_fleets_with_spot_specification(settings):
    settings.instances.mode = "fleets"
    for fleet in settings.instances.fleets:
        if fleet.role == "TASK":
            fleet.spot = 4
    fleets = build_run_job_flow_request(make_plan(settings))["Instances"]["InstanceFleets"]
    assert [(f["InstanceFleetType"], f["TargetOnDemandCapacity"], f["TargetSpotCapacity"]) for f in fleets] == [
        ("MASTER", 1, 0), ("CORE", 2, 0), ("TASK", 0, 4),
    ]
    assert fleets[2]["LaunchSpecifications"]["SpotSpecification"]["TimeoutAction"] == "SWITCH_TO_ON_DEMAND"
    assert "LaunchSpecifications" not in fleets[0]


def test_add_steps_request_targets_cluster_and_cancels_on_failure(settings):
    request = build_add_steps_request(make_plan(settings, cluster_id="j-ABC", steps=[PIPELINE[2]]))
    assert request["JobFlowId"] == "j-ABC"
    assert [s["Name"] for s in request["Steps"]] == ["crisislake stage-config", "crisislake dedup"]
    assert {s["ActionOnFailure"] for s in request["Steps"]} == {"CANCEL_AND_WAIT"}


def test_cost_estimate_sums_on_demand_ec2_and_emr_prices(settings):
    estimate = estimate_hourly_cost(settings)
    # 3 x m5.xlarge at (0.192 EC2 + 0.048 EMR)
    assert estimate.total == pytest.approx(0.72)
    assert estimate.describe()[-1] == "estimated cost: 0.72 USD/hour (on-demand EC2 + EMR prices)"


def test_cost_estimate_names_instance_types_without_price(settings):
    settings.instances.groups[1].instance_type = "x9.huge"
    estimate = estimate_hourly_cost(settings)
    assert estimate.total == pytest.approx(0.24)
    assert estimate.unpriced == ["x9.huge"]
    assert estimate.describe()[-1].endswith("not counted: x9.huge")


def test_local_lake_root_is_rejected_with_the_fix():
    with pytest.raises(PlanError, match="--lake-root s3://BUCKET/PREFIX"):
        emr_s3_uri("./lake")


def test_s3a_lake_root_is_rewritten_for_emrfs():
    assert emr_s3_uri("s3a://lake-bucket/crisis/") == "s3://lake-bucket/crisis"


def test_plan_with_two_primaries_is_rejected(settings):
    settings.instances.groups[1].role = "MASTER"
    with pytest.raises(EmrSettingsError, match="exactly one MASTER"):
        validate_emr_settings(settings)


def test_spark_nlp_coordinate_matches_the_python_pin(settings):
    pin = re.search(r'"spark-nlp==([0-9.]+)"', (ROOT / "setup.py").read_text()).group(1)
    assert settings.cluster.spark_packages == [f"com.johnsnowlabs.nlp:spark-nlp_2.12:{pin}"]

"""``crisislake emr submit`` against the loopback moto server (S3, IAM, EMR) and botocore's Stubber.

moto accepts the RunJobFlow/AddJobFlowSteps requests only after botocore has validated them
against the real EMR service model, and the upload really lands in its S3. moto never moves a
step past RUNNING, so the waiter paths (state changes, a failed step with its log tail) stub the
EMR answers with botocore's Stubber while the log itself is read from moto's S3.
"""
from __future__ import annotations

import gzip
import json
import shutil
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from crisislake import cli
from crisislake.emr.build import build_dist
from crisislake.emr.submit import AwsClients, WaitSettings, describe_aws_error, wait_for_steps

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "20261128T000000Z-testrun"


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    return build_dist(ROOT, tmp_path_factory.mktemp("submit") / "dist")


@pytest.fixture(scope="module")
def aws(s3_endpoint):
    """boto3 clients on the moto server, with the default EMR roles present in its IAM."""
    clients = {name: boto3.client(name, endpoint_url=s3_endpoint, region_name="us-east-1")
               for name in ("s3", "emr", "iam")}
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for create in (
        lambda: clients["iam"].create_role(RoleName="EMR_DefaultRole", AssumeRolePolicyDocument=trust),
        lambda: clients["iam"].create_instance_profile(InstanceProfileName="EMR_EC2_DefaultRole"),
    ):
        try:
            create()
        except clients["iam"].exceptions.EntityAlreadyExistsException:
            pass
    return clients


@pytest.fixture()
def bucket(aws):
    name = f"crisislake-emr-{uuid.uuid4().hex[:12]}"
    aws["s3"].create_bucket(Bucket=name)
    return name


def submit(capsys, *args: str):
    code = cli.main(["emr", "submit", "--env", "aws", "--run-id", RUN_ID, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_submit_uploads_dist_under_code_version(capsys, aws, bucket, dist, s3_endpoint):
    code, out, err = submit(capsys, "--lake-root", f"s3://{bucket}/lake", "--dist", str(dist.dist_dir),
                            "--endpoint-url", s3_endpoint, "--no-wait")
    assert code == 0, err
    listed = aws["s3"].list_objects_v2(Bucket=bucket, Prefix=f"lake/code/{dist.version}/")
    keys = sorted(obj["Key"][len(f"lake/code/{dist.version}/"):] for obj in listed["Contents"])
    assert keys == sorted(dist.files)
    body = aws["s3"].get_object(Bucket=bucket, Key=f"lake/code/{dist.version}/crisislake.zip")["Body"].read()
    assert body == dist.zip_path.read_bytes()


def test_submit_launches_cluster_with_pipeline_steps_in_order(capsys, aws, bucket, dist, s3_endpoint):
    code, out, err = submit(capsys, "--lake-root", f"s3://{bucket}/lake", "--dist", str(dist.dist_dir),
                            "--endpoint-url", s3_endpoint, "--no-wait")
    assert code == 0, err
    cluster_id = next(line.split()[2] for line in out.splitlines() if line.startswith("launched cluster"))
    cluster = aws["emr"].describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["ReleaseLabel"] == "emr-7.13.0"
    assert cluster["LogUri"] == f"s3://{bucket}/lake/emr-logs/"
    steps = list(reversed(aws["emr"].list_steps(ClusterId=cluster_id)["Steps"]))
    assert [s["Name"] for s in steps] == [
        "crisislake stage-config", "crisislake ingest-tweets", "crisislake ingest-hdx",
        "crisislake ingest-reported-incidents", "crisislake classify",
        "crisislake dedup", "crisislake incidents", "crisislake corroborate", "crisislake build-marts", "crisislake export",
        "crisislake load",
    ]
    code_uri = f"s3://{bucket}/lake/code/{dist.version}"
    dedup = steps[5]["Config"]
    assert dedup["Jar"] == "command-runner.jar"
    assert dedup["Args"] == [
        "spark-submit", "--deploy-mode", "client", "--name", f"crisislake-dedup-{RUN_ID}",
        "--py-files", f"{code_uri}/crisislake.zip",
        "--conf", "spark.yarn.maxAppAttempts=1", "--conf", "spark.sql.shuffle.partitions=400",
        f"{code_uri}/jobs/dedup.py",
        "--env", "aws", "--config", f"/home/hadoop/crisislake/{dist.version}/conf/aws.json",
        "--lake-root", f"s3://{bucket}/lake", "--run-id", RUN_ID,
    ]
    assert "estimated cost: 0.72 USD/hour" in out


def test_submit_steps_subset_to_running_cluster(capsys, aws, bucket, dist, s3_endpoint):
    cluster_id = aws["emr"].run_job_flow(
        Name="running", ReleaseLabel="emr-7.13.0", LogUri=f"s3://{bucket}/their-logs/",
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    code, out, err = submit(capsys, "--lake-root", f"s3://{bucket}/lake", "--dist", str(dist.dist_dir),
                            "--endpoint-url", s3_endpoint, "--no-wait", "--cluster-id", cluster_id,
                            "--steps", "dedup,ingest-tweets")
    assert code == 0, err
    steps = list(reversed(aws["emr"].list_steps(ClusterId=cluster_id)["Steps"]))
    assert [(s["Name"], s["ActionOnFailure"]) for s in steps] == [
        ("crisislake stage-config", "CANCEL_AND_WAIT"),
        ("crisislake ingest-tweets", "CANCEL_AND_WAIT"),
        ("crisislake dedup", "CANCEL_AND_WAIT"),
    ]
    assert f"logs: s3://{bucket}/their-logs/{cluster_id}/" in out


def test_dry_run_prints_request_json_and_sends_nothing(capsys, dist):
    # Port 9 (discard) is closed on loopback: any request would fail the command.
    code, out, err = submit(capsys, "--lake-root", "s3://never-created-bucket/lake", "--dist", str(dist.dist_dir),
                            "--endpoint-url", "http://127.0.0.1:9", "--dry-run", "--steps", "ingest-hdx")
    assert code == 0, err
    request = json.loads(out)
    assert request["ReleaseLabel"] == "emr-7.13.0"
    assert [s["Name"] for s in request["Steps"]] == ["crisislake stage-config", "crisislake ingest-hdx"]
    assert "estimated cost: 0.72 USD/hour" in err


def test_dry_run_passes_the_jar_only_when_the_dist_has_it(capsys, dist, tmp_path):
    with_jar = tmp_path / "dist"
    shutil.copytree(dist.dist_dir, with_jar)
    (with_jar / "jars").mkdir()
    (with_jar / "jars" / "extra.jar").write_bytes(b"PK")
    jars = []
    for dist_dir in (with_jar, dist.dist_dir):
        code, out, err = submit(capsys, "--lake-root", "s3://never-created-bucket/lake", "--dist", str(dist_dir),
                                "--endpoint-url", "http://127.0.0.1:9", "--dry-run")
        assert code == 0, err
        submits = [s["HadoopJarStep"]["Args"] for s in json.loads(out)["Steps"]
                   if s["HadoopJarStep"]["Args"][0] == "spark-submit"]
        jars.append({args[args.index("--jars") + 1] if "--jars" in args else None for args in submits})
    assert jars == [{f"s3://never-created-bucket/lake/code/{dist.version}/jars/extra.jar"}, {None}]


def test_dry_run_with_cluster_id_prints_add_steps_request(capsys, dist):
    code, out, err = submit(capsys, "--lake-root", "s3://never-created-bucket/lake", "--dist", str(dist.dist_dir),
                            "--endpoint-url", "http://127.0.0.1:9", "--dry-run", "--cluster-id", "j-RUNNING1")
    assert code == 0, err
    request = json.loads(out)
    assert set(request) == {"JobFlowId", "Steps"}
    assert request["JobFlowId"] == "j-RUNNING1"


def test_fleet_plan_with_spot_tasks_passes_emr_validation(capsys, aws, bucket, dist, s3_endpoint, tmp_path):
    emr_dir = tmp_path / "emr"
    shutil.copytree(ROOT / "emr", emr_dir)
    plan = json.loads((emr_dir / "instances.json").read_text())
    plan["mode"] = "fleets"
    (emr_dir / "instances.json").write_text(json.dumps(plan))
    code, out, err = submit(capsys, "--lake-root", f"s3://{bucket}/lake", "--dist", str(dist.dist_dir),
                            "--endpoint-url", s3_endpoint, "--no-wait", "--emr-dir", str(emr_dir),
                            "--task-nodes", "3", "--task-market", "SPOT")
    assert code == 0, err
    assert "TASK   3 x r5.xlarge SPOT" in out


def test_missing_bucket_is_one_line_error(capsys, aws, dist, s3_endpoint):
    code, out, err = submit(capsys, "--lake-root", "s3://crisislake-no-such-bucket-7f3a/lake",
                            "--dist", str(dist.dist_dir), "--endpoint-url", s3_endpoint)
    assert code == 1
    assert err.strip().splitlines() == [
        "crisislake emr submit: bucket crisislake-no-such-bucket-7f3a does not exist "
        "(from s3://crisislake-no-such-bucket-7f3a/lake); create it or pass another --lake-root/--code-root"
    ]


def test_missing_role_is_one_line_error(capsys, aws, bucket, dist, s3_endpoint, tmp_path):
    emr_dir = tmp_path / "emr"
    shutil.copytree(ROOT / "emr", emr_dir)
    cluster = json.loads((emr_dir / "cluster.json").read_text())
    cluster["service_role"] = "crisislake-no-such-role"
    (emr_dir / "cluster.json").write_text(json.dumps(cluster))
    code, out, err = submit(capsys, "--lake-root", f"s3://{bucket}/lake", "--dist", str(dist.dist_dir),
                            "--endpoint-url", s3_endpoint, "--emr-dir", str(emr_dir))
    assert code == 1
    assert err.strip().splitlines() == [
        "crisislake emr submit: IAM service role crisislake-no-such-role does not exist: create it "
        "(`aws emr create-default-roles`) or set the role names in emr/cluster.json"
    ]
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket=bucket)  # nothing uploaded


def test_missing_credentials_is_one_line_error(capsys, monkeypatch, dist, s3_endpoint, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = submit(capsys, "--lake-root", "s3://any-bucket/lake", "--dist", str(dist.dist_dir),
                            "--endpoint-url", s3_endpoint)
    assert code == 1
    assert err.strip().splitlines() == [
        "crisislake emr submit: checking bucket any-bucket: no usable AWS credentials found; set AWS_PROFILE "
        "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an IAM role is attached"
    ]


def test_rejected_credentials_name_the_error_code():
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": "InvalidClientTokenId", "Message": "The security token is invalid."}},
                      "HeadBucket")
    assert describe_aws_error(exc, "checking bucket b") == (
        "checking bucket b: AWS rejected the credentials (InvalidClientTokenId: The security token is invalid.); "
        "refresh them or pick another AWS_PROFILE"
    )


def test_emr_role_validation_error_points_at_role_config():
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": "ValidationException", "Message": "Invalid InstanceProfile: EMR_EC2_X."}},
                      "RunJobFlow")
    assert describe_aws_error(exc, "launching the EMR cluster") == (
        "launching the EMR cluster: Invalid InstanceProfile: EMR_EC2_X. - check the IAM role names in "
        "emr/cluster.json (`aws emr create-default-roles` creates EMR_DefaultRole and EMR_EC2_DefaultRole)"
    )


def test_no_lake_root_for_aws_names_the_fix(capsys, monkeypatch):
    monkeypatch.delenv("CRISISLAKE_LAKE_ROOT", raising=False)
    code, out, err = submit(capsys)
    assert code == 2
    assert "pass --lake-root s3://BUCKET/PREFIX or set CRISISLAKE_LAKE_ROOT" in err


# ---- waiting: state changes and the failed-step log tail (EMR stubbed, S3 on moto) ----------

def _step(step_id: str, state: str, **status) -> dict:
    return {"Step": {"Id": step_id, "Name": "x", "Status": {"State": state, **status},
                     "Config": {"Jar": "command-runner.jar", "Args": []}, "ActionOnFailure": "CANCEL_AND_WAIT"}}


def _stubbed_clients(s3_endpoint: str):
    clients = AwsClients(region="us-east-1", endpoint_url=s3_endpoint)
    emr = boto3.client("emr", region_name="us-east-1", endpoint_url=s3_endpoint)
    clients._clients["emr"] = emr
    return clients, Stubber(emr)


def test_wait_prints_each_step_state_change(s3_endpoint):
    clients, stub = _stubbed_clients(s3_endpoint)
    for state in ("PENDING", "RUNNING", "RUNNING", "COMPLETED"):
        stub.add_response("describe_step", _step("s-A", state), {"ClusterId": "j-1", "StepId": "s-A"})
    stub.add_response("describe_step", _step("s-B", "COMPLETED"), {"ClusterId": "j-1", "StepId": "s-B"})
    printed = []
    with stub:
        code = wait_for_steps(clients, "j-1", [("crisislake ingest-tweets", "s-A"), ("crisislake dedup", "s-B")],
                              "s3://unused/logs/", WaitSettings(poll_s=1), say=printed.append)
    assert code == 0
    assert printed == [
        "crisislake ingest-tweets: PENDING",
        "crisislake ingest-tweets: RUNNING",
        "crisislake ingest-tweets: COMPLETED",
        "crisislake dedup: COMPLETED",
    ]


def test_failed_step_prints_log_location_and_last_lines(aws, bucket, s3_endpoint):
    log_lines = [f"line {i}" for i in range(1, 61)] + ["ValueError: no raw tweets under s3://b/lake/raw/tweets"]
    aws["s3"].put_object(Bucket=bucket, Key="emr-logs/j-2/steps/s-F/stderr.gz",
                         Body=gzip.compress("\n".join(log_lines).encode() + b"\n"))
    clients, stub = _stubbed_clients(s3_endpoint)
    stub.add_response("describe_step", _step("s-F", "RUNNING"), {"ClusterId": "j-2", "StepId": "s-F"})
    stub.add_response("describe_step", _step("s-F", "FAILED", FailureDetails={
        "Reason": "Unknown Error.", "LogFile": f"s3://{bucket}/emr-logs/j-2/steps/s-F/"}),
        {"ClusterId": "j-2", "StepId": "s-F"})
    printed = []
    with stub:
        code = wait_for_steps(clients, "j-2", [("crisislake ingest-tweets", "s-F"), ("crisislake dedup", "s-G")],
                              f"s3://{bucket}/emr-logs/", WaitSettings(poll_s=1, log_tail_lines=3),
                              say=printed.append)
    assert code == 1
    assert printed == [
        "crisislake ingest-tweets: RUNNING",
        "crisislake ingest-tweets: FAILED",
        "step crisislake ingest-tweets (s-F) FAILED: Unknown Error.",
        f"stderr log: s3://{bucket}/emr-logs/j-2/steps/s-F/stderr.gz",
        "--- last 3 lines of crisislake ingest-tweets stderr ---",
        "  line 59",
        "  line 60",
        "  ValueError: no raw tweets under s3://b/lake/raw/tweets",
        "---",
    ]


def test_failed_step_without_uploaded_log_says_how_to_fetch_it(bucket, s3_endpoint):
    clients, stub = _stubbed_clients(s3_endpoint)
    stub.add_response("describe_step", _step("s-H", "FAILED"), {"ClusterId": "j-3", "StepId": "s-H"})
    printed = []
    with stub:
        code = wait_for_steps(clients, "j-3", [("crisislake load", "s-H")], f"s3://{bucket}/emr-logs/",
                              WaitSettings(poll_s=1, log_wait_s=1, log_tail_lines=5), say=printed.append)
    assert code == 1
    assert printed[-1] == (
        "the log is not on S3 yet (EMR uploads step logs every few minutes); later: "
        f"aws s3 cp s3://{bucket}/emr-logs/j-3/steps/s-H/stderr.gz - | zcat | tail -n 5"
    )


def test_cluster_that_fails_to_bootstrap_reports_reason(s3_endpoint):
    clients, stub = _stubbed_clients(s3_endpoint)
    cluster = {"Cluster": {"Id": "j-4", "Name": "c", "Status": {
        "State": "TERMINATED_WITH_ERRORS",
        "StateChangeReason": {"Code": "BOOTSTRAP_FAILURE", "Message": "bootstrap action 1 returned a non-zero return code"},
    }}}
    starting = {"Cluster": {"Id": "j-4", "Name": "c", "Status": {"State": "BOOTSTRAPPING"}}}
    stub.add_response("describe_cluster", starting, {"ClusterId": "j-4"})
    stub.add_response("describe_cluster", cluster, {"ClusterId": "j-4"})
    printed = []
    with stub:
        code = wait_for_steps(clients, "j-4", [("crisislake ingest-tweets", "s-1")], "s3://b/emr-logs/",
                              WaitSettings(poll_s=1), new_cluster=True, say=printed.append)
    assert code == 1
    assert printed == [
        "cluster j-4: BOOTSTRAPPING",
        "cluster j-4: TERMINATED_WITH_ERRORS (bootstrap action 1 returned a non-zero return code)",
        "cluster j-4 TERMINATED_WITH_ERRORS: bootstrap action 1 returned a non-zero return code",
        "bootstrap and node logs: s3://b/emr-logs/j-4/node/",
    ]


def test_step_still_running_after_timeout_exits_3_with_follow_up_command(s3_endpoint):
    clients, stub = _stubbed_clients(s3_endpoint)
    stub.add_response("describe_step", _step("s-T", "RUNNING"), {"ClusterId": "j-5", "StepId": "s-T"})
    printed = []
    with stub:
        code = wait_for_steps(clients, "j-5", [("crisislake classify", "s-T")], "s3://b/emr-logs/",
                              WaitSettings(poll_s=1, step_timeout_s=1), say=printed.append)
    assert code == 3
    assert printed == [
        "crisislake classify: RUNNING",
        "step crisislake classify (s-T) still RUNNING after 1s; follow it with: "
        "aws emr describe-step --cluster-id j-5 --step-id s-T",
    ]


def test_waiter_polls_moto_and_prints_the_live_step_state(aws, bucket, s3_endpoint):
    step = {"Name": "crisislake ingest-tweets", "ActionOnFailure": "CANCEL_AND_WAIT",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "x.py"]}}
    cluster_id = aws["emr"].run_job_flow(
        Name="live", ReleaseLabel="emr-7.13.0", LogUri=f"s3://{bucket}/emr-logs/", Steps=[step],
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    step_id = aws["emr"].list_steps(ClusterId=cluster_id)["Steps"][0]["Id"]
    printed = []
    code = wait_for_steps(AwsClients(region="us-east-1", endpoint_url=s3_endpoint), cluster_id,
                          [("crisislake ingest-tweets", step_id)], f"s3://{bucket}/emr-logs/",
                          WaitSettings(poll_s=1, step_timeout_s=2), say=printed.append)
    # moto starts the first step and never finishes it: the waiter gives up after two polls.
    assert code == 3
    assert printed[0] == "crisislake ingest-tweets: RUNNING"
    assert printed[1].startswith(f"step crisislake ingest-tweets ({step_id}) still RUNNING after 2s")


def test_cancelled_step_reports_why_the_cluster_stopped(s3_endpoint):
    clients, stub = _stubbed_clients(s3_endpoint)
    stub.add_response("describe_step", _step("s-C", "CANCELLED"), {"ClusterId": "j-6", "StepId": "s-C"})
    stub.add_response("describe_cluster", {"Cluster": {"Id": "j-6", "Name": "c", "Status": {
        "State": "TERMINATED_WITH_ERRORS",
        "StateChangeReason": {"Code": "INSTANCE_FAILURE", "Message": "Spot capacity was reclaimed"}}}},
        {"ClusterId": "j-6"})
    printed = []
    with stub:
        code = wait_for_steps(clients, "j-6", [("crisislake dedup", "s-C")], "s3://b/emr-logs/",
                              WaitSettings(poll_s=1), say=printed.append)
    assert code == 1
    assert printed[-2:] == [
        "step crisislake dedup (s-C) CANCELLED",
        "cluster j-6: TERMINATED_WITH_ERRORS (Spot capacity was reclaimed)",
    ]

"""Pure builders for the EMR API requests ``crisislake emr submit`` sends (no boto3 here).

Everything is a plain dict in the exact shape of ``RunJobFlow`` / ``AddJobFlowSteps``, so a dry
run prints what would be sent and tests compare against hand-written expectations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from crisislake import registry
from crisislake.emr.build import ZIP_NAME
from crisislake.emr.settings import EmrSettings
from crisislake.errors import CrisislakeError

COMMAND_RUNNER = "command-runner.jar"
STAGE_STEP = "stage-config"


class PlanError(CrisislakeError, ValueError):
    """The submit plan cannot work (e.g. a lake root that is not on S3)."""


@dataclass
class SubmitPlan:
    """Everything one submission needs; built from the config, ``emr/*.json`` and the CLI.

    ``steps`` are ``(name, module)`` pairs of the registry's pipeline jobs, in order.
    ``overrides`` are the submitter's ``--set`` values, forwarded to every step.
    ``jars`` are the built jars, as paths under :attr:`code_uri`, that every step passes with
    ``--jars`` (none when the build made no jar).
    """

    settings: EmrSettings
    version: str
    run_id: str
    lake_root: str
    code_root: str
    steps: List[Tuple[str, str]]
    env: str = "aws"
    run_config: str = "aws.json"
    overrides: List[str] = field(default_factory=list)
    cluster_id: Optional[str] = None
    jars: List[str] = field(default_factory=list)

    @property
    def code_uri(self) -> str:
        return f"{self.code_root.rstrip('/')}/code/{self.version}"

    @property
    def log_uri(self) -> str:
        return self.settings.cluster.log_uri or f"{self.code_root.rstrip('/')}/emr-logs/"


def split_s3_uri(uri: str) -> Tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``.

    >>> split_s3_uri("s3://lake-bucket/crisislake/code")
    ('lake-bucket', 'crisislake/code')
    >>> split_s3_uri("s3://lake-bucket")
    ('lake-bucket', '')
    """
    if not uri.startswith("s3://"):
        raise PlanError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise PlanError(f"{uri!r} names no bucket")
    return bucket, key.strip("/")


def emr_s3_uri(uri: str) -> str:
    """The URI EMR should use: ``s3://`` (EMRFS); ``s3a://``/``s3n://`` lake roots are rewritten.

    >>> emr_s3_uri("s3a://bucket/lake/")
    's3://bucket/lake'
    """
    for scheme in ("s3a://", "s3n://"):
        if uri.startswith(scheme):
            uri = "s3://" + uri[len(scheme):]
    if not uri.startswith("s3://"):
        raise PlanError(
            f"EMR needs an S3 lake root, got {uri!r}: pass --lake-root s3://BUCKET/PREFIX or set CRISISLAKE_LAKE_ROOT"
        )
    split_s3_uri(uri)
    return uri.rstrip("/")


def job_file(step: str) -> str:
    """The entry point shipped for a pipeline step (:attr:`crisislake.registry.Job.entry_point`).

    >>> job_file("ingest-tweets")
    'jobs/ingest_tweets.py'
    """
    return registry.get(step).entry_point


def remote_config_path(plan: SubmitPlan) -> str:
    """Where a step's driver reads the run config: staged on the primary node in client mode,
    the container's working directory (``--files``) in cluster mode."""
    if plan.settings.steps.deploy_mode == "cluster":
        return plan.run_config
    workdir = plan.settings.cluster.remote_workdir.rstrip("/")
    return f"{workdir}/{plan.version}/conf/{plan.run_config}"


def stage_config_args(plan: SubmitPlan) -> List[str]:
    """``aws s3 cp`` of this version's run config onto the primary node (client mode only)."""
    workdir = plan.settings.cluster.remote_workdir.rstrip("/")
    return ["aws", "s3", "cp", "--recursive", f"{plan.code_uri}/conf/", f"{workdir}/{plan.version}/conf/"]


def spark_submit_args(plan: SubmitPlan, step: str) -> List[str]:
    """The ``spark-submit`` command line of one step, one list item per argument."""
    step_settings = plan.settings.steps
    args = [
        "spark-submit",
        "--deploy-mode", step_settings.deploy_mode,
        "--name", f"crisislake-{step}-{plan.run_id}",
        "--py-files", f"{plan.code_uri}/{ZIP_NAME}",
    ]
    if plan.jars:
        args += ["--jars", ",".join(f"{plan.code_uri}/{rel}" for rel in plan.jars)]
    if step_settings.deploy_mode == "cluster":
        args += ["--files", f"{plan.code_uri}/conf/{plan.run_config}"]
    args += list(step_settings.spark_submit_args)
    args += list(step_settings.per_step_spark_submit_args.get(step, []))
    args.append(f"{plan.code_uri}/{job_file(step)}")
    args += [
        "--env", plan.env,
        "--config", remote_config_path(plan),
        "--lake-root", plan.lake_root,
        "--run-id", plan.run_id,
    ]
    for override in plan.overrides:
        args += ["--set", override]
    return args


def _step(name: str, args: List[str], action_on_failure: str) -> Dict[str, Any]:
    return {
        "Name": name,
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {"Jar": COMMAND_RUNNER, "Args": args},
    }


def build_steps(plan: SubmitPlan, action_on_failure: str) -> List[Dict[str, Any]]:
    """The EMR steps: (client mode) stage the run config, then one spark-submit per pipeline step."""
    steps = []
    if plan.settings.steps.deploy_mode == "client":
        steps.append(_step(f"crisislake {STAGE_STEP}", stage_config_args(plan), action_on_failure))
    for name, _module in plan.steps:
        steps.append(_step(f"crisislake {name}", spark_submit_args(plan, name), action_on_failure))
    return steps


def configurations(settings: EmrSettings) -> List[Dict[str, Any]]:
    """EMR configuration classifications: Delta + Spark NLP in spark-defaults, Python 3.11, KMS."""
    cluster = settings.cluster
    spark_defaults = dict(cluster.spark_defaults)
    if cluster.spark_packages:
        spark_defaults["spark.jars.packages"] = ",".join(cluster.spark_packages)
    python_env = {"PYSPARK_PYTHON": cluster.python, "PYSPARK_DRIVER_PYTHON": cluster.python}
    out: List[Dict[str, Any]] = [
        {"Classification": "spark-defaults", "Properties": spark_defaults},
        {"Classification": "delta-defaults", "Properties": {"delta.enabled": "true"}},
        {
            "Classification": "spark-env",
            "Properties": {},
            "Configurations": [{"Classification": "export", "Properties": python_env}],
        },
    ]
    if cluster.s3_kms_key_id and not cluster.security_configuration:
        # With a security configuration, S3 encryption belongs there (EMR rejects both at once).
        out.append({
            "Classification": "emrfs-site",
            "Properties": {
                "fs.s3.enableServerSideEncryption": "true",
                "fs.s3.serverSideEncryption.kms.keyId": cluster.s3_kms_key_id,
            },
        })
    return out


def _ebs(size_gb: int) -> Dict[str, Any]:
    return {
        "EbsBlockDeviceConfigs": [
            {"VolumeSpecification": {"VolumeType": "gp3", "SizeInGB": size_gb}, "VolumesPerInstance": 1}
        ]
    }


def instances(settings: EmrSettings, keep_alive: bool) -> Dict[str, Any]:
    """The ``Instances`` block: groups or fleets from ``emr/instances.json`` (empty task entries dropped)."""
    plan, cluster = settings.instances, settings.cluster
    out: Dict[str, Any] = {}
    if plan.mode == "groups":
        groups = []
        for spec in plan.groups:
            if spec.count == 0:
                continue
            group: Dict[str, Any] = {
                "Name": spec.name or spec.role.lower(),
                "Market": spec.market,
                "InstanceRole": spec.role,
                "InstanceType": spec.instance_type,
                "InstanceCount": spec.count,
            }
            if spec.ebs_gb:
                group["EbsConfiguration"] = _ebs(spec.ebs_gb)
            groups.append(group)
        out["InstanceGroups"] = groups
    else:
        fleets = []
        for spec in plan.fleets:
            if spec.on_demand + spec.spot == 0:
                continue
            configs = []
            for instance_type in spec.instance_types:
                config: Dict[str, Any] = {"InstanceType": instance_type, "WeightedCapacity": 1}
                if spec.ebs_gb:
                    config["EbsConfiguration"] = _ebs(spec.ebs_gb)
                configs.append(config)
            fleet: Dict[str, Any] = {
                "Name": spec.name or spec.role.lower(),
                "InstanceFleetType": spec.role,
                "TargetOnDemandCapacity": spec.on_demand,
                "TargetSpotCapacity": spec.spot,
                "InstanceTypeConfigs": configs,
            }
            if spec.spot:
                fleet["LaunchSpecifications"] = {
                    "SpotSpecification": {
                        "TimeoutDurationMinutes": 20,
                        "TimeoutAction": "SWITCH_TO_ON_DEMAND",
                        "AllocationStrategy": "price-capacity-optimized",
                    }
                }
            fleets.append(fleet)
        out["InstanceFleets"] = fleets
    out["KeepJobFlowAliveWhenNoSteps"] = keep_alive
    out["TerminationProtected"] = False
    if cluster.ec2_subnet_id:
        out["Ec2SubnetId"] = cluster.ec2_subnet_id
    if cluster.ec2_key_name:
        out["Ec2KeyName"] = cluster.ec2_key_name
    return out


def build_run_job_flow_request(plan: SubmitPlan, keep_alive: Optional[bool] = None) -> Dict[str, Any]:
    """The ``RunJobFlow`` request for a transient cluster running ``plan``'s steps.

    The cluster ends after its last step unless ``keep_alive``; either way the idle
    ``AutoTerminationPolicy`` stops the bill if it is left waiting.
    """
    settings, cluster = plan.settings, plan.settings.cluster
    keep_alive = cluster.keep_alive if keep_alive is None else keep_alive
    tags = dict(cluster.tags)
    tags.update({"crisislake:version": plan.version, "crisislake:run-id": plan.run_id})
    request: Dict[str, Any] = {
        "Name": f"{cluster.name} {plan.run_id}",
        "LogUri": plan.log_uri,
        "ReleaseLabel": cluster.release_label,
        "Applications": [{"Name": name} for name in cluster.applications],
        "Configurations": configurations(settings),
        "Instances": instances(settings, keep_alive),
        "BootstrapActions": [
            {
                "Name": script.rsplit(".", 1)[0],
                "ScriptBootstrapAction": {"Path": f"{plan.code_uri}/bootstrap/{script}", "Args": []},
            }
            for script in cluster.bootstrap_scripts
        ],
        "Steps": build_steps(plan, settings.steps.action_on_failure_new_cluster),
        "StepConcurrencyLevel": cluster.step_concurrency_level,
        "JobFlowRole": cluster.job_flow_role,
        "ServiceRole": cluster.service_role,
        "VisibleToAllUsers": cluster.visible_to_all_users,
        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
    }
    if cluster.idle_timeout_s:
        request["AutoTerminationPolicy"] = {"IdleTimeout": cluster.idle_timeout_s}
    if cluster.ebs_root_volume_size_gb:
        request["EbsRootVolumeSize"] = cluster.ebs_root_volume_size_gb
    if cluster.security_configuration:
        request["SecurityConfiguration"] = cluster.security_configuration
    if cluster.auto_scaling_role:
        request["AutoScalingRole"] = cluster.auto_scaling_role
    return request


def build_add_steps_request(plan: SubmitPlan) -> Dict[str, Any]:
    """The ``AddJobFlowSteps`` request for a running cluster (``--cluster-id``).

    A failing step cancels the rest and leaves the cluster up: it is someone's running cluster.
    """
    if not plan.cluster_id:
        raise PlanError("AddJobFlowSteps needs a cluster id")
    return {
        "JobFlowId": plan.cluster_id,
        "Steps": build_steps(plan, plan.settings.steps.action_on_failure_existing_cluster),
    }


@dataclass
class CostLine:
    role: str
    instance_type: str
    count: int
    market: str
    hourly: Optional[float]  # per instance; None when the type has no price in emr/prices.json


@dataclass
class CostEstimate:
    lines: List[CostLine]
    currency: str

    @property
    def total(self) -> float:
        return round(sum(line.hourly * line.count for line in self.lines if line.hourly is not None), 4)

    @property
    def unpriced(self) -> List[str]:
        return sorted({line.instance_type for line in self.lines if line.hourly is None})

    def describe(self) -> List[str]:
        """Human-readable lines, e.g. ``CORE 2 x m5.xlarge ON_DEMAND 0.240/h -> 0.480/h``."""
        out = []
        for line in self.lines:
            price = "no price in emr/prices.json" if line.hourly is None else (
                f"{line.hourly:.3f}/h -> {line.hourly * line.count:.3f}/h"
            )
            bound = " (Spot: at most this)" if line.market == "SPOT" else ""
            out.append(f"  {line.role:<6} {line.count} x {line.instance_type} {line.market} {price}{bound}")
        total = f"estimated cost: {self.total:.2f} {self.currency}/hour (on-demand EC2 + EMR prices"
        if any(line.market == "SPOT" for line in self.lines):
            total += "; Spot nodes counted at on-demand price, an upper bound"
        total += ")"
        if self.unpriced:
            total += f"; not counted: {', '.join(self.unpriced)}"
        return out + [total]


def estimate_hourly_cost(settings: EmrSettings) -> CostEstimate:
    """Hourly cost of the instance plan from the on-demand prices in ``emr/prices.json``.

    Fleets are priced at their most expensive listed type (EMR may pick any of them).
    """
    prices, plan = settings.prices, settings.instances
    lines: List[CostLine] = []
    if plan.mode == "groups":
        for group in plan.groups:
            if group.count:
                lines.append(CostLine(group.role, group.instance_type, group.count, group.market,
                                      prices.hourly(group.instance_type)))
    else:
        for fleet in plan.fleets:
            known = [(prices.hourly(t), t) for t in fleet.instance_types if prices.hourly(t) is not None]
            hourly, instance_type = max(known) if known else (None, "/".join(fleet.instance_types))
            for market, count in (("ON_DEMAND", fleet.on_demand), ("SPOT", fleet.spot)):
                if count:
                    lines.append(CostLine(fleet.role, instance_type, count, market, hourly))
    return CostEstimate(lines=lines, currency=prices.currency)


def select_plan_steps(all_steps: Sequence[Tuple[str, str]], wanted: Optional[str]) -> List[Tuple[str, str]]:
    """Steps named in ``wanted`` (comma-separated), kept in pipeline order; all when empty."""
    if not wanted:
        return list(all_steps)
    names = [s.strip() for s in wanted.split(",") if s.strip()]
    known = [name for name, _ in all_steps]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise PlanError(f"unknown step(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [(name, module) for name, module in all_steps if name in names]

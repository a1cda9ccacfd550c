"""Typed EMR settings read from ``emr/*.json``: the cluster, its instance plan, steps and prices.

Only names live there (roles, security configuration, KMS key alias, instance types); account
ids, buckets and credentials never do. The bucket comes from the lake root or ``--code-root``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Type, TypeVar

from crisislake.errors import CrisislakeError

MARKETS = ("ON_DEMAND", "SPOT")
ROLES = ("MASTER", "CORE", "TASK")
ACTIONS_ON_FAILURE = ("TERMINATE_CLUSTER", "CANCEL_AND_WAIT", "CONTINUE")


class EmrSettingsError(CrisislakeError, ValueError):
    """An ``emr/*.json`` file is missing, malformed or holds an impossible value."""


@dataclass
class ClusterSettings:
    name: str = "crisislake-pipeline"
    region: str = ""
    release_label: str = "emr-7.13.0"
    applications: List[str] = field(default_factory=lambda: ["Hadoop", "Spark"])
    service_role: str = "EMR_DefaultRole"
    job_flow_role: str = "EMR_EC2_DefaultRole"
    auto_scaling_role: str = ""
    log_uri: str = ""
    idle_timeout_s: int = 1800
    keep_alive: bool = False
    step_concurrency_level: int = 1
    ebs_root_volume_size_gb: int = 0
    ec2_subnet_id: str = ""
    ec2_key_name: str = ""
    security_configuration: str = ""
    s3_kms_key_id: str = ""
    visible_to_all_users: bool = True
    tags: Dict[str, str] = field(default_factory=dict)
    python: str = "/usr/bin/python3.11"
    spark_packages: List[str] = field(default_factory=list)
    spark_defaults: Dict[str, str] = field(default_factory=dict)
    bootstrap_scripts: List[str] = field(default_factory=list)
    remote_workdir: str = "/home/hadoop/crisislake"


@dataclass
class InstanceGroupSpec:
    role: str
    instance_type: str
    count: int
    name: str = ""
    market: str = "ON_DEMAND"
    ebs_gb: int = 0


@dataclass
class InstanceFleetSpec:
    role: str
    instance_types: List[str]
    on_demand: int = 0
    spot: int = 0
    name: str = ""
    ebs_gb: int = 0


@dataclass
class InstancePlan:
    mode: str = "groups"
    groups: List[InstanceGroupSpec] = field(default_factory=list)
    fleets: List[InstanceFleetSpec] = field(default_factory=list)


@dataclass
class StepSettings:
    deploy_mode: str = "client"
    action_on_failure_new_cluster: str = "TERMINATE_CLUSTER"
    action_on_failure_existing_cluster: str = "CANCEL_AND_WAIT"
    spark_submit_args: List[str] = field(default_factory=list)
    per_step_spark_submit_args: Dict[str, List[str]] = field(default_factory=dict)
    poll_s: int = 30
    step_timeout_s: int = 21600
    log_wait_s: int = 600
    log_tail_lines: int = 40


@dataclass
class Prices:
    currency: str = "USD"
    region: str = ""
    as_of: str = ""
    instance_types: Dict[str, Dict[str, float]] = field(default_factory=dict)

    def hourly(self, instance_type: str) -> Optional[float]:
        """EC2 + EMR on-demand price per hour, or None when the type is not listed."""
        entry = self.instance_types.get(instance_type)
        if entry is None:
            return None
        return float(entry.get("ec2", 0.0)) + float(entry.get("emr", 0.0))


@dataclass
class EmrSettings:
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    instances: InstancePlan = field(default_factory=InstancePlan)
    steps: StepSettings = field(default_factory=StepSettings)
    prices: Prices = field(default_factory=Prices)
    source_dir: str = ""


T = TypeVar("T")


def _from_mapping(cls: Type[T], data: Mapping[str, Any], where: str) -> T:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in data if k not in names and not k.startswith("_"))
    if unknown:
        raise EmrSettingsError(f"{where}: unknown field(s) {', '.join(unknown)}")
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:
        raise EmrSettingsError(f"{where}: {exc}") from exc


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EmrSettingsError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise EmrSettingsError(f"{path} is not valid JSON: {exc}") from exc


def load_emr_settings(emr_dir: str) -> EmrSettings:
    """Read ``cluster.json``, ``instances.json``, ``steps.json`` and ``prices.json`` from ``emr_dir``."""
    root = Path(emr_dir)
    cluster = _from_mapping(ClusterSettings, _read_json(root / "cluster.json"), "emr/cluster.json")
    raw_plan = dict(_read_json(root / "instances.json"))
    groups = [_from_mapping(InstanceGroupSpec, g, "emr/instances.json groups") for g in raw_plan.pop("groups", [])]
    fleets = [_from_mapping(InstanceFleetSpec, f, "emr/instances.json fleets") for f in raw_plan.pop("fleets", [])]
    plan = _from_mapping(InstancePlan, raw_plan, "emr/instances.json")
    plan.groups, plan.fleets = groups, fleets
    steps = _from_mapping(StepSettings, _read_json(root / "steps.json"), "emr/steps.json")
    prices = _from_mapping(Prices, _read_json(root / "prices.json"), "emr/prices.json")
    settings = EmrSettings(cluster=cluster, instances=plan, steps=steps, prices=prices, source_dir=str(root))
    validate_emr_settings(settings)
    return settings


def validate_emr_settings(settings: EmrSettings) -> None:
    """Raise :class:`EmrSettingsError` for a plan EMR would reject or that cannot run the pipeline."""
    cluster, plan, steps = settings.cluster, settings.instances, settings.steps
    if not cluster.release_label.startswith("emr-7."):
        raise EmrSettingsError(
            f"release_label {cluster.release_label!r}: the pipeline needs EMR 7.x (Spark 3.5, Delta 3.3)"
        )
    if "Spark" not in cluster.applications:
        raise EmrSettingsError("applications must include Spark")
    if not cluster.service_role or not cluster.job_flow_role:
        raise EmrSettingsError("service_role and job_flow_role must name IAM roles")
    if cluster.idle_timeout_s and not 60 <= cluster.idle_timeout_s <= 7 * 24 * 3600:
        raise EmrSettingsError("idle_timeout_s must be between 60 s and 7 days (EMR's limits)")
    if plan.mode not in ("groups", "fleets"):
        raise EmrSettingsError(f"instances mode must be 'groups' or 'fleets', got {plan.mode!r}")
    specs = plan.groups if plan.mode == "groups" else plan.fleets
    roles = [s.role for s in specs]
    for role in roles:
        if role not in ROLES:
            raise EmrSettingsError(f"instance role {role!r} is not one of {', '.join(ROLES)}")
    if roles.count("MASTER") != 1:
        raise EmrSettingsError("the instance plan needs exactly one MASTER entry")
    for group in plan.groups:
        if group.market not in MARKETS:
            raise EmrSettingsError(f"{group.role} market must be ON_DEMAND or SPOT, got {group.market!r}")
        if group.count < 0:
            raise EmrSettingsError(f"{group.role} count must not be negative")
    for action in (steps.action_on_failure_new_cluster, steps.action_on_failure_existing_cluster):
        if action not in ACTIONS_ON_FAILURE:
            raise EmrSettingsError(f"ActionOnFailure {action!r} is not one of {', '.join(ACTIONS_ON_FAILURE)}")
    if steps.deploy_mode not in ("client", "cluster"):
        raise EmrSettingsError("deploy_mode must be client or cluster")
    if steps.poll_s < 1:
        raise EmrSettingsError("poll_s must be at least 1")

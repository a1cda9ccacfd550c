"""``crisislake emr build`` and ``crisislake emr submit``: from a commit to a pipeline run on EMR.

``build`` writes ``dist/`` (see :mod:`crisislake.emr.build`). ``submit`` uploads it to
``s3://<bucket>/<prefix>/code/<version>/`` and either launches a transient cluster that runs the
pipeline steps and ends (``RunJobFlow``) or adds the steps to a running cluster
(``--cluster-id``, ``AddJobFlowSteps``); then it waits, printing each state change, and on a
failed step prints its stderr location and last lines. ``--dry-run`` prints the request JSON
and sends nothing.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from crisislake import registry
from crisislake.config import Config
from crisislake.context import JobContext, common_arguments, merged_overrides
from crisislake.emr.build import (
    RUN_CONFIG,
    BuildError,
    build_dist,
    dist_files,
    dist_jars,
    git_version,
    project_root,
    read_dist_version,
)
from crisislake.emr.request import (
    PlanError,
    SubmitPlan,
    build_add_steps_request,
    build_run_job_flow_request,
    emr_s3_uri,
    estimate_hourly_cost,
    select_plan_steps,
)
from crisislake.emr.settings import MARKETS, EmrSettings, EmrSettingsError, load_emr_settings

CODE_ROOT_ENV = "CRISISLAKE_EMR_CODE_ROOT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="emr_command", metavar="ACTION")
    common = common_arguments(suppress_defaults=True)

    build = sub.add_parser("build", parents=[common], help="build dist/ (package zip, jobs, bootstrap, config)")
    build.add_argument("--dist", default=None, help="output folder (default: <checkout>/dist)")

    submit = sub.add_parser("submit", parents=[common], help="upload dist/ and run the pipeline on EMR")
    submit.add_argument("--cluster-id", default=None, help="add the steps to this running cluster instead")
    submit.add_argument("--dry-run", action="store_true", help="print the request JSON and send nothing")
    submit.add_argument("--steps", default=None, help="comma-separated subset of the pipeline steps")
    submit.add_argument(
        "--wait", action=argparse.BooleanOptionalAction, default=True,
        help="wait for the steps, printing state changes (default: --wait)",
    )
    submit.add_argument("--dist", default=None, help="the built artefacts (default: <checkout>/dist)")
    submit.add_argument("--emr-dir", default=None, help="cluster/instance/step JSON (default: <checkout>/emr)")
    submit.add_argument(
        "--code-root", default=None,
        help=f"s3://BUCKET/PREFIX for code/ and emr-logs/ (default: ${CODE_ROOT_ENV}, else the lake root)",
    )
    submit.add_argument("--release-label", default=None, help="override emr/cluster.json release_label")
    submit.add_argument("--task-nodes", type=int, default=None, help="number of task nodes (0 = none)")
    submit.add_argument("--task-market", choices=MARKETS, default=None, help="task nodes on SPOT or ON_DEMAND")
    submit.add_argument("--keep-alive", action="store_true", help="keep the new cluster up after its steps")
    submit.add_argument("--region", default=None, help="AWS region (default: emr/cluster.json, then AWS_DEFAULT_REGION)")
    submit.add_argument("--endpoint-url", default=None, help="send AWS calls here (a local stand-in, e.g. moto)")
    submit.add_argument("--poll-seconds", type=int, default=None, help="waiter delay (default: emr/steps.json)")


def run(ctx: JobContext) -> int:
    """Dispatch ``emr build`` / ``emr submit``; EMR commands start no local Spark session."""
    args, config = ctx.args, ctx.config
    if args.emr_command == "build":
        return build_command(args)
    if args.emr_command == "submit":
        return submit_command(args, config)
    print("usage: crisislake emr {build,submit} ... (see crisislake emr --help)", file=sys.stderr)
    return 2


def build_command(args: argparse.Namespace) -> int:
    try:
        result = build_dist(dist_dir=Path(args.dist) if args.dist else None)
    except BuildError as exc:
        print(f"crisislake emr build: {exc}", file=sys.stderr)
        return 2
    print(f"built {result.dist_dir} version {result.version}: {len(result.files)} files")
    for rel in sorted(result.files):
        print(f"  {rel}")
    return 0


def apply_cli_overrides(settings: EmrSettings, args: argparse.Namespace) -> EmrSettings:
    """Fold ``--release-label``, ``--task-nodes``, ``--task-market`` and ``--poll-seconds`` in."""
    if args.release_label:
        settings.cluster.release_label = args.release_label
    if args.poll_seconds is not None:
        settings.steps.poll_s = max(1, args.poll_seconds)
    for group in settings.instances.groups:
        if group.role == "TASK":
            if args.task_nodes is not None:
                group.count = args.task_nodes
            if args.task_market:
                group.market = args.task_market
    for fleet in settings.instances.fleets:
        if fleet.role == "TASK" and (args.task_nodes is not None or args.task_market):
            total = args.task_nodes if args.task_nodes is not None else fleet.on_demand + fleet.spot
            spot = (args.task_market or ("SPOT" if fleet.spot else "ON_DEMAND")) == "SPOT"
            fleet.spot, fleet.on_demand = (total, 0) if spot else (0, total)
    return settings


def make_plan(args: argparse.Namespace, config: Config, settings: EmrSettings, version: str,
              jars: Sequence[str] = ()) -> SubmitPlan:
    """The :class:`SubmitPlan` for these flags and this config (raises :class:`PlanError`);
    ``jars`` are the built ones, relative to the dist folder (:func:`dist_jars`)."""
    lake_root = emr_s3_uri(config.lake_root)
    code_root = emr_s3_uri(args.code_root or os.environ.get(CODE_ROOT_ENV) or lake_root)
    return SubmitPlan(
        settings=settings,
        version=version,
        run_id=args.run_id,
        lake_root=lake_root,
        code_root=code_root,
        steps=select_plan_steps([(job.name, job.module) for job in registry.emr_steps()], args.steps),
        # Steps always run with the shipped conf/aws.json, whatever env the submitter used.
        env="aws",
        run_config=RUN_CONFIG,
        overrides=merged_overrides(args),
        cluster_id=args.cluster_id,
        jars=list(jars),
    )


def prepare_submission(args: argparse.Namespace, config: Config, root: Path, dist_dir: Path):
    """(settings, version, plan, request JSON) for these flags; raises the settings/plan/build errors."""
    settings = apply_cli_overrides(load_emr_settings(args.emr_dir or str(root / "emr")), args)
    if args.dry_run and not (dist_dir / "VERSION").is_file():
        version = git_version(root) or "unbuilt"
    else:
        version = read_dist_version(dist_dir)
    plan = make_plan(args, config, settings, version, dist_jars(dist_dir))
    if plan.cluster_id:
        request: Dict[str, Any] = build_add_steps_request(plan)
    else:
        request = build_run_job_flow_request(plan, keep_alive=True if args.keep_alive else None)
    return settings, version, plan, request


def submit_command(args: argparse.Namespace, config: Config) -> int:
    from crisislake.emr.submit import (
        AwsClients,
        SubmitError,
        WaitSettings,
        add_steps,
        check_bucket,
        check_roles,
        launch_cluster,
        upload_dist,
        wait_for_steps,
    )

    root = project_root()
    dist_dir = Path(args.dist) if args.dist else root / "dist"

    def fail(message: str, code: int) -> int:
        print(f"crisislake emr submit: {message}", file=sys.stderr)
        return code

    try:
        settings, version, plan, request = prepare_submission(args, config, root, dist_dir)
    except (EmrSettingsError, PlanError, BuildError) as exc:
        return fail(str(exc), 2)

    # In a dry run stdout carries only the request JSON, so it can be piped to jq.
    def say(line: str) -> None:
        print(line, file=sys.stderr if args.dry_run else sys.stdout, flush=True)

    say(f"code {version} -> {plan.code_uri}/ ; lake {plan.lake_root} ; run {plan.run_id}")
    if not plan.cluster_id:
        for line in estimate_hourly_cost(settings).describe():
            say(line)
    if args.dry_run:
        operation = "AddJobFlowSteps" if plan.cluster_id else "RunJobFlow"
        say(f"dry run: would upload {dist_dir}/ to {plan.code_uri}/ and send this {operation} request")
        print(json.dumps(request, indent=2))
        return 0

    if not getattr(args, "verbose", False):
        logging.getLogger("botocore").setLevel(logging.WARNING)
    aws = AwsClients(region=args.region or settings.cluster.region or None, endpoint_url=args.endpoint_url)
    wait = WaitSettings(
        poll_s=settings.steps.poll_s, step_timeout_s=settings.steps.step_timeout_s,
        log_wait_s=settings.steps.log_wait_s, log_tail_lines=settings.steps.log_tail_lines,
    )
    try:
        check_bucket(aws, plan.code_root)
        log_uri = plan.log_uri
        if plan.cluster_id:
            log_uri = existing_cluster_log_uri(aws, plan.cluster_id) or log_uri
        else:
            if log_uri.startswith("s3://"):
                check_bucket(aws, log_uri)
            check_roles(aws, settings.cluster.service_role, settings.cluster.job_flow_role, warn=say)
        upload_dist(aws, dist_dir, plan.code_uri, dist_files(dist_dir), settings.cluster.s3_kms_key_id, say=say)
        names: List[str] = [step["Name"] for step in request["Steps"]]
        if plan.cluster_id:
            cluster_id, step_ids = plan.cluster_id, add_steps(aws, request)
            say(f"added {len(step_ids)} steps to cluster {cluster_id}")
        else:
            cluster_id, step_ids = launch_cluster(aws, request)
            say(f"launched cluster {cluster_id} ({settings.cluster.release_label}) with {len(step_ids)} steps")
        for name, step_id in zip(names, step_ids):
            say(f"  {step_id}  {name}")
        say(f"logs: {log_uri.rstrip('/')}/{cluster_id}/")
        if not args.wait:
            return 0
        return wait_for_steps(aws, cluster_id, list(zip(names, step_ids)), log_uri, wait,
                              new_cluster=not plan.cluster_id, say=say)
    except (SubmitError, PlanError) as exc:
        return fail(str(exc), 1)


def existing_cluster_log_uri(aws: Any, cluster_id: str) -> Optional[str]:
    """The LogUri of a running cluster; raises SubmitError when it is not there or not usable."""
    from crisislake.emr.submit import SubmitError, aws_errors

    with aws_errors(f"describing cluster {cluster_id}"):
        cluster = aws.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    state = (cluster.get("Status") or {}).get("State", "")
    if state.startswith("TERMINAT"):
        raise SubmitError(f"cluster {cluster_id} is {state}; submit without --cluster-id to launch a new one")
    log_uri = cluster.get("LogUri") or ""
    return log_uri.replace("s3n://", "s3://") or None

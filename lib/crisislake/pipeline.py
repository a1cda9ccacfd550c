"""The whole pipeline, in order, in one Spark session (``crisislake pipeline`` / ``make run``).

The steps are the registry's pipeline jobs (:func:`crisislake.registry.pipeline_jobs`), each run
with its own default options; EMR runs the same jobs in the same order as separate
spark-submit steps.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

from crisislake import fs, registry
from crisislake.cli import build_parser, run_step
from crisislake.config import Config
from crisislake.context import JobContext
from crisislake.errors import CrisislakeError
from crisislake.registry import Job


class SampleError(CrisislakeError, ValueError):
    """``--sample`` names no sample folder, or the lake is not local."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sample", default=None, metavar="DIR",
        help="copy DIR/raw (e.g. data/sample) into the lake's raw zone first (local lakes only)",
    )
    parser.add_argument(
        "--steps", default=None,
        help=f"comma-separated subset of: {', '.join(job.name for job in registry.pipeline_jobs())}",
    )


def stage_sample(sample_dir: str, lake_root: str) -> int:
    """Copy ``<sample_dir>/raw`` into ``<lake_root>/raw``; files already there are left alone."""
    src = Path(sample_dir) / "raw"
    if not src.is_dir():
        raise SampleError(f"sample folder {src} does not exist")
    if fs.is_s3(lake_root):
        raise SampleError("--sample stages files into a local lake only")
    copied = 0
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        dest = Path(fs.local_path(lake_root)) / "raw" / path.relative_to(src)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            copied += 1
    return copied


def select_steps(steps_arg: str = "") -> List[Job]:
    wanted = [s.strip() for s in (steps_arg or "").split(",") if s.strip()]
    return registry.pipeline_jobs(wanted)


def step_args(job: Job, run_id: str, base: argparse.Namespace) -> argparse.Namespace:
    """The arguments a step runs with: its own defaults plus the pipeline's common options."""
    args = build_parser(job.name).parse_args([job.name])
    for key in ("env", "config_file", "lake_root", "overrides", "verbose", "json"):
        setattr(args, key, getattr(base, key, None))
    args.run_id = run_id
    return args


def run_as_step(spark, config: Config, name: str, run_id: str, argv: Sequence[str] = ()) -> Any:
    """Run job ``name`` as a pipeline step in an existing session (``spark`` may be None for a
    job without Spark) and return its result; ``argv`` are extra options for the job."""
    job = registry.get(name)
    args = build_parser(job.name).parse_args([job.name, *argv])
    args.run_id = run_id
    ctx = JobContext(job.name, args, config, run_id, in_pipeline=True)
    if spark is not None:
        ctx.use_spark(spark)
    return job.load().run(ctx)


def run_steps(ctx: JobContext, jobs: List[Job]) -> List[Dict[str, Union[int, str]]]:
    """Run ``jobs`` in order, the Spark ones in the pipeline's session; stop at the first failure."""
    statuses: List[Dict[str, Union[int, str]]] = []
    for job in jobs:
        step = JobContext(job.name, step_args(job, ctx.run_id, ctx.args), ctx.config, ctx.run_id,
                          jars=ctx.jars, in_pipeline=True)
        if job.spark:
            step.use_spark(ctx.spark)
            ctx.spark.sparkContext.setJobGroup(job.name, job.name)
        code = run_step(step, job)
        statuses.append({"step": job.name, "exit": code})
        if code != 0:
            break
    return statuses


def run(ctx: JobContext) -> int:
    jobs = select_steps(ctx.args.steps)
    if ctx.args.sample:
        copied = stage_sample(ctx.args.sample, ctx.config.lake_root)
        print(f"staged {copied} new sample files into {ctx.config.zone('raw')}", file=sys.stderr)
    statuses = run_steps(ctx, jobs)
    failed = [s["step"] for s in statuses if s["exit"] != 0]
    if failed:
        print(f"run {ctx.run_id} stopped at step {failed[0]}", file=sys.stderr)
        return 1
    print(f"run {ctx.run_id} finished: {len(statuses)} steps; lake {ctx.config.lake_root}; "
          f"run record {ctx.config.zone('_runs')}/{ctx.run_id}.json")
    return 0

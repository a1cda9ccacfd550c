"""What a running job is given: its arguments, the config, the run id and a Spark session on demand.

The session starts the first time a job asks for :attr:`JobContext.spark`, so a job can check
its inputs first and fail (or find nothing to do) without paying for a JVM, and jobs that never
need Spark (``load``, ``scrape-hdx``) never start one. In ``crisislake pipeline`` every step gets
the same session.
"""
from __future__ import annotations

import argparse
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Iterator, Optional, Sequence

from crisislake import fs
from crisislake.config import Config
from crisislake.errors import CrisislakeError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger("crisislake")


class MissingInputError(CrisislakeError, FileNotFoundError):
    """A table a job reads does not exist yet."""


@dataclass
class JobContext:
    """One job's run. ``in_pipeline`` is True when ``crisislake pipeline`` runs it as a step."""

    name: str
    args: argparse.Namespace
    config: Config
    run_id: str
    jars: Sequence[str] = ()
    in_pipeline: bool = False
    _spark: Optional[SparkSession] = field(default=None, repr=False)

    @property
    def spark(self) -> SparkSession:
        """The session, started on first use (with this job's jars) and reused afterwards."""
        if self._spark is None:
            from crisislake.session import build_spark, ui_url

            self._spark = build_spark(self.config.spark, app_name=f"crisislake-{self.name}", jars=self.jars)
            url = ui_url(self._spark)
            if url:
                log.info("Spark UI: %s", url)
            self._spark.sparkContext.setJobGroup(self.name, self.name)
        return self._spark

    @property
    def has_spark(self) -> bool:
        return self._spark is not None

    def use_spark(self, spark: SparkSession) -> None:
        """Share an already running session (the pipeline's) instead of starting one."""
        self._spark = spark

    @contextmanager
    def stage(self, description: str) -> Iterator[None]:
        """Name the Spark jobs started inside the block (the Spark UI's Description column), e.g.
        ``with ctx.stage("parse lines"):`` reads ``ingest-tweets: parse lines``."""
        if self._spark is None:
            yield
            return
        sc = self._spark.sparkContext
        sc.setJobDescription(f"{self.name}: {description}")
        try:
            yield
        finally:
            sc.setJobDescription(None)

    def stop(self) -> None:
        if self._spark is not None:
            self._spark.stop()
            self._spark = None


def common_arguments(suppress_defaults: bool = False) -> argparse.ArgumentParser:
    """The options every job takes (a parent parser).

    The CLI adds them before the subcommand with their defaults and after it with
    ``suppress_defaults`` (an option given after the subcommand wins; one given only before it
    is not reset); commands with their own sub-actions (``emr submit``) add them once more.
    """
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--env", default=None, help="config environment: local (default) or aws")
    group.add_argument("--config", dest="config_file", default=None, help="explicit config JSON file")
    group.add_argument("--lake-root", default=None, help="lake root: a local path or s3://BUCKET/PREFIX")
    group.add_argument(
        # After the subcommand the values go to their own list: argparse would otherwise replace
        # the ones given before it instead of adding to them (see merged_overrides).
        "--set", dest="overrides_after" if suppress_defaults else "overrides", action="append",
        default=[], metavar="SECTION.FIELD=VALUE",
        help="override one config value (repeatable), e.g. --set spark.shuffle_partitions=4",
    )
    group.add_argument("--run-id", default=None, help="run id (default: a new one)")
    group.add_argument("--json", action="store_true", help="print each step's summary as one JSON object")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    if suppress_defaults:
        for action in common._actions:
            action.default = argparse.SUPPRESS
    return common


def merged_overrides(args: argparse.Namespace) -> list:
    """``--set`` values given before the subcommand, then those given after it (which win)."""
    return list(getattr(args, "overrides", None) or []) + list(getattr(args, "overrides_after", None) or [])


def require_input(ctx: JobContext, uri: str, hint: str, skipped: Optional[str] = None,
                  probe: Optional[str] = None) -> Optional[Dict[str, str]]:
    """Check, without Spark, that the input at ``uri`` exists (``probe``, when given, is what must
    exist for it to count). When it does not, a pipeline step is skipped (its summary says
    ``skipped``, returned here) and a job run on its own fails with one line ending in ``hint``;
    None when the input is there."""
    if fs.exists(probe or uri):
        return None
    if ctx.in_pipeline:
        return {"skipped": skipped or f"{uri} does not exist"}
    raise MissingInputError(f"{uri} does not exist: {hint}")


def require_table(ctx: JobContext, path: str, hint: str) -> Optional[Dict[str, str]]:
    """:func:`require_input` for the Delta table at ``path`` (it exists once it has a log)."""
    return require_input(ctx, path, hint, probe=f"{path.rstrip('/')}/_delta_log")

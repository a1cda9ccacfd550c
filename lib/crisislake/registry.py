"""The job registry: every ``crisislake`` job once, in pipeline order.

The console command's subcommands, the spark-submit entry points in ``jobs/``, the order of
``crisislake pipeline`` and the steps ``crisislake emr submit`` sends are all derived from
:data:`JOBS`. Jobs are named by module path, so this foundation module imports no area: a job's
module is imported only when that job runs.

A job module provides ``add_arguments(parser)`` and ``run(ctx: JobContext)`` (see
:mod:`crisislake.context`), which returns its summary (a dict, printed by the CLI) or, for jobs
whose output is their product (``evaluate``, ``emr``), an exit code after printing it itself.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, List, Optional, Sequence, Tuple

from crisislake.errors import CrisislakeError


class UnknownJobError(CrisislakeError, ValueError):
    """A job or step name that is not in the registry."""


@dataclass(frozen=True)
class Job:
    """One job: its name (subcommand and ``jobs/<name>.py``), where its code is and what it touches.

    ``reads``/``writes`` name lake tables (``zone/table``) or outside systems, for the docs and
    the ``--help`` text; ``pipeline`` puts it in ``crisislake pipeline`` and the EMR steps, in
    registry order; ``spark`` says whether it needs a SparkSession; ``jars`` are
    ``module:function`` references to functions returning a local jar path (or None) that the
    job's Spark session loads; ``examples`` go to the end of its ``--help``; ``own_output`` jobs
    print their product themselves (a report, a request, metrics) and get no start and summary
    lines around it. ``on_emr`` False keeps a job off the EMR steps and out of ``emr build``
    (it runs beside the warehouse, e.g. the API server, and needs packages EMR nodes lack).
    """

    name: str
    module: str
    summary: str
    reads: Tuple[str, ...] = ()
    writes: Tuple[str, ...] = ()
    pipeline: bool = False
    spark: bool = True
    jars: Tuple[str, ...] = ()
    examples: Tuple[str, ...] = ()
    own_output: bool = False
    on_emr: bool = True

    @property
    def area(self) -> str:
        """The package under ``crisislake`` holding the job's module (``serve`` for crisislake.serve.job)."""
        return self.module.split(".")[1]

    @property
    def entry_point(self) -> str:
        """The spark-submit script for this job, relative to the checkout (or ``dist/``)."""
        return f"jobs/{self.name.replace('-', '_')}.py"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


# What `crisislake emr build` compiles into dist/jars/ for every step's --jars:
# ``module:function(package_dir, jars_dir) -> Optional[Path]``. None today: the one Java class
# there was (a JVM tweet parse) was 1.09x faster end to end and was removed (decision 0001).
BUILT_JARS: Tuple[str, ...] = ()

JOBS: Tuple[Job, ...] = (
    Job(
        "scrape-hdx", "crisislake.hdx.scrape_job",
        "download HDX resources into raw/hdx with sidecars",
        reads=("HDX CKAN API",), writes=("raw/hdx",), spark=False,
        examples=("crisislake scrape-hdx --dataset political-violence-events-and-fatalities",
                  "crisislake scrape-hdx --query acled --format csv"),
    ),
    Job(
        "ingest-tweets", "crisislake.tweets.job",
        "ingest raw tweet dumps into curated/tweets (Delta)",
        reads=("raw/tweets",), writes=("curated/tweets", "quarantine/tweets"), pipeline=True,
        examples=("crisislake ingest-tweets", "crisislake ingest-tweets --raw s3://bucket/dumps/2026/12",
                  "crisislake ingest-tweets --stream --trigger-interval '1 minute'"),
    ),
    Job(
        "ingest-hdx", "crisislake.hdx.ingest_job",
        "ingest raw HDX/ACLED CSVs into curated conflict tables",
        reads=("raw/hdx",),
        writes=("curated/conflict_events", "curated/conflict_monthly", "curated/admin_pcodes",
                "quarantine/conflict_events", "quarantine/conflict_monthly", "quarantine/admin_pcodes",
                "quarantine/hdx_files"),
        pipeline=True,
        examples=("crisislake ingest-hdx", "crisislake ingest-hdx --raw /data/hdx --encoding-scan-mb 8"),
    ),
    Job(
        "ingest-reported-incidents", "crisislake.dedup.incidents.reported_job",
        "ingest a reported-incident list (2020PB JSON) into curated/reported_incidents",
        reads=("raw/reported_incidents",), writes=("curated/reported_incidents", "quarantine/reported_incidents"),
        pipeline=True,
        examples=("crisislake ingest-reported-incidents",
                  "crisislake ingest-reported-incidents --input all-locations-v2.json"),
    ),
    Job(
        "train", "crisislake.nlp.train_job",
        "train a tweet classifier and save it under models/",
        reads=("data/training", "models.extra_training_dir", "enriched/review_decisions", "curated/tweets"),
        writes=("models/<task>/<version>",),
        examples=("crisislake train --task all", "crisislake train --task relevance --cv"),
    ),
    Job(
        "evaluate", "crisislake.nlp.evaluate_job",
        "evaluate a classifier on a labelled file",
        reads=("models/<task>", "a labelled CSV/Parquet file"), writes=(),
        own_output=True,
        examples=("crisislake evaluate --task relevance --input labelled.csv --text-col text --label-col target",),
    ),
    Job(
        "classify", "crisislake.nlp.classify_job",
        "label curated tweets into enriched/tweet_labels",
        reads=("curated/tweets", "models/<task>"), writes=("enriched/tweet_labels", "enriched/review_queue"),
        pipeline=True,
        examples=("crisislake classify", "crisislake classify --tasks relevance,police_force"),
    ),
    Job(
        "dedup", "crisislake.dedup.job",
        "near-duplicate clustering of tweets",
        reads=("curated/tweets",), writes=("enriched/tweet_clusters",), pipeline=True,
        examples=("crisislake dedup", "crisislake dedup --input tweets.csv.gz --output clusters.csv"),
    ),
    Job(
        "incidents", "crisislake.dedup.incidents.job",
        "group tweets into real-world incidents, placed and with their evidence",
        reads=("curated/tweets", "enriched/tweet_clusters", "enriched/tweet_labels", "curated/admin_pcodes"),
        writes=("enriched/incidents", "enriched/incident_tweets", "enriched/tweet_incidents"), pipeline=True,
        examples=("crisislake incidents", "crisislake incidents --input tweets.csv --output incidents.csv"),
    ),
    Job(
        "corroborate", "crisislake.dedup.incidents.corroborate_job",
        "match incidents to ACLED events and reported-incident records",
        reads=("enriched/incidents", "curated/conflict_events", "curated/reported_incidents"),
        writes=("enriched/incidents", "enriched/incident_corroboration"), pipeline=True,
        examples=("crisislake corroborate", "crisislake corroborate --window-days 2"),
    ),
    Job(
        "build-marts", "crisislake.marts.job",
        "build the analyst marts (Parquet)",
        reads=("curated/conflict_events", "curated/tweets", "enriched/tweet_labels"),
        writes=("marts/conflict_weekly", "marts/conflict_monthly_country", "marts/disaster_tweets_daily"),
        pipeline=True,
        examples=("crisislake build-marts", "crisislake build-marts --only conflict_weekly"),
    ),
    Job(
        "export", "crisislake.warehouse.export_job",
        "export warehouse tables as Parquet + COPY manifests",
        reads=("curated/*", "enriched/*"), writes=("exports/<table>/<run_id>",), pipeline=True,
        examples=("crisislake export", "crisislake export --tables fact_tweet,fact_incident"),
    ),
    Job(
        "load", "crisislake.warehouse.load_job",
        "load an export into Redshift or PostgreSQL, exactly once",
        reads=("exports/<table>/<run_id>",), writes=("warehouse",), pipeline=True, spark=False,
        examples=("crisislake load", "crisislake load --dry-run"),
    ),
    Job(
        "sync-reviews", "crisislake.serve.sync_job",
        "copy new reviewer decisions from the warehouse into enriched/review_decisions",
        reads=("warehouse review_decisions",), writes=("enriched/review_decisions",), pipeline=True, on_emr=False,
        examples=("crisislake sync-reviews", "crisislake sync-reviews --full"),
    ),
    Job(
        "serve", "crisislake.serve.job",
        "the HTTP API: incidents, marts, review queue and reviewer decisions",
        reads=("warehouse", "marts/*"), writes=("warehouse review_decisions",), spark=False, own_output=True,
        on_emr=False,
        examples=("crisislake serve --setup", "crisislake serve setup",
                  "crisislake serve token --reviewer alice"),
    ),
    Job(
        "report", "crisislake.report.job",
        "write one self-contained offline HTML report",
        reads=("warehouse", "marts/*"), writes=("an HTML file",), spark=False, own_output=True, on_emr=False,
        examples=("crisislake report --output report.html",),
    ),
    Job(
        "redshift-backup", "crisislake.warehouse.backup_job",
        "Redshift snapshots: take, schedule, restore",
        reads=("Redshift",), writes=("Redshift snapshots",), spark=False,
        own_output=True,
        examples=("crisislake redshift-backup snapshot --snapshot-id nightly-20261204",
                  "crisislake redshift-backup list"),
    ),
    Job(
        "emr", "crisislake.emr.cli",
        "build artefacts and submit the pipeline to EMR",
        reads=("dist/", "emr/*.json"), writes=("S3 code prefix", "EMR cluster"), spark=False,
        own_output=True,
        examples=("crisislake emr build", "crisislake emr submit --env aws --dry-run",
                  "crisislake emr submit --env aws --lake-root s3://bucket/lake"),
    ),
    Job(
        "pipeline", "crisislake.pipeline",
        "run the whole pipeline locally in one Spark session",
        reads=("raw/*",), writes=("curated/*", "enriched/*", "marts/*", "exports/*", "warehouse"),
        own_output=True,
        examples=("crisislake pipeline --sample data/sample", "crisislake pipeline --steps dedup,incidents"),
    ),
)


def names() -> List[str]:
    return [job.name for job in JOBS]


def get(name: str) -> Job:
    for job in JOBS:
        if job.name == name:
            return job
    raise UnknownJobError(f"unknown job {name!r}; known: {', '.join(names())}")


def pipeline_jobs(selected: Optional[Sequence[str]] = None) -> List[Job]:
    """The pipeline's jobs in order; ``selected`` keeps only those names (order stays the registry's)."""
    steps = [job for job in JOBS if job.pipeline]
    if not selected:
        return steps
    known = {job.name for job in steps}
    unknown = [name for name in selected if name not in known]
    if unknown:
        raise UnknownJobError(f"unknown steps {', '.join(unknown)}; pipeline steps: {', '.join(sorted(known))}")
    return [job for job in steps if job.name in selected]


def emr_steps() -> List[Job]:
    """The pipeline jobs that run as EMR steps, in order."""
    return [job for job in pipeline_jobs() if job.on_emr]


def off_emr_areas() -> List[str]:
    """Areas (``crisislake.<area>``) that hold only jobs kept off EMR: ``emr build`` leaves them out."""
    on = {job.area for job in JOBS if job.on_emr}
    return sorted({job.area for job in JOBS if not job.on_emr} - on)


def resolve(reference: str) -> Callable:
    """``"package.module:function"`` -> the function (the module is imported now)."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def local_jars(jobs: Sequence[Job]) -> List[str]:
    """The local jars these jobs' session loads: each distinct reference called once, Nones dropped."""
    out: List[str] = []
    for reference in dict.fromkeys(ref for job in jobs for ref in job.jars):
        jar = resolve(reference)()
        if jar is not None and str(jar) not in out:
            out.append(str(jar))
    return out


ENTRY_POINT_TEMPLATE = '''"""spark-submit entry point: same as `crisislake {name}`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["{name}", *sys.argv[1:]]))
'''


def entry_point_source(job: Job) -> str:
    return ENTRY_POINT_TEMPLATE.format(name=job.name)


def write_entry_points(jobs_dir: Path) -> List[Path]:
    """(Re)write ``jobs/<name>.py`` for every job and remove entry points of jobs that are gone."""
    jobs_dir.mkdir(parents=True, exist_ok=True)
    wanted = {Path(job.entry_point).name: entry_point_source(job) for job in JOBS}
    for stale in jobs_dir.glob("*.py"):
        if stale.name not in wanted:
            stale.unlink()
    written = []
    for filename, source in sorted(wanted.items()):
        path = jobs_dir / filename
        if not path.is_file() or path.read_text(encoding="utf-8") != source:
            path.write_text(source, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "jobs")
    for written_path in write_entry_points(target):
        print(written_path)

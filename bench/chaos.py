#!/usr/bin/env python3
"""`make chaos`: kill jobs at random points, rerun them, and count the rows lost or doubled.

For each job: the lake as it is before the job (built once from ``data/sample`` by running the
jobs before it) and the reference, the lake after one clean run (per table: the multiset of row
hashes over the business columns, see ``scripts/lake_digest.py``). Then, per kill point: restore
the lake as it was before the job, run ``python -m crisislake.cli <job>`` in its own process
group, SIGKILL the whole group after a delay drawn (seeded) within the job's clean run time,
rerun the job to completion and compare every table with the reference. ``load`` is compared on
the PostgreSQL schema as well (its own schema on the shared server).

``CHAOS_CHAIN=k`` sends k kills in a row before each verified rerun, each killed run starting from
what the previous one left (a crash during the recovery from a crash): 20 kill points then cost
about 20 half runs and 20/k full ones instead of 20 of each.

Environment: ``CHAOS_POINTS`` (kill points per job, default 20), ``CHAOS_JOBS`` (comma-separated,
default all of :data:`JOBS`), ``CHAOS_CHAIN``, ``CHAOS_SEED`` (default 24), ``CHAOS_WORK`` (scratch
folder); other faults, each off by default: ``CHAOS_CONCURRENT=n`` (two runs at once, n times),
``CHAOS_S3=n`` (S3 faults through the proxy), ``CHAOS_PG_RESTART=n`` (PostgreSQL restarts during
``load``), ``CHAOS_FUZZ=n`` (the generated-input tests with n times their examples).
Each finished job's row is merged into ``bench/results/reliability.json`` and the whole table is
rewritten to ``bench/results/reliability.md``, so jobs can be swept one at a time.
"""
from __future__ import annotations

import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "scripts"))

import lake_digest  # noqa: E402

RESULTS_JSON = ROOT / "bench" / "results" / "reliability.json"
RESULTS_MD = ROOT / "bench" / "results" / "reliability.md"
PG_SCHEMA = "chaos_load"
# A fixed key so the pseudonymised handles of two runs compare equal (never a real key).
PSEUDONYM_KEY = "00" * 32


@dataclass(frozen=True)
class ChaosJob:
    """A job under test: its CLI name and options, and the lake state it starts from."""

    name: str
    command: Tuple[str, ...]
    after: str  # the snapshot it starts from: the name of the step run before it


# The chain that builds the lake from data/sample, in order: (snapshot name, CLI command).
CHAIN: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("ingest-tweets", ("ingest-tweets",)),
    ("ingest-hdx", ("ingest-hdx",)),
    ("ingest-reported-incidents", ("ingest-reported-incidents",)),
    ("dedup", ("dedup",)),
    ("incidents", ("incidents",)),
    ("export", ("export",)),
    ("load", ("load", "--set", f"warehouse.schema={PG_SCHEMA}")),
)
JOBS: Tuple[ChaosJob, ...] = (
    ChaosJob("ingest-tweets", ("ingest-tweets",), "raw"),
    ChaosJob("ingest-tweets --stream", ("ingest-tweets", "--stream", "--max-files-per-trigger", "2"), "raw"),
    ChaosJob("ingest-hdx", ("ingest-hdx",), "ingest-tweets"),
    ChaosJob("dedup", ("dedup",), "ingest-reported-incidents"),
    ChaosJob("incidents", ("incidents",), "dedup"),
    ChaosJob("export", ("export",), "incidents"),
    ChaosJob("load", CHAIN[-1][1], "export"),
)
SPARK_SETTINGS = ("spark.master=local[2]", "spark.shuffle_partitions=2", "spark.driver_memory=2g",
                  "spark.conf.spark.ui.enabled=false", "spark.conf.spark.ui.showConsoleProgress=false")


@dataclass
class Outcome:
    """One finished subprocess run."""

    code: int
    seconds: float
    killed: bool
    last_error: str = ""
    traceback: bool = False


@dataclass
class Point:
    """One kill point: when the kill came, what the killed run left, what the rerun gave."""

    delay_s: float  # the first kill's delay
    killed: int  # runs the SIGKILL hit before they ended
    left_state: bool
    rerun_code: int
    rerun_s: float
    lost: int
    doubled: int
    orphans: int
    reconciled: Optional[bool]
    error: str = ""
    tables: Dict[str, Dict[str, int]] = field(default_factory=dict)
    unclear: int = 0  # runs that failed with a traceback instead of one line
    kills: int = 1  # runs killed before this rerun (a chain: each on the state the previous one left)
    delays: List[float] = field(default_factory=list)  # every kill's delay, in order

    @property
    def passed(self) -> bool:
        return self.rerun_code == 0 and self.lost == 0 and self.doubled == 0 and self.reconciled is not False


def pg_url() -> str:
    import devservices

    return devservices.ensure_postgres()


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(ROOT / "lib"), "PYSPARK_PYTHON": sys.executable,
        "WAREHOUSE_PSEUDONYM_KEY": PSEUDONYM_KEY, "CRISISLAKE_WAREHOUSE__POSTGRES_URL": pg_url(),
    })
    return env


def cli_argv(lake: Union[Path, str], command: Sequence[str], run_id: str) -> List[str]:
    sets = [arg for s in SPARK_SETTINGS for arg in ("--set", s)]
    return ["nice", "-n", "10", sys.executable, "-m", "crisislake.cli", *command,
            "--lake-root", str(lake), "--run-id", run_id, *sets]


def _wait_group_gone(pgid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise RuntimeError(f"process group {pgid} still alive {timeout} s after SIGKILL")


def run_cli(lake: Union[Path, str], command: Sequence[str], kill_after: Optional[float] = None,
            log: Optional[Path] = None, env: Optional[Dict[str, str]] = None) -> Outcome:
    """Run one CLI command in its own process group; SIGKILL the group after ``kill_after`` s."""
    from crisislake.runs import new_run_id

    time.sleep(1.0)  # run ids sort by their second: a rerun's id must sort after the killed one's
    argv = cli_argv(lake, command, new_run_id())
    out = open(log, "ab") if log else subprocess.DEVNULL
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env={**child_env(), **(env or {})}, stdout=out, stderr=subprocess.PIPE,
                            start_new_session=True)
    killed = False
    try:
        _, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        _wait_group_gone(proc.pid)
        killed = True
    finally:
        if log:
            out.close()
    if log:
        with open(log, "ab") as out:
            out.write(err)
    lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
    last = next((ln for ln in reversed(lines) if ln.startswith("crisislake:") or "Error" in ln or "Exception" in ln), "")
    return Outcome(proc.returncode, time.monotonic() - started, killed, last[:300], "Traceback" in err.decode(errors="replace"))


def restore(snapshot: Path, lake: Path) -> None:
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(snapshot, lake, symlinks=True)


def drop_schema(url: str = "") -> None:
    import psycopg

    with psycopg.connect(url or pg_url(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')


def schema_exists() -> bool:
    """Whether the killed load got as far as the warehouse (it creates the schema first)."""
    import psycopg

    with psycopg.connect(pg_url()) as conn:
        return bool(conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                                 (PG_SCHEMA,)).fetchone())


def file_state(lake: Path) -> Dict[str, int]:
    return {str(p.relative_to(lake)): p.stat().st_size for p in lake.rglob("*") if p.is_file()}


def digest(lake: Path, with_warehouse: bool, url: str = "") -> lake_digest.Digest:
    out = lake_digest.digest_lake(str(lake))
    if with_warehouse:
        out.update(lake_digest.digest_postgres(url or pg_url(), PG_SCHEMA))
    return out


def source_key() -> str:
    """What the snapshots depend on: the package's code and the sample."""
    crc = 0
    for path in sorted([*(ROOT / "lib").rglob("*.py"), *(ROOT / "lib").rglob("*.java"),
                        *(ROOT / "data" / "sample").rglob("*"), *(ROOT / "conf").glob("*.json")]):
        if path.is_file():
            crc = zlib.crc32(str(path.relative_to(ROOT)).encode() + path.read_bytes(), crc)
    return f"{crc:08x}"


def build_snapshots(work: Path, wanted: Sequence[ChaosJob]) -> Dict[str, dict]:
    """Run the chain once from the sample; keep the lake before/after each step and each
    step's reference digest and clean run time. Reused while the code and sample are unchanged."""
    from crisislake.pipeline import stage_sample

    wanted = JOBS  # every reference at once: later sweeps of other jobs reuse them
    meta_path = work / "snapshots.json"
    key = source_key()
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key and all(j.name in meta["jobs"] for j in wanted):
            return meta["jobs"]
    shutil.rmtree(work / "snap", ignore_errors=True)
    lake = work / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    lake.mkdir(parents=True)
    stage_sample(str(ROOT / "data" / "sample"), str(lake))
    shutil.copytree(lake, work / "snap" / "raw")
    drop_schema()
    needed = max((i for i, (name, _) in enumerate(CHAIN) if any(j.after == name for j in wanted)), default=-1)
    jobs: Dict[str, dict] = {}
    previous = "raw"
    for name, command in CHAIN[:needed + 1]:
        outcome = run_cli(lake, command, log=work / "build.log")
        shutil.copytree(lake, work / "snap" / name)
        job = next((j for j in wanted if j.name == name and j.after == previous), None)
        if outcome.code != 0:  # the next steps start from what it left; this job gets no sweep
            print(f"clean run of {name} FAILED ({outcome.code}): {outcome.last_error}", flush=True)
            jobs[name] = {"seconds": outcome.seconds, "clean_run_failed": outcome.last_error or f"exit {outcome.code}"}
        elif job:  # this clean run is the job's reference
            jobs[name] = _reference(lake, job, outcome.seconds)
        print(f"built {name} in {outcome.seconds:.1f} s", flush=True)
        previous = name
    for job in wanted:  # the other references: one clean run of the job from its starting state
        if job.name in jobs:
            continue
        restore(work / "snap" / job.after, lake)
        drop_schema()
        outcome = run_cli(lake, job.command, log=work / "build.log")
        if outcome.code != 0:
            print(f"reference run of {job.name} FAILED ({outcome.code}): {outcome.last_error}", flush=True)
            jobs[job.name] = {"seconds": outcome.seconds, "clean_run_failed": outcome.last_error or f"exit {outcome.code}"}
            continue
        jobs[job.name] = _reference(lake, job, outcome.seconds)
    meta_path.write_text(json.dumps({"key": key, "jobs": jobs}))
    return jobs


def _reference(lake: Path, job: ChaosJob, seconds: float) -> dict:
    ref = digest(lake, job.name == "load")
    print(f"reference {job.name}: {seconds:.1f} s, {sum(sum(c.values()) for c in ref.values())} rows "
          f"in {len(ref)} tables", flush=True)
    return {"seconds": seconds, "reference": {t: dict(c) for t, c in ref.items()},
            "orphans": len(lake_digest.orphan_files(str(lake)))}


def reconciled(lake: Path) -> Optional[bool]:
    """Whether every ingest step record of the newest run has read = written + duplicates + quarantined
    (None when the run has no ingest step)."""
    records = sorted((lake / "_runs").glob("*.json"))
    if not records:
        return None
    steps = json.loads(records[-1].read_text()).get("steps", {})
    # Only ingest steps promise this sum (dedup's duplicates are near-duplicates among those written).
    checks = [s["rows_read"] == s["rows_written"] + s["rows_duplicate"] + (s["rows_quarantined"] or 0)
              for name, s in steps.items() if name.startswith("ingest")
              and s.get("rows_duplicate") is not None and s.get("rows_read") is not None]
    return all(checks) if checks else None


def judged(rerun: Outcome, tables: Dict[str, Dict[str, int]]) -> dict:
    """The fields of a :class:`Point` that judge its rerun: exit, time, rows lost and doubled, and
    the tables that lost or doubled any (``tables`` from :func:`lake_digest.compare`)."""
    return dict(rerun_code=rerun.code, rerun_s=round(rerun.seconds, 1),
                lost=sum(t["lost"] for t in tables.values()), doubled=sum(t["doubled"] for t in tables.values()),
                tables={t: v for t, v in tables.items() if v["lost"] or v["doubled"]})


def after_fault(first: Outcome, rerun: Outcome, tables: Dict[str, Dict[str, int]], delay: float = 0.0,
                killed: int = 0) -> Point:
    """A run a fault (not a kill) hit, and the run after it: the first run's failure is the point's
    error, and whether it failed with a traceback counts as unclear."""
    return Point(delay_s=round(delay, 2), killed=killed, kills=0, left_state=first.code != 0, orphans=0,
                 reconciled=None, error=first.last_error if first.code else "",
                 unclear=int(first.code != 0 and first.traceback), **judged(rerun, tables))


def kill_point(work: Path, job: ChaosJob, delays: Sequence[float], reference: lake_digest.Digest) -> Point:
    """Restore the job's starting state, run it once per delay, SIGKILLing each run after its delay
    (each run starts from what the previous killed one left), then rerun it to completion and compare."""
    lake = work / "lake"
    restore(work / "snap" / job.after, lake)
    warehouse = job.name == "load"
    if warehouse:
        drop_schema()
    before = file_state(lake)
    killed = 0
    for delay in delays:
        killed += run_cli(lake, job.command, kill_after=delay, log=work / "points.log").killed
    left_state = file_state(lake) != before or (warehouse and schema_exists())
    rerun = run_cli(lake, job.command, log=work / "points.log")
    tables = lake_digest.compare(reference, digest(lake, warehouse)) if rerun.code == 0 else {}
    return Point(
        delay_s=round(delays[0], 2), killed=killed, left_state=left_state, kills=len(delays),
        delays=[round(d, 2) for d in delays], orphans=len(lake_digest.orphan_files(str(lake))),
        reconciled=reconciled(lake), error=rerun.last_error if rerun.code else "", **judged(rerun, tables),
    )


def concurrent_point(work: Path, job: ChaosJob, reference: lake_digest.Digest) -> Point:
    """Two runs of the job at once on the same starting state, then one more run to completion."""
    import threading

    lake = work / "lake"
    restore(work / "snap" / job.after, lake)
    warehouse = job.name == "load"
    if warehouse:
        drop_schema()
    outcomes: List[Outcome] = []
    threads = [threading.Thread(target=lambda: outcomes.append(run_cli(lake, job.command, log=work / "points.log")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rerun = run_cli(lake, job.command, log=work / "points.log")
    tables = lake_digest.compare(reference, digest(lake, warehouse)) if rerun.code == 0 else {}
    return Point(
        delay_s=0.0, killed=0, left_state=True, kills=0,
        orphans=len(lake_digest.orphan_files(str(lake))), reconciled=reconciled(lake),
        error="; ".join(f"run exit {o.code}: {o.last_error}" for o in outcomes if o.code) or rerun.last_error,
        unclear=sum(1 for o in outcomes if o.code and o.traceback), **judged(rerun, tables),
    )


def concurrent_sweep(work: Path, job: ChaosJob, meta: dict, points: int) -> List[Point]:
    reference = {t: lake_digest.Counter(c) for t, c in meta["reference"].items()}
    out = []
    for i in range(points):
        point = concurrent_point(work, job, reference)
        out.append(point)
        print(f"{job.name} concurrent {i + 1}/{points}: rerun {point.rerun_code}, lost {point.lost}, doubled "
              f"{point.doubled}, unclear failures {point.unclear}: {'PASS' if point.passed else 'FAIL'} {point.error}",
              flush=True)
    return out


def sweep(work: Path, job: ChaosJob, meta: dict, points: int, seed: int, chain: int = 1) -> List[Point]:
    """``points`` kills, ``chain`` in a row before each verified rerun (the last chain may be shorter)."""
    rng = random.Random(seed * 1_000_003 + zlib.crc32(job.name.encode()))
    reference = {t: lake_digest.Counter(c) for t, c in meta["reference"].items()}
    out = []
    groups = [min(chain, points - start) for start in range(0, points, chain)]
    for i, size in enumerate(groups):
        delays = [rng.uniform(0.0, meta["seconds"]) for _ in range(size)]
        point = kill_point(work, job, delays, reference)
        out.append(point)
        state = "PASS" if point.passed else "FAIL"
        print(f"{job.name} rerun {i + 1}/{len(groups)} after {size} kill(s), first at {point.delay_s:.1f} s "
              f"(killed={point.killed}, "
              f"left state={point.left_state}) -> rerun {point.rerun_code} in {point.rerun_s} s, lost {point.lost}, "
              f"doubled {point.doubled}, orphans {point.orphans}: {state} {point.error}", flush=True)
    return out


def pg_restart_sweep(work: Path, meta: dict, points: int, seed: int) -> List[Point]:
    """``load`` against a PostgreSQL server of its own that restarts in immediate mode (a crash) at
    a random moment; then one more load, which must add nothing twice and leave nothing out."""
    import threading

    import devservices

    job = next(j for j in JOBS if j.name == "load")
    reference = {t: lake_digest.Counter(c) for t, c in meta["reference"].items()}
    rng = random.Random(seed * 1_000_003 + zlib.crc32(b"pg-restart"))
    lake, out = work / "lake", []
    with devservices.private_postgres() as (url, pg_ctl):
        env = {"CRISISLAKE_WAREHOUSE__POSTGRES_URL": url}
        for i in range(points):
            restore(work / "snap" / job.after, lake)
            drop_schema(url)
            delay = rng.uniform(0.0, max(1.5, 2 * meta["seconds"]))
            timer = threading.Timer(delay, pg_ctl, args=("-m", "immediate", "restart"))
            timer.start()
            first = run_cli(lake, job.command, log=work / "pg.log", env=env)
            timer.join()
            rerun = run_cli(lake, job.command, log=work / "pg.log", env=env)
            tables = lake_digest.compare(reference, digest(lake, True, url)) if rerun.code == 0 else {}
            point = after_fault(first, rerun, tables, delay=delay, killed=int(first.code != 0))
            out.append(point)
            print(f"pg restart {i + 1}/{points} at {delay:.2f} s: first run {first.code}, rerun {rerun.code}, "
                  f"lost {point.lost}, doubled {point.doubled}: {'PASS' if point.passed else 'FAIL'} {point.error}",
                  flush=True)
    return out


# The generated-input tests, by what they feed: each example asserts that the run does not fail
# and that no record is lost or doubled (read = curated + duplicates + quarantined).
FUZZ_MODULES = (
    ("tweet lines, CSV rows, file bytes, config files, CLI arguments", "tests/test_properties.py"),
    ("raw tweet files through ingest-tweets", "tests/test_tweets_generated.py"),
    ("HDX CSV/HXL bytes, headers and files through ingest-hdx", "tests/test_hdx_generated.py"),
    ("API query parameters, paths and review bodies over HTTP", "tests/test_serve_fuzz.py"),
)


def fuzz_sweep(scale: int, seed: int) -> List[dict]:
    """The generated-input tests with ``scale`` times their examples, one row per module."""
    import re

    rows = []
    for what, module in FUZZ_MODULES:
        started = time.monotonic()
        done = subprocess.run(
            ["nice", "-n", "10", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "--hypothesis-show-statistics", f"--hypothesis-seed={seed}", module],
            cwd=ROOT, env={**child_env(), "FUZZ_SCALE": str(scale)}, capture_output=True, text=True)
        passing = sum(int(n) for n in re.findall(r"(\d+) passing", done.stdout))
        failing = sum(int(n) for n in re.findall(r"(\d+) failing", done.stdout))
        ok = done.returncode == 0
        summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
        rows.append({
            "fault": "generated bad input (hypothesis), every example checked", "job": what, "runs": passing + failing,
            "passed": passing if ok else 0, "rows_lost": 0 if ok else "see the failing test",
            "rows_doubled": 0 if ok else "see the failing test", "clean_s": round(time.monotonic() - started, 1),
            "notes": f"{module}: {summary}", "failures": [] if ok else [{"pytest": summary}],
            "command": f"CHAOS_POINTS=0 CHAOS_FUZZ={scale} CHAOS_SEED={seed} make chaos",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "load": load_average(),
        })
        print(f"fuzz {module}: {passing} passing, {failing} failing examples; {summary}", flush=True)
    return rows


S3_BUCKET = "crisislake-chaos"
S3_LAKE = f"s3a://{S3_BUCKET}/lake"
S3_FAULTS = dict(slowdown=0.04, error=0.03, reset=0.02, reset_after=0.01, delay=0.05, delay_ms=100,
                 max_per_request=0)


def _s3_client():
    import boto3
    import devservices

    return boto3.client("s3", endpoint_url=devservices.ensure_moto(), region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _s3_reset_lake() -> None:
    """An empty lake under S3_LAKE holding the sample's raw tweets (written around the proxy)."""
    s3 = _s3_client()
    try:
        s3.create_bucket(Bucket=S3_BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix="lake/"):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=S3_BUCKET, Key=obj["Key"])
    raw = ROOT / "data" / "sample" / "raw" / "tweets"
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        s3.put_object(Bucket=S3_BUCKET, Key=f"lake/raw/tweets/{path.relative_to(raw)}", Body=path.read_bytes())


def _s3_digest(work: Path) -> lake_digest.Digest:
    """Copy the S3 lake (around the proxy) to a local folder and digest it there."""
    s3, local = _s3_client(), work / "s3copy"
    shutil.rmtree(local, ignore_errors=True)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix="lake/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/"):  # a directory marker
                continue
            dest = local / obj["Key"][len("lake/"):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(s3.get_object(Bucket=S3_BUCKET, Key=obj["Key"])["Body"].read())
    return {t: c for t, c in lake_digest.digest_lake(str(local)).items() if not t.startswith("raw")}


def _s3_run(endpoint: str, work: Path) -> Outcome:
    env_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    os.environ["AWS_ENDPOINT_URL_S3"] = endpoint  # pyarrow in the job (crisislake.fs) goes through it too
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        return run_cli(S3_LAKE, ("ingest-tweets", "--set", f"spark.s3_endpoint={endpoint}"),
                       log=work / "s3.log")
    finally:
        if env_endpoint is None:
            os.environ.pop("AWS_ENDPOINT_URL_S3", None)
        else:
            os.environ["AWS_ENDPOINT_URL_S3"] = env_endpoint


def s3_sweep(work: Path, points: int, seed: int) -> Tuple[List[Point], dict, Dict[str, int]]:
    """``ingest-tweets`` on an S3 lake through the fault proxy, rerun when a run fails."""
    import devservices
    from s3_fault_proxy import FaultProxy, Rates

    moto = devservices.ensure_moto()
    _s3_reset_lake()
    clean = _s3_run(moto, work)
    if clean.code != 0:
        raise RuntimeError(f"clean ingest-tweets on S3 failed: {clean.last_error}")
    reference = _s3_digest(work)
    meta = {"seconds": clean.seconds, "reference": {t: dict(c) for t, c in reference.items()}}
    injected: Dict[str, int] = {}
    out = []
    for i in range(points):
        _s3_reset_lake()
        proxy = FaultProxy(moto, Rates(**S3_FAULTS), seed=seed + i).start()
        try:
            first = _s3_run(proxy.endpoint, work)
            rerun = first if first.code == 0 else _s3_run(proxy.endpoint, work)
        finally:
            proxy.stop()
        for key, value in proxy.counts.items():
            injected[key] = injected.get(key, 0) + value
        tables = lake_digest.compare(reference, _s3_digest(work)) if rerun.code == 0 else {}
        point = after_fault(first, rerun, tables)
        out.append(point)
        print(f"s3 point {i + 1}/{points}: first run {first.code}, rerun {rerun.code}, lost {point.lost}, "
              f"doubled {point.doubled}, faults {dict(proxy.counts)}: {'PASS' if point.passed else 'FAIL'} "
              f"{point.error}", flush=True)
    return out, meta, injected


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def row_for(job: ChaosJob, meta: dict, points: List[Point], seed: int, chain: int = 1) -> dict:
    kills = sum(p.kills for p in points)
    return {
        "fault": "SIGKILL process group, rerun" if chain == 1 else f"SIGKILL process group, {chain} kills in a row, rerun",
        "job": job.name, "runs": len(points), "kills": kills,
        "passed": sum(p.passed for p in points), "killed_mid_run": sum(p.killed for p in points),
        "left_state": sum(p.left_state for p in points),
        "rows_lost": sum(p.lost for p in points), "rows_doubled": sum(p.doubled for p in points),
        "reference_rows": sum(sum(c.values()) for c in meta["reference"].values()),
        "clean_s": round(meta["seconds"], 1),
        "rerun_s_median": round(statistics.median(p.rerun_s for p in points), 1) if points else None,
        "orphan_files_max": max((p.orphans for p in points), default=0) - meta.get("orphans", 0),
        "unclear_failures": sum(p.unclear for p in points),
        "conflicts": sum(1 for p in points if p.error and p.rerun_code == 0),
        "failures": [asdict(p) for p in points if not p.passed],
        "command": f"CHAOS_JOBS='{job.name}' CHAOS_POINTS={kills}"
                   + (f" CHAOS_CHAIN={chain}" if chain > 1 else "") + f" CHAOS_SEED={seed} make chaos",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "load": load_average(),
    }


def save_row(row: dict) -> None:
    rows = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    rows[f"{row['fault']}|{row['job']}"] = row
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    render(rows)


def render(rows: Dict[str, dict]) -> None:
    lines = [
        "# Reliability: faults injected, reruns compared with a clean run",
        "",
        f"Written by `bench/chaos.py` (and the fault tests it names); machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}. Each row gives the",
        "date and the load average (1/5/15 min) when it was measured: the machine is shared, so times are",
        "indicative. A run passes when its rerun exits 0 and every table (Delta tables by their log,",
        "the exports `load` would read, the PostgreSQL schema for `load`) holds the reference's rows,",
        "compared row by row over the business columns: *lost* rows are missing, *doubled* rows extra.",
        "*killed* counts runs the SIGKILL hit before they ended, *left state* those that had changed",
        "files in the lake (or, for `load`, created the warehouse schema) by then; *orphans* are data",
        "files no Delta commit names (never read).",
        "",
        "| fault | job | runs | passed | rows lost | rows doubled | kills | killed | left state | orphans | "
        "clean s | rerun s (median) | notes | measured | load avg | reproduce |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows.values():
        lines.append(
            f"| {row['fault']} | {row['job']} | {row['runs']} | {row['passed']} | {row['rows_lost']} | "
            f"{row['rows_doubled']} | {_kills(row)} | {row.get('killed_mid_run', '')} | {row.get('left_state', '')} | "
            f"{row.get('orphan_files_max', '')} | {row.get('clean_s', '')} | {row.get('rerun_s_median', '')} | "
            f"{_notes(row)} | {row['date']} | {row['load']} | `{row['command']}` |")
    failures = [(row["job"], f) for row in rows.values() for f in row.get("failures", [])]
    if failures:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {job}: {json.dumps(f, sort_keys=True)}" for job, f in failures]
    RESULTS_MD.write_text("\n".join(lines) + "\n")


def _kills(row: dict) -> object:
    """SIGKILLs sent: rows measured before chains were counted one kill per run."""
    if not row["fault"].startswith("SIGKILL"):
        return 0
    return row.get("kills", row["runs"])


def _notes(row: dict) -> str:
    failures = row.get("failures") or []
    if failures and "clean_run_failed" in failures[0]:
        return f"not measured: the clean run fails ({failures[0]['clean_run_failed'][:160]})"
    if row["fault"].startswith("S3 faults"):
        return (f"rates {S3_FAULTS}; injected {row.get('injected')}; the first run failed in "
                f"{row.get('conflicts', 0)} of {row['runs']} points, {row.get('unclear_failures', 0)} with a traceback")
    if row["fault"].startswith("generated"):
        return row["notes"]
    if row["fault"].startswith("PostgreSQL"):
        return (f"the load the restart hit failed in {row.get('conflicts', 0)} of {row['runs']} points, "
                f"{row.get('unclear_failures', 0)} with a traceback")
    if row["fault"].startswith("two runs"):
        return (f"one of the two runs failed in {row.get('conflicts', 0)} of {row['runs']} points, "
                f"{row.get('unclear_failures', 0)} with a traceback")
    return ""


def selected_jobs() -> List[ChaosJob]:
    wanted = [j.strip() for j in os.environ.get("CHAOS_JOBS", "").split(",") if j.strip()]
    if not wanted:
        return list(JOBS)
    by_name = {j.name: j for j in JOBS}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise SystemExit(f"chaos: unknown jobs {unknown}; known: {', '.join(by_name)}")
    return [by_name[w] for w in wanted]


def main() -> int:
    points = int(os.environ.get("CHAOS_POINTS", "20"))
    seed = int(os.environ.get("CHAOS_SEED", "24"))
    concurrent = int(os.environ.get("CHAOS_CONCURRENT", "0"))
    chain = max(1, int(os.environ.get("CHAOS_CHAIN", "1")))
    work = Path(os.environ.get("CHAOS_WORK", f"/tmp/crisislake-chaos-{os.getuid()}"))
    work.mkdir(parents=True, exist_ok=True)
    jobs = selected_jobs()
    print(f"chaos: {points} kill points per job for {', '.join(j.name for j in jobs)}; seed {seed}; "
          f"work {work}; load {load_average()}", flush=True)
    s3_points = int(os.environ.get("CHAOS_S3", "0"))
    pg_points = int(os.environ.get("CHAOS_PG_RESTART", "0"))
    fuzz_scale = int(os.environ.get("CHAOS_FUZZ", "0"))
    meta = build_snapshots(work, jobs) if points or concurrent or pg_points else {}
    failed = 0
    for job in (jobs if meta else []):
        if meta[job.name].get("clean_run_failed"):
            row = row_for(job, {"seconds": meta[job.name]["seconds"], "reference": {}}, [], seed)
            row["failures"] = [{"clean_run_failed": meta[job.name]["clean_run_failed"]}]
            save_row(row)
            failed += 1
            continue
        if points:
            results = sweep(work, job, meta[job.name], points, seed, chain)
            row = row_for(job, meta[job.name], results, seed, chain)
            save_row(row)
            failed += row["runs"] - row["passed"]
        if concurrent:
            results = concurrent_sweep(work, job, meta[job.name], concurrent)
            row = row_for(job, meta[job.name], results, seed)
            row["fault"] = "two runs at once, then a rerun"
            row["command"] = (f"CHAOS_JOBS='{job.name}' CHAOS_POINTS=0 CHAOS_CONCURRENT={concurrent} "
                              f"CHAOS_SEED={seed} make chaos")
            save_row(row)
            failed += row["runs"] - row["passed"]
    if fuzz_scale:
        for row in fuzz_sweep(fuzz_scale, seed):
            save_row(row)
            failed += 0 if row["failures"] == [] else 1
    if pg_points:
        load = next(j for j in JOBS if j.name == "load")
        results = pg_restart_sweep(work, meta["load"], pg_points, seed)
        row = row_for(load, meta["load"], results, seed)
        row["fault"] = "PostgreSQL restarted (immediate mode) during the load, then a rerun"
        row["conflicts"] = sum(p.left_state for p in results)
        row["command"] = f"CHAOS_POINTS=0 CHAOS_PG_RESTART={pg_points} CHAOS_SEED={seed} make chaos"
        save_row(row)
        failed += row["runs"] - row["passed"]
    if s3_points:
        results, s3_meta, injected = s3_sweep(work, s3_points, seed)
        row = row_for(ChaosJob("ingest-tweets (s3a lake)", (), ""), s3_meta, results, seed)
        row["fault"] = "S3 faults through the proxy (s3a and pyarrow), rerun if the run fails"
        row["conflicts"] = sum(p.left_state for p in results)
        row["injected"] = injected
        row["command"] = f"CHAOS_POINTS=0 CHAOS_S3={s3_points} CHAOS_SEED={seed} make chaos"
        save_row(row)
        failed += row["runs"] - row["passed"]
    print(f"chaos: {failed} failed runs; table in {RESULTS_MD.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

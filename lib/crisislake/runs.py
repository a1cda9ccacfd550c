"""Run ids and run records: ``_runs/<run_id>.json`` says what each step read, wrote and quarantined.

Records are small JSON files written through :mod:`crisislake.fs`, so a step without Spark
writes its record the same way as a Spark step.
"""
from __future__ import annotations

import json
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, Optional

from crisislake import fs


def new_run_id(now: Optional[datetime] = None) -> str:
    """A sortable, unique run id such as ``20261127T234500Z-1a2b3c4d``."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class StepRecord:
    """What one step of a run did.

    ``rows_read``/``rows_written``/``rows_quarantined``/``rows_duplicate`` are the step's totals
    in one shape for every step (None where a step has no such thing); for an ingest step
    ``rows_read`` = ``rows_written`` + ``rows_duplicate`` + ``rows_quarantined`` (records already
    in the table count as duplicates). ``read``/``wrote``/``quarantined`` detail them per table
    and ``counts`` holds the step's own reconciliation figures.
    """

    step: str
    run_id: str
    started_at: str = field(default_factory=utc_now_iso)
    finished_at: str = ""
    duration_s: float = 0.0
    status: str = "running"
    read: Dict[str, Any] = field(default_factory=dict)
    wrote: Dict[str, Any] = field(default_factory=dict)
    quarantined: Dict[str, int] = field(default_factory=dict)
    counts: Dict[str, Any] = field(default_factory=dict)
    rows_read: Optional[int] = None
    rows_written: Optional[int] = None
    rows_quarantined: Optional[int] = None
    rows_duplicate: Optional[int] = None
    error: str = ""


def run_record_uri(runs_zone: str, run_id: str) -> str:
    return f"{runs_zone.rstrip('/')}/{run_id}.json"


def read_run_record(runs_zone: str, run_id: str) -> Dict[str, Any]:
    """``_runs/<run_id>.json`` as a dict (``{"run_id": ..., "steps": {}}`` when there is none)."""
    uri = run_record_uri(runs_zone, run_id)
    if not fs.exists(uri):
        return {"run_id": run_id, "steps": {}}
    record = json.loads(fs.read_text(uri))
    record.setdefault("steps", {})
    return record


def write_step_record(runs_zone: str, record: StepRecord) -> str:
    """Merge ``record`` into ``_runs/<run_id>.json`` (one file per run, one entry per step)."""
    existing = read_run_record(runs_zone, record.run_id)
    existing["steps"][record.step] = asdict(record)
    uri = run_record_uri(runs_zone, record.run_id)
    fs.write_text(uri, json.dumps(existing, indent=2, sort_keys=True, default=str))
    return uri


@contextmanager
def run_step(runs_zone: str, run_id: str, step: str) -> Iterator[StepRecord]:
    """Time a step and write its record at the end, also when it fails (then re-raise)."""
    record = StepRecord(step=step, run_id=run_id)
    start = time.monotonic()
    try:
        yield record
        record.status = "succeeded"
    except BaseException as exc:
        record.status = "failed"
        record.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
        raise
    finally:
        record.duration_s = round(time.monotonic() - start, 3)
        record.finished_at = utc_now_iso()
        write_step_record(runs_zone, record)

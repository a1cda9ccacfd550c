#!/usr/bin/env python3
"""Row-level digests of a local lake (and a PostgreSQL schema), read without Spark.

A digest is, per table, the multiset of its rows' hashes over the business columns: columns that
legitimately differ between two correct runs (run ids, processing timestamps) are left out. Two
digests compare row by row: rows the reference has and the run lacks are *lost*, rows the run
has more often than the reference are *doubled* (a changed row counts as one of each).

Delta tables are read the way a Delta reader sees them: the files the log's latest snapshot
adds (checkpoint, then the JSON commits after it), never the files a killed writer left
without a commit. Exports are read the way ``crisislake load`` picks them: the newest run that
has a manifest, the files that manifest lists.

    python scripts/lake_digest.py LAKE_ROOT        # one line per table: rows and content hash
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

# Columns whose values differ between two correct runs of the same job on the same input.
VOLATILE_COLUMNS = frozenset({
    "run_id", "ingested_at", "quarantined_at", "labelled_at", "loaded_at", "load_started_at",
    "load_finished_at", "started_at", "finished_at", "created_in_run", "updated_at", "built_at",
    "exported_at", "computed_at", "decided_at_lake", "synced_at", "first_run_id", "last_run_id",
})

Digest = Dict[str, Counter]


class DigestError(RuntimeError):
    """A table cannot be read the way a reader would (an unknown Delta feature, say)."""


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(round(value, 9))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value.normalize()) if value == value else "nan"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):  # a map as pairs
            return sorted([[str(k), _canonical(v)] for k, v in value])
        return [_canonical(v) for v in value]
    return value


def row_hash(row: Dict[str, Any], exclude: Iterable[str] = VOLATILE_COLUMNS) -> str:
    """A hash of ``row``'s columns except ``exclude``, independent of column order.

    >>> row_hash({"a": 1, "run_id": "x"}) == row_hash({"run_id": "y", "a": 1})
    True
    """
    kept = {k: _canonical(v) for k, v in row.items() if k not in exclude}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _log_actions(log_dir: Path) -> Iterable[Dict[str, Any]]:
    """The actions of the table's latest snapshot, oldest first: checkpoint parquet, then commits."""
    import pyarrow.parquet as pq

    start = -1
    last_checkpoint = log_dir / "_last_checkpoint"
    if last_checkpoint.exists():
        start = int(json.loads(last_checkpoint.read_text())["version"])
        parts = sorted(log_dir.glob(f"{start:020d}.checkpoint*.parquet"))
        for part in parts:
            for action in pq.read_table(part).to_pylist():
                yield {k: v for k, v in action.items() if v is not None}
    commits = sorted(p for p in log_dir.glob("*.json") if p.stem.isdigit() and int(p.stem) > start)
    for commit in commits:
        for line in commit.read_text().splitlines():
            if line.strip():
                yield json.loads(line)


def delta_files(table_dir: Path) -> List[Tuple[str, Dict[str, str]]]:
    """The data files (relative path, partition values) of the Delta table's current snapshot."""
    from urllib.parse import unquote

    live: Dict[str, Dict[str, str]] = {}
    for action in _log_actions(table_dir / "_delta_log"):
        if "add" in action:
            add = action["add"]
            if add.get("deletionVector"):
                raise DigestError(f"{table_dir}: deletion vectors are not read here")
            values = add.get("partitionValues") or {}
            if isinstance(values, list):
                values = dict(values)
            live[unquote(add["path"])] = values
        elif "remove" in action:
            live.pop(unquote(action["remove"]["path"]), None)
    return sorted(live.items())


def _parquet_rows(path: Path, partition_values: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    if partition_values:
        for row in rows:
            row.update(partition_values)
    return rows


def delta_tables(lake_root: Path) -> List[Path]:
    """Every Delta table under the lake root (a folder holding ``_delta_log``)."""
    return sorted(p.parent for p in Path(lake_root).rglob("_delta_log") if p.is_dir() and any(p.glob("*.json")))


def digest_delta(table_dir: Path) -> Counter:
    counts: Counter = Counter()
    for rel, values in delta_files(table_dir):
        for row in _parquet_rows(table_dir / rel, values):
            counts[row_hash(row)] += 1
    return counts


def latest_export_runs(exports: Path) -> Dict[str, str]:
    """``{table: run_id}``: per exported table, the newest run with a manifest (what load reads)."""
    out: Dict[str, str] = {}
    for manifest in exports.glob("*/*/manifest.json"):
        table, run_id = manifest.parent.parent.name, manifest.parent.name
        if run_id > out.get(table, ""):
            out[table] = run_id
    return out


def digest_exports(exports: Path) -> Digest:
    """Per table, the rows of the files the newest run's manifest lists."""
    from urllib.parse import urlparse

    out: Digest = {}
    for table, run_id in sorted(latest_export_runs(exports).items()):
        manifest = json.loads((exports / table / run_id / "manifest.json").read_text())
        counts: Counter = Counter()
        for entry in manifest["entries"]:
            for row in _parquet_rows(Path(urlparse(entry["url"]).path)):
                counts[row_hash(row)] += 1
        out[f"exports/{table}"] = counts
    return out


def digest_lake(lake_root: str) -> Digest:
    """Every Delta table (by its path under the lake) and the exports ``crisislake load`` would read."""
    root = Path(lake_root)
    out: Digest = {str(t.relative_to(root)): digest_delta(t) for t in delta_tables(root)}
    if (root / "exports").is_dir():
        out.update(digest_exports(root / "exports"))
    return out


def digest_postgres(url: str, schema: str) -> Digest:
    """Every table of ``schema``; ``load_audit`` keeps one row per (export run, table) load."""
    import psycopg

    out: Digest = {}
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (schema,)).fetchall()]
        for table in sorted(tables):
            cur = conn.execute(f'SELECT * FROM "{schema}"."{table}"')  # identifiers from the catalog
            names = [d.name for d in cur.description]
            exclude = VOLATILE_COLUMNS - ({"run_id"} if table == "load_audit" else set())
            counts: Counter = Counter(row_hash(dict(zip(names, r)), exclude) for r in cur.fetchall())
            out[f"warehouse/{table}"] = counts
    return out


def compare(reference: Digest, actual: Digest) -> Dict[str, Dict[str, int]]:
    """Per table present in either: reference rows, actual rows, rows lost, rows doubled."""
    out = {}
    for table in sorted(set(reference) | set(actual)):
        ref, act = reference.get(table, Counter()), actual.get(table, Counter())
        lost = sum((ref - act).values())
        doubled = sum((act - ref).values())
        out[table] = {"reference": sum(ref.values()), "actual": sum(act.values()), "lost": lost, "doubled": doubled}
    return out


def table_hash(counts: Counter) -> str:
    """One order-independent hash of a table's rows."""
    return hashlib.sha256("\n".join(f"{h} {n}" for h, n in sorted(counts.items())).encode()).hexdigest()[:16]


def orphan_files(lake_root: str) -> List[str]:
    """Data files inside Delta table folders that no commit of the table names (left by a killed
    writer; no Delta reader sees them, VACUUM removes them)."""
    from urllib.parse import unquote

    root = Path(lake_root)
    out = []
    for table in delta_tables(root):
        live = {unquote(a[k]["path"]) for a in _log_actions(table / "_delta_log") for k in ("add", "remove") if k in a}
        for path in table.rglob("*.parquet"):
            rel = str(path.relative_to(table))
            if "_delta_log" not in path.parts and rel not in live:
                out.append(str(path.relative_to(root)))
    return sorted(out)


def main(argv: List[str]) -> int:
    digest = digest_lake(argv[0])
    for table, counts in sorted(digest.items()):
        print(f"{table:50s} {sum(counts.values()):8d} {table_hash(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

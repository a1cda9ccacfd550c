"""``GET /marts/{name}``: the analyst marts, read from the lake's Parquet with pyarrow (no Spark).

Marts are small aggregates rebuilt whole by ``build-marts``; each is read once and kept until a
newer build shows up (the newest file time under the mart changes), then filtered and paged in
memory. Rows are ordered newest period first, then by the mart's grain columns; the keyset
cursor is that sort key.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, List, Optional, Tuple

from crisislake.lake_parquet import NoParquetFiles, read_parquet_dir


class MartNotBuilt(NoParquetFiles):
    """The mart has no Parquet files under the lake root yet (``crisislake build-marts``)."""


@dataclass(frozen=True)
class MartSpec:
    name: str
    period: str  # the date column rows are ordered and filtered by
    grain: Tuple[str, ...]  # the other key columns, in sort order
    filters: Tuple[str, ...]  # string columns a request may filter on by equality


MARTS: Dict[str, MartSpec] = {
    "conflict_weekly": MartSpec("conflict_weekly", "week_start", ("country", "admin1", "event_type"),
                                ("country", "admin1", "event_type")),
    "conflict_monthly_country": MartSpec("conflict_monthly_country", "month_start", ("country",), ("country",)),
    "disaster_tweets_daily": MartSpec("disaster_tweets_daily", "date", ("disaster_type",), ("disaster_type",)),
}


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class MartReader:
    """Reads marts under ``marts_root`` and keeps each until it is rebuilt."""

    def __init__(self, marts_root: str, s3_endpoint: str = ""):
        self.root = marts_root.rstrip("/")
        self.s3_endpoint = s3_endpoint
        self._cache: Dict[str, Tuple[int, List[Dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def rows(self, spec: MartSpec) -> List[Dict[str, Any]]:
        """The mart's rows in :func:`sort_key` order."""
        try:
            table, stamp = read_parquet_dir(f"{self.root}/{spec.name}", self.s3_endpoint)
        except NoParquetFiles:
            raise MartNotBuilt(f"mart {spec.name} is not built yet: run `crisislake build-marts`") from None
        with self._lock:
            cached = self._cache.get(spec.name)
            if cached and cached[0] == stamp:
                return cached[1]
        rows = table.to_pylist()
        rows.sort(key=lambda r: sort_key(spec, r[spec.period], [r.get(g) for g in spec.grain]))
        with self._lock:
            self._cache[spec.name] = (stamp, rows)
        return rows

    def page(self, spec: MartSpec, since: Optional[date], until: Optional[date], equals: Dict[str, str],
             after: Optional[list], limit: int):
        """``(items, last key or None)``; ``after`` is the key ``[period, *grain]`` of the last item served."""
        after_key = sort_key(spec, after[0], after[1:]) if after is not None else None
        items: List[Dict[str, Any]] = []
        more = False
        for r in self.rows(spec):
            if (since is not None and r[spec.period] < since) or (until is not None and r[spec.period] >= until):
                continue
            if any(r.get(col) != value for col, value in equals.items()):
                continue
            if after_key is not None and sort_key(spec, r[spec.period], [r.get(g) for g in spec.grain]) <= after_key:
                continue
            if len(items) == limit:
                more = True
                break
            items.append(r)
        last = [items[-1][spec.period]] + [items[-1].get(g) for g in spec.grain] if more else None
        return [{k: _plain(v) for k, v in r.items()} for r in items], last


def sort_key(spec: MartSpec, period: date, grain: List[Optional[str]]):
    """Newest period first, then the grain columns ascending with NULLs first.

    >>> spec = MARTS["conflict_monthly_country"]
    >>> sorted([(date(2020, 1, 1), "b"), (date(2020, 2, 1), "a"), (date(2020, 1, 1), None)],
    ...        key=lambda r: sort_key(spec, r[0], [r[1]]))
    [(datetime.date(2020, 2, 1), 'a'), (datetime.date(2020, 1, 1), None), (datetime.date(2020, 1, 1), 'b')]
    """
    return (-period.toordinal(),) + tuple((g is not None, g or "") for g in grain)

"""Download HDX resources into ``raw/hdx`` (local or S3) with sidecars. Plain Python, no Spark.

Layout under the raw HDX root (``<lake>/raw/hdx``)::

    <dataset>/<resource_id>/<retrieved_at>/<filename>    the bytes as served
    <dataset>/<resource_id>/<retrieved_at>/_sidecar.json  written last: its presence = published
    _state/resources.json   last successful fetch per resource id (last_modified, size, sha256, ...)
    _state/failures.json    the dead-letter list: resources that failed, with error and attempts;
                            they are retried on the next run and removed once they succeed

Downloads stream in 1 MiB chunks through :func:`crisislake.fs.staged_output`: locally into a
hidden temp file renamed into place, on S3 into a staging object copied into place, both
only after the size and hash check and removed otherwise. Memory stays bounded by a few chunks
whatever the resource size.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import unquote, urlparse

from crisislake import fs
from crisislake.errors import CrisislakeError
from crisislake.hdx.ckan import CkanClient, TransientError, with_retries

log = logging.getLogger(__name__)

SIDECAR_NAME = "_sidecar.json"
STATE_FILE = "_state/resources.json"
FAILURES_FILE = "_state/failures.json"
CHUNK_BYTES = 1024 * 1024


class TruncatedDownloadError(TransientError):
    """Fewer (or other) bytes arrived than the server or the resource metadata announced."""


# --- sinks -----------------------------------------------------------------------------------

class StagedWrite:
    """A file being written; nothing is visible at its final key until :meth:`commit`
    (:func:`crisislake.fs.staged_output` underneath: a temp file renamed, or on S3 a staging
    object copied into place)."""

    def __init__(self, uri: str):
        self._context = fs.staged_output(uri)
        self._stream = self._context.__enter__()

    def write(self, chunk: bytes) -> None:
        self._stream.write(chunk)

    def commit(self) -> None:
        self._context.__exit__(None, None, None)

    def abort(self) -> None:
        error = TruncatedDownloadError("download abandoned")
        try:
            self._context.__exit__(type(error), error, None)
        except TruncatedDownloadError:
            pass


class UnsafeKeyError(CrisislakeError, ValueError):
    """A key that would write outside the sink's root (``..``, an empty segment, a backslash)."""


class Sink:
    """Where the raw HDX zone lives (a local folder or an S3 prefix): keys are ``/``-separated
    paths under its root."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")

    def uri(self, key: str) -> str:
        """The URI of ``key``; its parts come from the catalogue (dataset name, resource id), so a
        key that is not a plain relative path is refused rather than written outside the root.

        >>> Sink("/lake/raw/hdx").uri("ds/r1/20250115T083151Z/a.csv")
        '/lake/raw/hdx/ds/r1/20250115T083151Z/a.csv'
        """
        parts = key.split("/")
        if not key or "\\" in key or any(part in ("", ".", "..") for part in parts):
            raise UnsafeKeyError(f"key {key!r} would write outside {self.root}")
        return f"{self.root}/{key}"

    def stage(self, key: str) -> StagedWrite:
        return StagedWrite(self.uri(key))

    def read_text(self, key: str) -> Optional[str]:
        uri = self.uri(key)
        return fs.read_text(uri) if fs.exists(uri) else None

    def write_text(self, key: str, text: str) -> None:
        fs.write_text(self.uri(key), text)


# --- resources -------------------------------------------------------------------------------

@dataclass
class FetchResult:
    dataset: str
    resource_id: str
    status: str  # downloaded | unchanged | failed
    detail: str = ""
    uri: str = ""


@dataclass
class ScrapeReport:
    results: List[FetchResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def summary(self) -> Dict[str, int]:
        return {s: self.count(s) for s in ("downloaded", "unchanged", "failed")}


def utc_stamp(now: Optional[datetime] = None) -> str:
    """Path-safe UTC timestamp for ``<retrieved_at>``, e.g. ``20250115T083151Z``."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def safe_filename(resource: Dict[str, Any]) -> str:
    """File name from the download URL (HDX URLs end in the real name), else the resource name.

    >>> safe_filename({"url": "https://h/dataset/x/resource/y/download/a%20b.csv"})
    'a_b.csv'
    >>> safe_filename({"url": "https://h/download/", "name": "Events (2024).xlsx", "id": "r1"})
    'Events_2024_.xlsx'
    """
    base = unquote(urlparse(str(resource.get("url") or "")).path.rstrip("/").rsplit("/", 1)[-1])
    if not base or base == "download":
        base = str(resource.get("name") or resource.get("id") or "resource")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "resource"
    return cleaned if not cleaned.startswith("_") else "f" + cleaned


def _expected_digest(resource: Dict[str, Any]) -> Optional[str]:
    """CKAN's ``hash`` when it is a hex md5/sha256 (HDX often leaves it empty)."""
    value = str(resource.get("hash") or "").strip().lower()
    value = value.split(":", 1)[-1]
    return value if re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{64}", value) else None


class HdxScraper:
    """Fetch the resources of CKAN datasets into a :class:`Sink`, skipping unchanged ones."""

    def __init__(self, client: CkanClient, sink: Sink, formats: Iterable[str] = (),
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.client = client
        self.sink = sink
        self.formats = {f.strip().lower() for f in formats if f.strip()}
        self.clock = clock
        self.state: Dict[str, Dict[str, Any]] = json.loads(sink.read_text(STATE_FILE) or "{}")
        self.failures: Dict[str, Dict[str, Any]] = json.loads(sink.read_text(FAILURES_FILE) or "{}")

    # -- datasets
    def datasets(self, names: Iterable[str] = (), query: str = "", organization: str = "",
                 report: Optional[ScrapeReport] = None) -> List[Dict[str, Any]]:
        """Dataset records by name/id, plus every match of ``query``/``organization``.

        A dataset whose metadata cannot be fetched is recorded in the failures list (key
        ``dataset:<name>``) and in ``report``; the others go on.
        """
        out: Dict[str, Dict[str, Any]] = {}
        lookups: List[Tuple[str, Callable[[], List[Dict[str, Any]]]]] = [
            (name, lambda name=name: [self.client.package_show(name)]) for name in names
        ]
        if query or organization:
            lookups.append((f"search:{query}|{organization}", lambda: list(self.client.package_search(query, organization))))
        for label, lookup in lookups:
            key = f"dataset:{label}"
            try:
                found = lookup()
            except Exception as exc:  # noqa: BLE001 - recorded in the dead-letter list
                error = f"{type(exc).__name__}: {exc}"
                log.error("dataset %s failed: %s", label, error)
                self._record_failure(key, {"dataset": label, "url": self.client.base_url}, error, 1)
                if report is not None:
                    report.results.append(FetchResult(label, "", "failed", error))
                continue
            self.failures.pop(key, None)
            for pkg in found:
                out.setdefault(pkg.get("id", label), pkg)
        self._save()
        return list(out.values())

    def scrape(self, names: Iterable[str] = (), query: str = "", organization: str = "") -> ScrapeReport:
        report = ScrapeReport()
        for pkg in self.datasets(names, query, organization, report):
            for resource in pkg.get("resources", []):
                if self.formats and str(resource.get("format", "")).lower() not in self.formats:
                    continue
                report.results.append(self.fetch(pkg, resource))
        return report

    def _record_failure(self, key: str, what: Dict[str, Any], error: str, attempts: int) -> None:
        previous = self.failures.get(key, {})
        now = self.clock().isoformat(timespec="seconds")
        self.failures[key] = {
            **what, "error": error[:1000], "attempts": attempts,
            "runs_failed": int(previous.get("runs_failed", 0)) + 1,
            "first_failed_at": previous.get("first_failed_at") or now, "last_failed_at": now,
        }

    # -- one resource
    def _unchanged(self, resource: Dict[str, Any]) -> bool:
        prev = self.state.get(str(resource.get("id")))
        if not prev or resource.get("id") in self.failures:
            return False
        same_modified = bool(resource.get("last_modified")) and prev.get("last_modified") == resource.get("last_modified")
        same_size = resource.get("size") in (None, "") or prev.get("size") == resource.get("size")
        digest = _expected_digest(resource)
        same_hash = digest is None or digest in (prev.get("sha256"), prev.get("md5"))
        return same_modified and same_size and same_hash

    def fetch(self, pkg: Dict[str, Any], resource: Dict[str, Any]) -> FetchResult:
        """Download one resource unless unchanged; one failure never raises past here."""
        dataset = re.sub(r"[^A-Za-z0-9._-]+", "_", str(pkg.get("name") or pkg.get("id")))
        rid = str(resource.get("id"))
        if self._unchanged(resource):
            return FetchResult(dataset, rid, "unchanged", "last_modified/size/hash as at the last fetch")
        attempts = {"n": 0}

        def attempt() -> FetchResult:
            attempts["n"] += 1
            return self._download(dataset, pkg, resource)

        try:
            result = with_retries(attempt, self.client.max_retries, self.client.backoff_s, f"download {rid}")
        except Exception as exc:  # noqa: BLE001 - the dead-letter list records every failure
            error = f"{type(exc).__name__}: {exc}"
            log.error("resource %s of %s failed: %s", rid, dataset, error)
            self._record_failure(rid, {"dataset": dataset, "resource_id": rid, "url": resource.get("url")},
                                 error, attempts["n"])
            self._save()
            return FetchResult(dataset, rid, "failed", error)
        self.failures.pop(rid, None)
        self._save()
        return result

    def _download(self, dataset: str, pkg: Dict[str, Any], resource: Dict[str, Any]) -> FetchResult:
        rid = str(resource.get("id"))
        url = str(resource.get("download_url") or resource.get("url"))
        filename = safe_filename(resource)
        retrieved_at = utc_stamp(self.clock())
        key = f"{dataset}/{rid}/{retrieved_at}/{filename}"
        sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324 - md5 only to compare CKAN's hash
        with self.client.open(url) as resp:
            status = getattr(resp, "status", 200)
            announced = resp.headers.get("Content-Length")
            staged = self.sink.stage(key)
            try:
                while True:
                    chunk = resp.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    sha256.update(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                    staged.write(chunk)
                problem = self._verify(resource, announced, size, sha256.hexdigest(), md5.hexdigest())
                if problem:
                    raise TruncatedDownloadError(f"{url}: {problem}")
            except BaseException:
                staged.abort()
                raise
            prev = self.state.get(rid, {})
            if prev.get("sha256") == sha256.hexdigest():
                staged.abort()  # same bytes as the last fetch: nothing new to publish
                self._remember(rid, resource, prev.get("uri", ""), prev.get("retrieved_at", ""), sha256, md5, size)
                return FetchResult(dataset, rid, "unchanged", "content hash as at the last fetch", prev.get("uri", ""))
            staged.commit()
        sidecar = {
            "dataset": pkg.get("name"), "dataset_id": pkg.get("id"), "dataset_title": pkg.get("title"),
            "organization": (pkg.get("organization") or {}).get("name"),
            "resource_id": rid, "resource_name": resource.get("name"), "filename": filename, "url": url,
            "format": resource.get("format"), "last_modified": resource.get("last_modified"),
            "size": size, "sha256": sha256.hexdigest(), "http_status": status,
            "retrieved_at": retrieved_at, "full_export": True,
            "license": pkg.get("license_title"), "dataset_source": pkg.get("dataset_source"),
        }
        folder = key.rsplit("/", 1)[0]
        self.sink.write_text(f"{folder}/{SIDECAR_NAME}", json.dumps(sidecar, indent=2, sort_keys=True))
        self._remember(rid, resource, self.sink.uri(key), retrieved_at, sha256, md5, size)
        return FetchResult(dataset, rid, "downloaded", f"{size} bytes", self.sink.uri(key))

    @staticmethod
    def _verify(resource: Dict[str, Any], announced: Optional[str], size: int, sha256: str, md5: str) -> str:
        if announced is not None and announced.isdigit() and int(announced) != size:
            return f"truncated: got {size} of {announced} bytes (Content-Length)"
        digest = _expected_digest(resource)
        if digest and digest not in (sha256, md5):
            return f"hash mismatch: resource hash {digest}, downloaded sha256 {sha256}"
        meta_size = resource.get("size")
        if announced is None and isinstance(meta_size, int) and meta_size > 0 and meta_size != size:
            return f"size mismatch: got {size} bytes, resource metadata says {meta_size}"
        return ""

    def _remember(self, rid: str, resource: Dict[str, Any], uri: str, retrieved_at: str, sha256: Any, md5: Any,
                  size: int) -> None:
        self.state[rid] = {
            "last_modified": resource.get("last_modified"), "size": resource.get("size"),
            "downloaded_bytes": size, "sha256": sha256.hexdigest(), "md5": md5.hexdigest(),
            "uri": uri, "retrieved_at": retrieved_at,
        }

    def _save(self) -> None:
        self.sink.write_text(STATE_FILE, json.dumps(self.state, indent=2, sort_keys=True))
        self.sink.write_text(FAILURES_FILE, json.dumps(self.failures, indent=2, sort_keys=True))


def report_dict(report: ScrapeReport) -> Dict[str, Any]:
    return {**report.summary(), "resources": [asdict(r) for r in report.results]}

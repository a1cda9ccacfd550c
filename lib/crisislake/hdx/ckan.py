"""A small CKAN Action API client (HDX is a CKAN site) with retries. Plain Python, no Spark.

Only ``urllib`` from the standard library is used, so the scraper runs on any Python 3.9+
(laptop, EC2, an EMR step) without extra packages.
"""
from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar

from crisislake.errors import CrisislakeError

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 60.0


class CkanError(CrisislakeError, RuntimeError):
    """The CKAN API answered, but not with ``success: true`` (or not with JSON)."""


class TransientError(CrisislakeError, RuntimeError):
    """A failure worth retrying (timeout, reset connection, 429/5xx, truncated body)."""

    def __init__(self, message: str, retry_after_s: Optional[float] = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _retry_after(headers: Any) -> Optional[float]:
    try:
        return float(headers.get("Retry-After")) if headers and headers.get("Retry-After") else None
    except (TypeError, ValueError):
        return None


def classify_error(exc: BaseException) -> BaseException:
    """Map urllib/socket errors to :class:`TransientError` when a retry may help; else return as is."""
    if isinstance(exc, TransientError):
        return exc
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code in RETRY_STATUSES:
            return TransientError(f"HTTP {exc.code} {exc.reason}", _retry_after(exc.headers))
        return exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransientError(f"timeout: {exc}")
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, (socket.timeout, TimeoutError)):
        return TransientError(f"timeout: {exc.reason}")
    if isinstance(exc, (ConnectionError, http.client.IncompleteRead, http.client.RemoteDisconnected,
                        urllib.error.URLError)):
        return TransientError(f"{type(exc).__name__}: {exc}")
    return exc


def with_retries(
    fn: Callable[[], T], max_retries: int, backoff_s: float, what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``; on a transient failure wait ``backoff_s * 2**attempt`` (+ jitter, or the
    server's ``Retry-After``, capped at 60 s) and try again, up to ``max_retries`` retries."""
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised when not transient
            err = classify_error(exc)
            if not isinstance(err, TransientError) or attempt >= max_retries:
                if err is exc:
                    raise
                raise err from exc
            delay = min(MAX_BACKOFF_S, err.retry_after_s or backoff_s * (2 ** attempt) * (1 + random.random() / 4))
            log.warning("%s: %s; retry %d/%d in %.2fs", what, err, attempt + 1, max_retries, delay)
            sleep(delay)
            attempt += 1


class CkanClient:
    """``package_show`` / ``package_search`` against ``base_url`` (e.g. https://data.humdata.org)."""

    def __init__(self, base_url: str, user_agent: str, timeout_s: float = 30.0, max_retries: int = 4,
                 backoff_s: float = 1.0):
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s

    def request(self, url: str) -> urllib.request.Request:
        return urllib.request.Request(url, headers={"User-Agent": self.user_agent, "Accept": "*/*"})

    def open(self, url: str) -> http.client.HTTPResponse:
        """Open ``url`` (no retries here; callers wrap whole operations in :func:`with_retries`)."""
        return urllib.request.urlopen(self.request(url), timeout=self.timeout_s)  # noqa: S310 - configured https URL

    def action(self, name: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        url = f"{self.base_url}/api/3/action/{name}" + (f"?{query}" if query else "")

        def call() -> Any:
            with self.open(url) as resp:
                body = resp.read()
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise TransientError(f"{name}: response is not JSON ({exc})") from exc
            if not payload.get("success"):
                raise CkanError(f"{name} failed: {payload.get('error')}")
            return payload["result"]

        return with_retries(call, self.max_retries, self.backoff_s, f"CKAN {name}")

    def package_show(self, dataset: str) -> Dict[str, Any]:
        return self.action("package_show", id=dataset)

    def package_search(self, query: str = "", organization: str = "", rows: int = 100) -> Iterator[Dict[str, Any]]:
        """Every dataset matching ``query`` (and ``organization``), paging ``rows`` at a time."""
        start = 0
        fq = f"organization:{organization}" if organization else ""
        while True:
            result = self.action("package_search", q=query or "*:*", fq=fq, rows=rows, start=start)
            batch: List[Dict[str, Any]] = result.get("results", [])
            yield from batch
            start += len(batch)
            if not batch or start >= int(result.get("count", 0)):
                return

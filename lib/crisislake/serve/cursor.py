"""Opaque keyset cursors: the sort key of the last item of a page, bound to the filters used.

A cursor is base64url(JSON ``{"k": [...], "f": "<filter digest>"}``). It carries no SQL: the
key values are re-validated by type on the way back in and bound as parameters. A cursor used
with other filters than the ones that produced it is refused (the page would be meaningless).
"""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, List, Mapping, Optional, Sequence

from crisislake.errors import CrisislakeError

MAX_CURSOR_CHARS = 512


class CursorError(CrisislakeError, ValueError):
    """A cursor that this API did not issue for these filters."""


def filter_digest(filters: Mapping[str, Any]) -> str:
    """A short digest of the filters that shape a listing (cursor binding).

    >>> filter_digest({"a": 1}) == filter_digest({"a": 1}) != filter_digest({"a": 2})
    True
    """
    text = json.dumps({k: _plain(v) for k, v in sorted(filters.items()) if v is not None}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def encode(key: Sequence[Any], filters: Mapping[str, Any]) -> str:
    """The cursor for the page after the item whose sort key is ``key``."""
    raw = json.dumps({"k": [_plain(v) for v in key], "f": filter_digest(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode(cursor: Optional[str], filters: Mapping[str, Any], types: Sequence[type]) -> Optional[List[Any]]:
    """The sort key inside ``cursor`` (``None`` for the first page), checked against ``types``.

    ``types`` lists one of ``datetime``, ``date``, ``str``, ``int``, ``float`` per key part.
    """
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise CursorError("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode("utf-8"))
        key, digest = data["k"], data["f"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise CursorError("cursor is not one this API issued") from None
    if digest != filter_digest(filters):
        raise CursorError("cursor was issued for other filters; start again without a cursor")
    if not isinstance(key, list) or len(key) != len(types):
        raise CursorError("cursor is not one this API issued")
    return [_typed(value, kind) for value, kind in zip(key, types)]


def _typed(value: Any, kind: type) -> Any:
    try:
        if kind is datetime:
            out = datetime.fromisoformat(value)
            if out.tzinfo is None:
                raise ValueError
            return out
        if kind is date:
            return date.fromisoformat(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2 ** 63:
            return value
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str) and len(value) <= 256:
            return value
    except (TypeError, ValueError):
        pass
    raise CursorError("cursor is not one this API issued")

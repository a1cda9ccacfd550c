"""Pure-Python readers for the files Spark's JVM reader cannot take whole: gzip files with a
truncated member, and CSV exports (quoted fields may span lines).

These run inside one Python UDF per file (see :mod:`crisislake.tweets.io`), so they only see
the odd files; line-delimited and Firehose JSON, plain or gzip, is parsed in the JVM.
Each function returns ``(line, payload, raw, error)`` tuples: ``payload`` is a JSON object as
text for the common parser, ``raw`` the original text when it differs (a CSV row), ``error`` a
quarantine reason when the record could not be read at all.
"""
from __future__ import annotations

import csv
import io
import json
import zlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

Record = Tuple[int, Optional[str], Optional[str], Optional[str]]

# CSV header names (lower-cased) -> the field they fill, first match wins.
CSV_COLUMNS: Dict[str, Sequence[str]] = {
    "id": ("tweet_id", "id_str", "id", "ids", "status_id", "tweetid"),
    "text": ("tweet_text", "full_text", "text", "content", "tweet"),
    "created_at": ("created_at", "tweet_created_at", "timestamp", "date", "time"),
    "lang": ("lang", "language"),
    "author_id": ("author_id", "user_id"),
    "author_handle": ("author_handle", "screen_name", "username", "user_screen_name", "user_name"),
}


def _gunzip_chunks(data: bytes) -> Iterator[Union[bytes, str]]:
    """Decompress every gzip member in ``data``, yielding output chunks; if the stream stops
    early, the last item is the error (a ``str``) instead of a chunk."""
    rest = data
    member = 0
    while rest:
        member += 1
        decomp = zlib.decompressobj(wbits=31)
        # in chunks, so a corrupt block keeps what decompressed before it
        end = 0
        for start in range(0, len(rest), 1 << 20):
            end = start + (1 << 20)
            try:
                yield decomp.decompress(rest[start:end])
            except zlib.error as exc:
                yield f"corrupt gzip member {member}: {exc}"
                return
            if decomp.eof:
                break
        if not decomp.eof:
            yield decomp.flush()
            yield f"truncated gzip member {member} (unexpected end of file)"
            return
        rest = (decomp.unused_data + rest[end:]).lstrip(b"\x00")


def gunzip_tolerant(data: bytes) -> Tuple[str, Optional[str]]:
    """Decompress every gzip member in ``data``; return the text and an error if it stops early.

    A truncated or corrupt member keeps everything decompressed before the damage.

    >>> import gzip
    >>> gunzip_tolerant(gzip.compress(b"a\\n") + gzip.compress(b"b\\n"))
    ('a\\nb\\n', None)
    >>> gunzip_tolerant(gzip.compress(b"x" * 100)[:-12])[1][:22]
    'truncated gzip member '
    """
    out: List[bytes] = []
    error: Optional[str] = None
    for item in _gunzip_chunks(data):
        if isinstance(item, str):
            error = item
        else:
            out.append(item)
    return b"".join(out).decode("utf-8", errors="replace"), error


def gzip_damage(data: Optional[bytes]) -> Optional[str]:
    """Why ``data`` is not a complete gzip stream (every member to its end), or None if it is.

    Decompresses without keeping the output: the cheap check that decides whether the JVM may
    read a ``.gz`` file (Hadoop's codec fails on a damaged member) or the tolerant reader must.

    >>> import gzip
    >>> gzip_damage(gzip.compress(b"a\\n") + gzip.compress(b"b\\n")) is None
    True
    >>> gzip_damage(gzip.compress(b"x" * 100)[:-12])
    'truncated gzip member 1 (unexpected end of file)'
    >>> gzip_damage(b"plain text")[:22]
    'corrupt gzip member 1:'
    """
    if data is None:
        return "unreadable file"
    for item in _gunzip_chunks(data):
        if isinstance(item, str):
            return item
    return None


def json_lines(text: str, error: Optional[str] = None) -> List[Record]:
    """Split decoded text into numbered lines; if decoding stopped early, the last (partial)
    line is returned with ``error`` so it is quarantined, never silently dropped."""
    lines = text.split("\n")
    records: List[Record] = [(i + 1, line.rstrip("\r"), None, None) for i, line in enumerate(lines)]
    if error is not None:
        last_no, last, _, _ = records[-1]
        records[-1] = (last_no, last, None, f"{error}; line incomplete")
    return records


def _pick(header: Sequence[str]) -> Dict[str, int]:
    lowered = [h.strip().lstrip("\ufeff").lower() for h in header]
    picked: Dict[str, int] = {}
    for field, names in CSV_COLUMNS.items():
        for name in names:
            if name in lowered:
                picked[field] = lowered.index(name)
                break
    return picked


def _csv_text(row: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()


def csv_records(text: str) -> List[Record]:
    """Rows of a flat CSV export as tweet JSON payloads, numbered by the line each row starts on.

    >>> csv_records('tweet_id,tweet_text\\n42,"hi, there"\\n')[0][:2]
    (2, '{"_format": "csv", "id_str": "42", "text": "hi, there"}')
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        return [(1, None, text[:2000], f"unreadable CSV header: {exc}")]
    cols = _pick(header)
    records: List[Record] = []
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            records.append((line, None, None, f"unreadable CSV row: {exc}"))
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if not row:
            continue  # a blank line is not a record
        raw = _csv_text(row)
        if "id" not in cols or "text" not in cols:
            records.append((start, None, raw, "CSV export has no id or text column "
                            f"(header: {','.join(header)[:200]})"))
            continue
        if len(row) != len(header):
            records.append((start, None, raw, f"CSV row has {len(row)} fields, header has {len(header)}"))
            continue
        obj: Dict[str, object] = {"_format": "csv"}
        obj["id_str"] = row[cols["id"]].strip() or None
        obj["text"] = row[cols["text"]]
        for field in ("created_at", "lang"):
            if field in cols and row[cols[field]].strip():
                obj[field] = row[cols[field]].strip()
        user = {}
        if "author_id" in cols and row[cols["author_id"]].strip():
            user["id_str"] = row[cols["author_id"]].strip()
        if "author_handle" in cols and row[cols["author_handle"]].strip():
            user["screen_name"] = row[cols["author_handle"]].strip().lstrip("@")
        if user:
            obj["user"] = user
        records.append((start, json.dumps(obj, ensure_ascii=False), raw, None))
    return records


def decode_file(path: str, content: Optional[bytes]) -> List[Record]:
    """Records of one file read whole: gzip (by magic bytes, any member damage tolerated), then
    CSV (by the ``.csv`` name) or JSON lines."""
    if content is None:
        return [(0, None, None, "unreadable file")]
    error = None
    if content[:2] == b"\x1f\x8b":
        text, error = gunzip_tolerant(content)
    else:
        text = content.decode("utf-8", errors="replace")
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".csv"):
        records = csv_records(text)
        if error is not None:
            # the row being written when the stream broke may parse, but it is incomplete
            last = records.pop() if records else (1, None, None, None)
            records.append((last[0], None, last[2] or text[-2000:], f"{error}; row incomplete"))
        return records
    return json_lines(text, error)

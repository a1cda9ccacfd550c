"""Raw lines -> one ``curated/tweets`` row (or quarantine reason) per tweet, in Python workers.

``parse_batches`` is the body of one ``mapInArrow`` over the lines the readers produce
(:data:`crisislake.tweets.io.LINE_SCHEMA`). Each line arrives as UTF-8 bytes and is first
decoded by ``msgspec`` (when installed) straight into the fields named below, typed: the fields
the parse never reads are skipped without being built, and the type rules are checked in the
same pass. A line that decoder refuses (not one JSON object, a field of another type, invalid
UTF-8, a lone surrogate escape) takes the general path: it is decoded as text (invalid UTF-8
replaced by U+FFFD, as the tolerant reader does), parsed with ``orjson`` when installed, else
the standard library's ``json``, split into its Firehose objects when it does not parse whole,
and checked against the same rules. Both paths give the same records (one exception, under the
type rules below). v2 responses are then expanded into their tweets, the contract's fields of
either API version picked out and the quarantine reason decided. The raw JSON goes back to the
JVM only for bad records, so what crosses back is the narrow tweet rows.

Why Python and not Spark's ``from_json``: the JVM parse of a multi-KB status against a nested
schema, with ~40 SQL expressions over the nested record, made the whole ingest cost ~20% more
CPU than this (README, "Tweet ingestion", Benchmark). The module imports only the standard
library, pyarrow and (if present) msgspec and orjson; it is pickled into the UDF by value, so
a worker needs no crisislake install.

Type rules (what used to be the pruned read schema): a field read as text takes any JSON value
(numbers keep their digits, so 64-bit ids never pass through a float); an object, array or
number field holding another JSON type makes the whole record "malformed JSON (or a field of an
unexpected type)". Only the fields in :data:`TWEET` and :data:`RECORD` are checked. Integers
beyond 64 bits keep their digits on the typed path (orjson would make them floats); they are no
valid id either way.
"""
from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

# Firehose writes objects back to back: ``...}{"created_at":...``. Split only where a ``}``
# is followed by ``{"key":``; inside a JSON string that sequence would need an unescaped
# quote, so the split never cuts through a string value.
FIREHOSE_BOUNDARY = re.compile(r'(?<=\})(?=\{"[^"]*"\s*:)')
CONTROL_FIELDS = ("delete", "limit", "scrub_geo", "status_withheld", "user_withheld", "disconnect", "warning")

MALFORMED = "malformed JSON (or a field of an unexpected type)"

# Field types of the parts of a record that are read. TEXT: any JSON value, read as text;
# NUMBER: a JSON number; [spec]: an array of spec; {name: spec}: an object. Fields not named
# here are never looked at.
TEXT, NUMBER = "text", "number"
ENTITIES = {
    "hashtags": [{"text": TEXT, "tag": TEXT}],
    "urls": [{"url": TEXT, "expanded_url": TEXT, "unwound_url": TEXT}],
    "user_mentions": [{"screen_name": TEXT}],
    "mentions": [{"username": TEXT}],
}
V1_USER = {"id_str": TEXT, "id": TEXT, "screen_name": TEXT}
NOTE = {"text": TEXT, "entities": ENTITIES}
EXTENDED = {"full_text": TEXT, "entities": ENTITIES}
POINT = {"coordinates": [NUMBER]}
PLACE = {"id": TEXT, "country_code": TEXT, "country": TEXT, "full_name": TEXT, "name": TEXT}
# A retweeted / quoted / included tweet: just enough to rebuild an "RT @user: full text".
EMBEDDED = {
    "id_str": TEXT, "id": TEXT, "text": TEXT, "full_text": TEXT, "extended_tweet": EXTENDED,
    "note_tweet": NOTE, "entities": ENTITIES, "user": V1_USER, "author_id": TEXT,
}
# One tweet in either API version (v1.1 status, or a v2 ``data`` element). v1.1 ``geo`` is a
# [lat, lon] point and v2 ``geo`` an object with ``place_id``, so ``geo`` is read as text and
# only a v2-shaped one is used.
TWEET = {
    "id_str": TEXT, "id": TEXT, "created_at": TEXT, "text": TEXT, "full_text": TEXT, "lang": TEXT,
    "user": V1_USER, "extended_tweet": EXTENDED, "entities": ENTITIES,
    "in_reply_to_status_id_str": TEXT, "in_reply_to_status_id": TEXT, "quoted_status_id_str": TEXT,
    "retweeted_status": EMBEDDED, "quoted_status": {"id_str": TEXT, "id": TEXT}, "place": PLACE, "coordinates": POINT,
    "author_id": TEXT, "referenced_tweets": [{"type": TEXT, "id": TEXT}], "note_tweet": NOTE, "geo": TEXT,
}
GEO_V2 = {"place_id": TEXT, "coordinates": POINT}
INCLUDES = {"users": [{"id": TEXT, "username": TEXT}], "places": [PLACE], "tweets": [EMBEDDED]}
# A top-level object: a tweet, a v2 response (``data``: an array in search/lookup responses, an
# object in stream/single lookups), a stream control message, or a CSV row the tolerant reader
# re-encoded (``_format`` = "csv").
RECORD = dict(TWEET, data=TEXT, includes=INCLUDES, errors=TEXT, _format=TEXT, **{c: TEXT for c in CONTROL_FIELDS})

# (name, Spark type) of what ``parse_batches`` yields; ``created_us`` is microseconds since the
# epoch (UTC), ``raw_payload`` is set for bad records only.
OUTPUT = (
    ("source_uri", "string"), ("source_line", "bigint"), ("tweet_id", "bigint"), ("created_us", "bigint"),
    ("text", "string"), ("lang", "string"), ("author_id", "bigint"), ("author_handle", "string"),
    ("retweet_of_id", "bigint"), ("quote_of_id", "bigint"), ("reply_to_id", "bigint"),
    ("hashtags", "array<string>"), ("urls", "array<string>"), ("mentions", "array<string>"),
    ("place_country", "string"), ("place_name", "string"), ("lat", "double"), ("lon", "double"),
    ("reason", "string"), ("raw_payload", "string"),
)
OUTPUT_DDL = ", ".join(f"{name} {kind}" for name, kind in OUTPUT)
_NAMES = [name for name, _ in OUTPUT]

# Ids before this are pre-snowflake (2006-2010) and carry no timestamp.
SNOWFLAKE_MIN_ID = 100_000_000_000_000
TWITTER_EPOCH_MS = 1288834974657
MAX_LONG = "9223372036854775807"
MONTHS = {m: i + 1 for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))}
_ID = re.compile(r"\s*([0-9]{1,19})(?:\.0+)?\s*", re.ASCII)
_TWITTER_DATE = re.compile(
    r"[A-Za-z]{3} ([A-Za-z]{3}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})", re.ASCII)
_ISO_DATE = re.compile(
    r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?)?)?"
    r" ?(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))


def json_loads():
    """The JSON parser to use: ``orjson`` when the worker has it (a status parses ~3x faster),
    falling back to the standard library for what orjson refuses and ``json`` accepts (lone
    surrogates, NaN, integers over 64 bits), so both accept the same documents. Imported when
    called, on the worker, so a worker without orjson still runs."""
    try:
        import orjson
    except ImportError:
        return json.loads
    fast = orjson.loads

    def loads(payload: str) -> Any:
        try:
            return fast(payload)
        except orjson.JSONDecodeError:
            return json.loads(payload)

    return loads


def typed_decoder():
    """A function decoding one line (UTF-8 bytes) into a :data:`RECORD`-shaped dict holding only
    the named fields, or returning ``_UNPARSEABLE`` when the line is not such a record; None when
    the worker has no ``msgspec``.

    The types come from :data:`RECORD` itself (:func:`_typed`), so the decoder accepts exactly
    what :func:`conforms` accepts, and a record it returns needs no further check. It skips the
    fields nobody reads (most of a status's bytes) and never builds the line as a ``str``: the
    whole parse of a 3 KB status, Arrow in and out included, takes 20.8-23.0 us this way against
    26.2-28.5 us with ``orjson`` plus the check (one core, README benchmark input). Whatever it
    refuses goes the general way, which then decides the outcome, so both give the same records."""
    try:
        import msgspec
    except ImportError:
        return None
    decode = msgspec.json.Decoder(_typed(RECORD, "Record")).decode
    refused = (msgspec.MsgspecError, ValueError, RecursionError)  # ValueError: invalid UTF-8 in a read field

    def typed(payload: bytes) -> Any:
        try:
            return decode(payload)
        except refused:
            return _UNPARSEABLE

    return typed


def _typed(spec: Any, name: str) -> Any:
    """The type annotation (for msgspec) of a value that fits ``spec``: TEXT is any JSON value,
    NUMBER an int or float (not a bool), an object a ``TypedDict`` of its named fields (others
    skipped), and null fits everything."""
    from typing import TypedDict

    if spec is TEXT:
        return Any
    if spec is NUMBER:
        return Optional[Union[int, float]]
    if isinstance(spec, list):
        return Optional[List[_typed(spec[0], name)]]  # type: ignore[misc]
    fields = {key: _typed(sub, f"{name}_{key}") for key, sub in spec.items()}
    return Optional[TypedDict(name, fields, total=False)]  # type: ignore[misc, operator]


def conforms(value: Any, spec: Any) -> bool:
    """Whether ``value`` fits ``spec`` (JSON null fits anything).

    >>> conforms({"user": {"id": 5}, "coordinates": {"coordinates": [1, 2.5]}}, TWEET)
    True
    >>> conforms({"user": "alice"}, TWEET), conforms({"coordinates": {"coordinates": ["1"]}}, TWEET)
    (False, False)
    """
    check = _checker(spec)
    return value is None or check is None or check(value)


_CHECKERS: Dict[int, Any] = {}


def _checker(spec: Any):
    """A function telling whether a non-null value fits ``spec``, or None when anything fits
    (TEXT). Built once per spec: the check runs for every record, so it does no spec lookups."""
    key = id(spec)
    if key not in _CHECKERS:
        _CHECKERS[key] = _build_checker(spec)
    return _CHECKERS[key]


def _build_checker(spec: Any):
    if spec is TEXT:
        return None
    if spec is NUMBER:
        return lambda v: type(v) is int or type(v) is float  # bool is not a number here
    if isinstance(spec, list):
        item = _checker(spec[0])
        if item is None:
            return lambda v: type(v) is list

        def check_list(v: Any) -> bool:
            if type(v) is not list:
                return False
            for x in v:
                if x is not None and not item(x):
                    return False
            return True

        return check_list
    typed = [(name, _checker(sub)) for name, sub in spec.items() if sub is not TEXT]
    if not typed:
        return lambda v: type(v) is dict

    def check(v: Any) -> bool:
        if type(v) is not dict:
            return False
        for name, fits in typed:
            x = v.get(name)
            if x is not None and not fits(x):
                return False
        return True

    return check


def text(value: Any) -> Optional[str]:
    """A JSON value read as text: strings as they are, numbers by their digits, ``true``/``false``,
    objects and arrays as compact JSON.

    >>> text(323470380069203968), text("x"), text(True), text([1, 2]), text(None)
    ('323470380069203968', 'x', 'true', '[1,2]', None)
    """
    if value is None or type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_id(value: Optional[str]) -> Optional[int]:
    """A decimal id string -> int; anything else (empty, letters, > 2^63-1) -> None.

    >>> [parse_id(v) for v in ["1234", " 42 ", "123.0", "12a", "", None, "9223372036854775808", "-5"]]
    [1234, 42, 123, None, None, None, None, None]
    """
    if value is None:
        return None
    if value.isdigit() and value.isascii():  # the usual case, without the regex
        digits = value
    else:
        m = _ID.fullmatch(value)
        if m is None:
            return None
        digits = m.group(1)
    if len(digits) > 19:
        return None
    if len(digits) == 19 and digits > MAX_LONG:
        return None
    return int(digits)


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _offset(sign: str, hours: int, minutes: int) -> Optional[timezone]:
    if minutes > 59 or hours * 60 + minutes > 18 * 60:
        return None
    minutes_total = hours * 60 + minutes
    return timezone(timedelta(minutes=-minutes_total if sign == "-" else minutes_total))


_DATES: Dict[str, Optional[int]] = {}
_DATES_MAX = 4096
_MISSING = object()


def parse_created_at(value: Optional[str]) -> Optional[int]:
    """Twitter's ``Wed Oct 10 20:19:24 +0000 2018`` or an ISO-8601 date-time (v2, CSV) ->
    microseconds since the epoch (UTC); None when it is neither or not a real date. ISO
    values without a zone are UTC.

    >>> [parse_created_at(v) for v in ["Mon Apr 15 18:50:12 +0000 2013", "Mon Apr 15 20:50:12 +0200 2013",
    ...                                 "2013-04-15T18:50:12.000Z", "2013-04-15 18:50:12"]]
    [1366051812000000, 1366051812000000, 1366051812000000, 1366051812000000]
    >>> [parse_created_at(v) for v in ["Mon Foo 15 18:50:12 +0000 2013", "yesterday", "2013-02-30", None]]
    [None, None, None, None]

    The last few thousand distinct values are remembered: a dump holds many tweets per
    second, so most dates were seen a moment before.
    """
    if value is None:
        return None
    micros = _DATES.get(value, _MISSING)
    if micros is _MISSING:
        if len(_DATES) >= _DATES_MAX:
            _DATES.clear()
        micros = _DATES[value] = _parse_created_at(value)
    return micros


def _parse_created_at(value: str) -> Optional[int]:
    """The parse behind :func:`parse_created_at`."""
    value = value.strip()
    try:
        m = _TWITTER_DATE.fullmatch(value)
        if m is not None:
            month = MONTHS.get(m.group(1))
            zone = _offset(m.group(6), int(m.group(7)), int(m.group(8)))
            if month is None or zone is None:
                return None
            moment = datetime(int(m.group(9)), month, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                              int(m.group(5)), tzinfo=zone)
            return _micros(moment)
        m = _ISO_DATE.fullmatch(value)
        if m is None:
            return None
        year, month, day, hour, minute, second, fraction, zone_text = m.groups()
        zone: Optional[timezone] = timezone.utc
        if zone_text and zone_text[0] in "+-":
            digits = zone_text[1:].replace(":", "")
            hours, minutes = (digits[:-2], digits[-2:]) if len(digits) > 2 else (digits, "0")
            zone = _offset(zone_text[0], int(hours), int(minutes))
        if zone is None:
            return None
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                          int(second or 0), micros, tzinfo=zone)
        return _micros(moment)
    except (ValueError, OverflowError):
        return None


def snowflake_micros(tweet_id: Optional[int]) -> Optional[int]:
    """The creation time a snowflake tweet id encodes (ids from November 2010 on), in microseconds.

    >>> snowflake_micros(211040709124440064), snowflake_micros(12345)
    (1339151000659000, None)
    """
    if tweet_id is None or tweet_id < SNOWFLAKE_MIN_ID:
        return None
    return ((tweet_id >> 22) + TWITTER_EPOCH_MS) * 1000


def unescape(value: Optional[str]) -> Optional[str]:
    """Undo the entities Twitter puts in text (``&amp;`` last, so ``&amp;lt;`` stays ``&lt;``).

    >>> unescape("a &amp;lt; b &gt; c")
    'a &lt; b > c'
    """
    if value is None or "&" not in value:
        return value
    for entity, char in _ENTITIES:
        value = value.replace(entity, char)
    return value


_NONE: Dict[str, Any] = {}  # stands in for a missing object, so lookups need no None test


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _find(items: Optional[list], key: str, wanted: Optional[str]) -> dict:
    """The first object of ``items`` whose ``key``, read as text, equals ``wanted`` (or ``_NONE``)."""
    if items is None or wanted is None:
        return _NONE
    for item in items:
        if item is not None and text(item.get(key)) == wanted:
            return item
    return _NONE


def _full_text(t: dict) -> Optional[str]:
    return text(_first((t.get("note_tweet") or _NONE).get("text"), (t.get("extended_tweet") or _NONE).get("full_text"),
                       t.get("full_text"), t.get("text")))


def _full_entities(t: dict) -> Optional[dict]:
    return _first((t.get("note_tweet") or _NONE).get("entities"), (t.get("extended_tweet") or _NONE).get("entities"),
                  t.get("entities"))


def _refs(t: dict) -> Dict[Optional[str], Optional[str]]:
    """``{type: id}`` of the first v2 referenced tweet of each type (retweeted, quoted, replied_to)."""
    refs: Dict[Optional[str], Optional[str]] = {}
    for ref in t.get("referenced_tweets") or ():
        if ref is not None:
            refs.setdefault(text(ref.get("type")), text(ref.get("id")))
    return refs


def _pick(obj: dict, *keys: str) -> Optional[str]:
    """The first non-null ``obj[key]`` of ``keys``, as text (None when all are null); a key is
    only looked up when the ones before it came up empty."""
    for key in keys:
        value = obj.get(key)
        if value is not None:
            return value if type(value) is str else text(value)
    return None


def _strings(items: Optional[list], *keys: str) -> Optional[List[Optional[str]]]:
    """``[first non-null of keys, as text]`` per element, or None when there is no array."""
    if items is None:
        return None
    return [None if item is None else _pick(item, *keys) for item in items]


# The content columns of OUTPUT, in order: the ``row`` that tweet_columns returns.
CONTENT = tuple(name for name in _NAMES if name not in ("source_uri", "source_line", "reason", "raw_payload"))
_NO_CONTENT = (None,) * len(CONTENT)
_TWEET_ID, _CREATED, _TEXT = (CONTENT.index(name) for name in ("tweet_id", "created_us", "text"))


def tweet_columns(t: dict, includes: Optional[dict], kind: str) -> Tuple[Optional[str], Optional[str], tuple]:
    """``(raw_id, raw_created_at, row)`` of one tweet (a v1.1 status, v2 ``data`` element or CSV
    row): ``row`` holds the :data:`CONTENT` columns in order; the id and date as received are
    kept for the reasons. ``includes`` is the v2 response's.

    This runs for every tweet, and its CPU is most of the parse: a tuple instead of a dict,
    and fallbacks looked up only when the preferred field is null. The stages: what the tweet
    retweets (:func:`_retweet`), who wrote it (:func:`_author`), where (:func:`_place_and_point`),
    which tweets it points at (:func:`_references`)."""
    includes = includes or _NONE
    users = includes.get("users")
    refs = _refs(t) if t.get("referenced_tweets") else _NONE
    rt, rt_handle, rt_text, ent = _retweet(t, includes, refs, users)
    raw_id = _pick(t, "id_str", "id")
    tweet_id = parse_id(raw_id)
    raw_created_at = text(t.get("created_at"))
    created = parse_created_at(raw_created_at)
    if created is None and kind == "csv" and raw_created_at is None:
        created = snowflake_micros(tweet_id)
    mentions = _strings(ent.get("user_mentions"), "screen_name")
    if mentions is None:
        mentions = _strings(ent.get("mentions"), "username") or []
    if rt_handle is not None:
        mentions.insert(0, rt_handle)
    author, handle = _author(t, users)
    place, point = _place_and_point(t, includes)
    two = point is not None and len(point) == 2
    return raw_id, raw_created_at, (
        tweet_id,
        created,
        unescape(f"RT @{rt_handle}: {rt_text}" if rt_text is not None and rt_handle is not None else _full_text(t)),
        _pick(t, "lang"),
        author,
        handle,
        *_references(t, rt, refs),
        _strings(ent.get("hashtags"), "text", "tag") or [],
        _strings(ent.get("urls"), "unwound_url", "expanded_url", "url") or [],
        mentions,
        _pick(place, "country_code", "country"),
        _pick(place, "full_name", "name"),
        float(point[1]) if two and point[1] is not None else None,
        float(point[0]) if two and point[0] is not None else None,
    )


def _retweet(t: dict, includes: dict, refs: dict, users: Optional[list]) -> Tuple[Any, Optional[str], Optional[str], dict]:
    """``(retweeted tweet, its author's handle, its full text, the entities to read)``: the
    v1.1 ``retweeted_status``, else the v2 included tweet the ``retweeted`` reference names. A
    retweet's entities are the original's; a tweet that retweets nothing has its own."""
    rt = t.get("retweeted_status")
    if rt is None:
        rt = _find(includes.get("tweets"), "id", refs.get("retweeted"))
    rt_handle = rt_text = ent = None
    if rt:
        rt_handle = _pick(rt.get("user") or _NONE, "screen_name")
        if rt_handle is None:
            rt_handle = _pick(_find(users, "id", text(rt.get("author_id"))), "username")
        rt_text = _full_text(rt)
        ent = _full_entities(rt)
    if ent is None:
        ent = _full_entities(t)
    return rt, rt_handle, rt_text, ent or _NONE


def _author(t: dict, users: Optional[list]) -> Tuple[Optional[int], Optional[str]]:
    """``(author id, handle)``: v1.1's ``user``, else v2's ``author_id`` and its included user."""
    user = t.get("user") or _NONE
    author_id = text(t.get("author_id"))
    author = _pick(user, "id_str", "id")
    handle = _pick(user, "screen_name")
    if handle is None:
        handle = _pick(_find(users, "id", author_id), "username")
    return parse_id(author if author is not None else author_id), handle


def _place_and_point(t: dict, includes: dict) -> Tuple[dict, Optional[list]]:
    """``(place, [lon, lat])``: v1.1's ``place`` and exact ``coordinates``, else v2's ``geo``
    (a ``place_id`` looked up in the included places, and its own point)."""
    geo = t.get("geo")
    geo2 = geo if type(geo) is dict and "place_id" in geo and conforms(geo, GEO_V2) else _NONE
    place = t.get("place")
    if place is None:
        place = _find(includes.get("places"), "id", text(geo2.get("place_id")))
    point = (t.get("coordinates") or _NONE).get("coordinates")
    if point is None:
        point = (geo2.get("coordinates") or _NONE).get("coordinates")
    return place, point


def _references(t: dict, rt: Any, refs: dict) -> Tuple[Optional[int], Optional[int], Optional[int]]:
    """``(retweet_of_id, quote_of_id, reply_to_id)`` from v1.1's fields, else v2's references."""
    retweet_of = None
    if rt or refs:
        retweet_of = _pick(rt, "id_str", "id")
        if retweet_of is None:
            retweet_of = refs.get("retweeted")
    quote_of = _pick(t, "quoted_status_id_str")
    if quote_of is None:
        quote_of = _pick(t.get("quoted_status") or _NONE, "id_str", "id")
        if quote_of is None:
            quote_of = refs.get("quoted")
    reply_to = _pick(t, "in_reply_to_status_id_str", "in_reply_to_status_id")
    if reply_to is None:
        reply_to = refs.get("replied_to")
    return parse_id(retweet_of), parse_id(quote_of), parse_id(reply_to)


def _reason(raw_id: Optional[str], raw_created_at: Optional[str], row: tuple, kind: str) -> Optional[str]:
    """Why a parsed tweet cannot be used, or None. First match wins."""
    if raw_id is None or raw_id.strip(" ") == "":
        return "missing tweet id"
    if row[_TWEET_ID] is None:
        return "invalid tweet id"
    body = row[_TEXT]
    if body is None or body.strip(" ") == "":
        return "missing text"
    if row[_CREATED] is None:
        if raw_created_at is not None:
            return "unparseable created_at"
        if kind != "csv":
            return "missing created_at"
    return None


Record = Tuple[Optional[tuple], Optional[str], Optional[str]]


_UNPARSEABLE = object()


def _loaded(payload: str, loads) -> Any:
    try:
        return loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return _UNPARSEABLE


def _parsed_records(record: Any, checked: bool = False) -> List[Record]:
    """``(row, reason, position)`` per tweet of one parsed JSON object (``_UNPARSEABLE`` when it
    did not parse): one for a tweet or a bad object, one per element of a v2 response's ``data``.
    ``position`` says "tweet k of n" when a response holds several (quarantine rows stay unique
    per file, line and reason). ``checked``: the typed decoder already checked the types."""
    if record is _UNPARSEABLE:
        return [(None, MALFORMED, "")]
    if record is None:
        record = {}
    if not isinstance(record, dict) or not (checked or conforms(record, RECORD)):
        return [(None, MALFORMED, "")]
    control = next((name for name in CONTROL_FIELDS if record.get(name) is not None), None)
    if control is not None:
        return [(None, f"not a tweet: stream control message '{control}'", "")]
    data = record.get("data")
    if data is None:
        kind = "csv" if record.get("_format") == "csv" else "v1"
        return [(*_checked_columns(record, record.get("includes"), kind), "")]
    tweets = data if isinstance(data, list) else [data]
    if not tweets or not all(isinstance(t, dict) and conforms(t, TWEET) for t in tweets if t is not None):
        return [(None, "v2 response without tweets (data empty or errors)", "")]
    n = len(tweets)
    out: List[Record] = []
    for k, tweet in enumerate(tweets, 1):
        where = f" (tweet {k} of {n} in the v2 response)" if n > 1 else ""
        if tweet is None:
            out.append((None, "v2 response without tweets (data empty or errors)", where))
        else:
            out.append((*_checked_columns(tweet, record.get("includes"), "v2"), where))
    return out


def _checked_columns(t: dict, includes: Optional[dict], kind: str) -> Tuple[Optional[tuple], Optional[str]]:
    """``(row, reason)`` of one tweet. A value no rule foresaw (a coordinate too large for a
    double, say) quarantines this record with the error instead of failing the whole run."""
    try:
        raw_id, raw_created_at, row = tweet_columns(t, includes, kind)
    except Exception as exc:  # noqa: BLE001 - any record-level failure is that record's reason
        return None, f"unreadable tweet ({type(exc).__name__}: {exc})"[:500]
    return row, _reason(raw_id, raw_created_at, row, kind)


def line_records(payload: Any, raw: Optional[str], error: Optional[str], loads=json.loads, typed=None) -> List[Record]:
    """``(row, reason, raw_payload)`` per record of one line (``str``, or UTF-8 ``bytes`` from the
    JVM reader); blank lines give none. ``typed``: :func:`typed_decoder`'s function, tried first."""
    if error is not None:
        return [(None, error, _first(raw, _as_text(payload)))]
    if payload is None:
        return []
    if typed is not None:
        record = typed(payload)
        if record is not _UNPARSEABLE:
            return _with_raw(_parsed_records(record, checked=True), raw, payload, "")
    payload = _as_text(payload)
    if not payload.strip():
        return []
    # Parsed whole first: a line that parses is one object (outside strings, valid JSON never
    # has "}{"), and searching a multi-KB line for "}{" costs a tenth of parsing it.
    record = _loaded(payload, loads)
    if record is not _UNPARSEABLE or "}{" not in payload:
        return _with_raw(_parsed_records(record), raw, payload, "")
    pieces = FIREHOSE_BOUNDARY.split(payload)
    n = len(pieces)
    out: List[Record] = []
    for k, piece in enumerate(pieces, 1):
        where = f" (object {k} of {n} on the line)" if n > 1 else ""
        out.extend(_with_raw(_parsed_records(_loaded(piece, loads)), raw, piece, where))
    return out


def _as_text(payload: Any) -> Any:
    """A line as ``str``: bytes are UTF-8, and invalid sequences become U+FFFD (the tolerant
    reader does the same), so one damaged line cannot fail its whole file."""
    return payload.decode("utf-8", "replace") if type(payload) is bytes else payload


def _with_raw(parsed: List[Record], raw: Optional[str], piece: Any, where: str) -> List[Record]:
    """``(row, reason, raw_payload)`` from :func:`_parsed_records`'s ``(row, reason, position)``:
    a bad record keeps its raw JSON (``raw`` when the reader kept the original, else ``piece``),
    and its reason says where on the line it was."""
    out: List[Record] = []
    for row, reason, position in parsed:
        if reason is None:
            out.append((row, None, None))
        else:
            out.append((row, reason + where + position, _first(raw, _as_text(piece))))
    return out


def parse_batches(batches: Iterable[Any]) -> Iterator[Any]:
    """``mapInArrow`` body: batches of ``source_uri, source_line, payload, raw, error`` -> batches
    of :data:`OUTPUT` (one row per record)."""
    import pyarrow as pa

    skip_unchanged_zip_rescans()
    types = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "array<string>": pa.list_(pa.string())}
    schema = pa.schema([(name, types[kind]) for name, kind in OUTPUT])
    loads, typed = json_loads(), typed_decoder()
    for batch in batches:
        rows = []
        append = rows.append
        columns = [_python_values(batch.column(name)) for name in ("source_uri", "source_line", "raw", "error")]
        # The lines as bytes: the typed decoder reads UTF-8, so a line becomes a str only when
        # it takes the general path (and invalid UTF-8 cannot fail the conversion).
        payloads = _python_values(batch.column("payload").cast(pa.binary()))
        for uri, line, payload, raw, error in zip(columns[0], columns[1], payloads, columns[2], columns[3]):
            for row, reason, raw_payload in line_records(payload, raw, error, loads, typed):
                append((uri, line, *(_NO_CONTENT if row is None else row), reason, raw_payload))
        by_column = list(zip(*rows)) if rows else [()] * len(_NAMES)
        yield pa.RecordBatch.from_arrays([_arrow(pa, list(values), field.type) for values, field in zip(by_column, schema)],
                                         schema=schema)


def _python_values(column: Any) -> list:
    """An Arrow column as a list of Python values. Through numpy where that is exact (text, and
    numbers without nulls, which numpy would turn into NaN): it builds the ``str`` of a 3 KB
    line in 2.1 us against 3.0 for ``to_pylist``, an int in 0.01 us against 0.3."""
    n = len(column)
    if column.null_count == n:
        return [None] * n
    if column.null_count and str(column.type) not in ("string", "large_string", "binary", "large_binary"):
        return column.to_pylist()
    return column.to_numpy(zero_copy_only=False).tolist()


def _arrow(pa: Any, values: list, kind: Any) -> Any:
    """``pa.array(values)``; text with a lone surrogate (a JSON ``\\ud83d`` escape cut from its
    pair, e.g. by a 140-character truncation) cannot be UTF-8, so such a column is retried with
    each surrogate replaced by ``?``, as the JVM's encoder does."""
    try:
        return pa.array(values, type=kind)
    except UnicodeEncodeError:
        return pa.array([_replace_surrogates(v) for v in values], type=kind)


def _replace_surrogates(value: Any) -> Any:
    """
    >>> _replace_surrogates(["a\\ud83d b", None])
    ['a? b', None]
    """
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def skip_unchanged_zip_rescans() -> None:
    """Make ``importlib.invalidate_caches()`` re-read a zip archive on ``sys.path`` only when the
    archive changed, in this (worker) process; a no-op outside Python 3.10 and 3.11.

    PySpark 3.5's worker calls ``importlib.invalidate_caches()`` before every task. On Python
    3.10-3.11 that makes each ``zipimporter`` re-read its whole archive directory in pure Python
    (CPython gh-103200, made lazy in 3.12; Spark 4 stops calling it needlessly, SPARK-54744).
    The worker's path holds ``pyspark.zip``, py4j and spark-core's jar: measured ~0.19 CPU-s per
    task, a fifth of the ingest's Python CPU on the benchmark. Here a rescan happens when the
    archive's size or modification time differs from the last scan, so a changed archive is
    still picked up. Called by :func:`parse_batches` on each task; the first call installs it.
    """
    import zipimport

    if sys.version_info[:2] not in ((3, 10), (3, 11)):
        return
    rescan = zipimport.zipimporter.invalidate_caches
    if getattr(rescan, "skips_unchanged", False):
        return
    scanned: Dict[str, Any] = {}

    def invalidate_caches(self: Any) -> None:
        try:
            stat = os.stat(self.archive)
            stamp: Any = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp is None or scanned.get(self.archive) != stamp:
            rescan(self)
            scanned[self.archive] = stamp

    invalidate_caches.skips_unchanged = True  # type: ignore[attr-defined]
    zipimport.zipimporter.invalidate_caches = invalidate_caches  # type: ignore[method-assign]

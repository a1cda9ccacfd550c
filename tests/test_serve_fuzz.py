"""Generated query parameters, paths and bodies against a running API server (real HTTP).

Whatever arrives, the answer is a JSON response with a 2xx or 4xx status (never a 5xx), the server
keeps running and logs no traceback, and the warehouse's tables are unchanged except for review
decisions a valid reviewer made. Well-typed filters, generated too, page through exactly the
incidents that match them, each once, in order. Hand-picked hostile values: test_serve_api.py.
"""
from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import quote

import pytest
import requests
from fuzz_scale import DERANDOMIZE, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_fixtures import TOKEN_ALICE, Warehouse
from test_properties import json_values

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("fastapi")

FUZZ = settings(max_examples=examples(120), deadline=None, derandomize=DERANDOMIZE,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Any text an HTTP client can send (no lone surrogates), weighted towards the characters that
# break parsers and SQL: quotes, NUL, percent signs, digits, separators.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60) | st.sampled_from(
    ["", "\x00", "'", '"', "%", "%00", "1e309", "-1", "0", "9" * 40, "NaN", "2020-02-30", "2020-01-01T25:00",
     "USA", "NGA", "Lagos", "police", "1", "5", "2020-01-01", "2026-01-01T00:00:00Z", "relevance", "1,2,3,4", "-180,-90,180,90", "true", "null", "[]", "{}", "a" * 600])
QUERY_NAMES = {
    "/incidents": ["since", "until", "country", "admin", "pcode", "bbox", "min_force_rank", "min_reports",
                   "corroborated", "incident_type", "limit", "cursor"],
    "/marts/conflict_monthly_country": ["since", "until", "country", "admin1", "event_type", "disaster_type",
                                        "limit", "cursor"],
    "/review-queue": ["task", "limit", "cursor"],
}


@pytest.fixture(scope="module")
def checked_api(api, wh):
    """The server, checked after the module: alive, no traceback logged, no table changed but
    ``review_decisions``."""
    before = table_counts(wh)
    yield api
    assert api.proc.poll() is None, "the server died"
    assert "Traceback" not in api.sql_log()
    after = table_counts(wh)
    assert {t: n for t, n in after.items() if t != "review_decisions"} == \
           {t: n for t, n in before.items() if t != "review_decisions"}


def table_counts(wh: Warehouse):
    names = [r[0] for r in wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                                    "AND table_type = 'BASE TABLE'", (wh.schema,))]
    return {name: wh.query(f"SELECT COUNT(*) FROM {{s}}.{name}")[0][0] for name in names}


def check(response: requests.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body.get("detail"), (str, list)), body


@FUZZ
@given(path=st.sampled_from(sorted(QUERY_NAMES)), data=st.data())
def test_generated_query_parameters_are_answered_or_refused_never_a_5xx(checked_api, path, data):
    known = st.sampled_from(QUERY_NAMES[path])
    names = st.one_of(known, known, known, st.text(min_size=1, max_size=12))  # mostly real names
    params = data.draw(st.lists(st.tuples(names, text), max_size=5))

    check(requests.get(checked_api.base + path, params=params, timeout=20))


@FUZZ
@given(segment=text, route=st.sampled_from(["/incidents/", "/marts/", "/review/"]))
def test_generated_path_segments_are_answered_or_refused_never_a_5xx(checked_api, segment, route):
    url = checked_api.base + route + quote(segment, safe="")
    check(requests.get(url, timeout=20))


review_bodies = st.fixed_dictionaries(
    {}, optional={"decision": st.sampled_from(["confirm", "reject", "relabel"]) | text,
                  "task": st.sampled_from(["relevance", "police_force", "disaster_type"]) | text,
                  "label": st.sampled_from(["relevant", "flood", "none"]) | text | st.none(),
                  "extra": json_values})


@FUZZ
@given(tweet_id=st.sampled_from(["104", "105", "1"]) | text,
       body=st.one_of(review_bodies.map(json.dumps), review_bodies.map(json.dumps), json_values.map(json.dumps),
                      st.binary(max_size=80)),
       token=st.sampled_from([TOKEN_ALICE, TOKEN_ALICE, "", "wrong"]) | text)
def test_generated_review_posts_are_answered_or_refused_never_a_5xx(checked_api, tweet_id, body, token):
    headers = {"Content-Type": "application/json"}
    if token and token.isprintable() and token.isascii():
        headers["Authorization"] = f"Bearer {token}"

    check(requests.post(f"{checked_api.base}/review/{quote(tweet_id, safe='')}", data=body, headers=headers, timeout=20))


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def matches(item: dict, f: dict) -> bool:
    """The filter semantics the API documents, applied to one incident."""
    lat, lon = item["latitude"], item["longitude"]
    bbox = [float(v) for v in f["bbox"].split(",")] if "bbox" in f else None
    return all([
        "since" not in f or parse(item["first_seen"]) >= parse(f["since"]),
        "until" not in f or parse(item["first_seen"]) < parse(f["until"]),
        "country" not in f or item["country_iso3"] == f["country"],
        "min_reports" not in f or item["n_reports"] >= f["min_reports"],
        "min_force_rank" not in f or (item["force_rank"] is not None and item["force_rank"] >= f["min_force_rank"]),
        "corroborated" not in f or item["corroborated"] == (f["corroborated"] == "true"),
        "incident_type" not in f or item["incident_type"] == f["incident_type"],
        bbox is None or (lat is not None and bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]),
    ])


instants = st.datetimes(min_value=datetime(2020, 5, 29), max_value=datetime(2020, 6, 3)).map(iso)
typed_filters = st.fixed_dictionaries({}, optional={
    "since": instants, "until": instants, "country": st.sampled_from(["USA", "NGA", "CIV", "FRA"]),
    "min_reports": st.integers(1, 6), "min_force_rank": st.integers(0, 5),
    "corroborated": st.sampled_from(["true", "false"]),
    "incident_type": st.sampled_from(["police_violence", "flood", "other", "fire"]),
    "bbox": st.sampled_from(["-180,-90,180,90", "-100,30,-60,50", "0,0,10,10", "-5,5,-4,6"]),
})


@FUZZ
@given(filters=typed_filters, limit=st.integers(1, 4))
def test_the_pages_of_any_filtered_listing_hold_exactly_the_matching_incidents_once(checked_api, filters, limit):
    everything = requests.get(checked_api.base + "/incidents", params={"limit": 200}, timeout=20).json()["items"]
    expected = [item["incident_id"] for item in everything if matches(item, filters)]
    got, cursor = [], None
    for _ in range(len(everything) + 1):
        r = requests.get(checked_api.base + "/incidents", params={**filters, "limit": limit, "cursor": cursor}, timeout=20)
        assert r.status_code == 200, r.text
        got += [item["incident_id"] for item in r.json()["items"]]
        cursor = r.json()["next"]
        if cursor is None:
            break
    assert got == expected

"""`crisislake serve` over real HTTP: a uvicorn subprocess on a free loopback port, the real PostgreSQL.

One schema, two roles (read-only and reviewer) and one server for the module, dropped after.
Expected values are read off tests/serve_fixtures.py.
"""
from __future__ import annotations

import json

import pytest
import requests
from serve_fixtures import TOKEN_ALICE, TOKEN_BOB

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("fastapi")

ALICE = {"Authorization": f"Bearer {TOKEN_ALICE}"}
BOB = {"Authorization": f"Bearer {TOKEN_BOB}"}


def get(api, path, **params):
    return requests.get(api.base + path, params=params, timeout=10)


def ids(response):
    return [i["incident_id"] for i in response.json()["items"]]


def test_health_names_the_schema_and_the_last_load(api, wh):
    body = get(api, "/health").json()

    assert body == {"status": "ok", "warehouse": "ok", "schema_name": wh.schema,
                    "last_load_run_id": "20260101T000000Z-aaaaaaaa",
                    "last_load_finished_at": "2026-01-01T00:05:00+00:00", "writes_enabled": True}


def test_incidents_come_newest_first_with_ties_broken_by_id(api):
    r = get(api, "/incidents")

    assert r.status_code == 200
    assert ids(r) == ["inc-c", "inc-b", "inc-e", "inc-a", "inc-d"]
    assert r.json()["next"] is None


def test_incident_item_has_the_contract_columns_as_json(api):
    item = get(api, "/incidents", pcode="US27053").json()["items"][0]

    assert item == {
        "incident_id": "inc-a", "first_seen": "2020-05-30T12:00:00+00:00", "last_seen": "2020-05-30T18:00:00+00:00",
        "date_key": 20200530, "n_reports": 3, "place": "Minneapolis, Minnesota, USA", "latitude": 44.9778,
        "longitude": -93.265, "country_iso3": "USA", "admin1_name": "Minnesota", "admin1_pcode": "US27",
        "admin2_name": "Hennepin", "admin2_pcode": "US27053", "place_confidence": 0.9,
        "incident_type": "police_violence", "force_rank": 4, "labels": ["police_force:1"], "corroborated": True,
        "corroboration_score": 0.85, "acled_event_ids": ["USA1", "USA2"], "reported_incident_ids": ["mn-1"],
        "run_id": "20260101T000000Z-aaaaaaaa",
        "representative_text": "Police fire tear gas, says @user_" + item["representative_text"][-8:],
    }
    assert "Witness1" not in item["representative_text"]


@pytest.mark.parametrize("params, expected", [
    ({"since": "2020-05-31"}, ["inc-c", "inc-b"]),
    ({"until": "2020-05-30T12:00:00Z"}, ["inc-d"]),
    ({"since": "2020-05-30T00:00:00+02:00", "until": "2020-06-01"}, ["inc-b", "inc-e", "inc-a", "inc-d"]),  # 22:00Z
    ({"country": "USA"}, ["inc-b", "inc-a"]),
    ({"admin": "Hennepin"}, ["inc-a"]),
    ({"admin": "Cote d'Ivoire Sud"}, ["inc-e"]),  # a quote in a value is data, bound as such
    ({"pcode": "US36"}, ["inc-b"]),
    ({"bbox": "-100,40,-70,46"}, ["inc-b", "inc-a"]),
    ({"bbox": "0,0,10,10"}, ["inc-c"]),
    ({"min_force_rank": 2}, ["inc-b", "inc-a"]),
    ({"min_reports": 3}, ["inc-c", "inc-a"]),
    ({"corroborated": "true"}, ["inc-c", "inc-a"]),
    ({"corroborated": "no"}, ["inc-b", "inc-e", "inc-d"]),
    ({"incident_type": "flood"}, ["inc-c"]),
    ({"country": "USA", "min_force_rank": 3, "corroborated": "yes"}, ["inc-a"]),
])
def test_incident_filters(api, params, expected):
    r = get(api, "/incidents", **params)

    assert r.status_code == 200, r.text
    assert ids(r) == expected


def test_pages_follow_the_cursor_and_stay_stable_when_rows_are_inserted(api, wh):
    first = get(api, "/incidents", limit=2).json()
    assert [i["incident_id"] for i in first["items"]] == ["inc-c", "inc-b"]
    # Inserted between two page requests: one newer than everything, one inside the page already served.
    wh.query("INSERT INTO {s}.fact_incident (incident_id, first_seen, last_seen, date_key, n_reports, corroborated, "
             "run_id) VALUES ('inc-new', '2021-01-01', '2021-01-01', 20210101, 1, false, 'r'), "
             "('inc-between', '2020-05-31 12:00+00', '2020-05-31 12:00+00', 20200531, 1, false, 'r')")
    try:
        second = get(api, "/incidents", limit=2, cursor=first["next"]).json()
        third = get(api, "/incidents", limit=2, cursor=second["next"]).json()
    finally:
        wh.query("DELETE FROM {s}.fact_incident WHERE incident_id IN ('inc-new', 'inc-between')")

    assert [i["incident_id"] for i in second["items"]] == ["inc-e", "inc-a"]
    assert [i["incident_id"] for i in third["items"]] == ["inc-d"]
    assert third["next"] is None


def test_a_cursor_used_with_other_filters_is_refused(api):
    cursor = get(api, "/incidents", limit=1, country="USA").json()["next"]

    r = get(api, "/incidents", limit=1, country="NGA", cursor=cursor)

    assert r.status_code == 422
    assert "other filters" in r.json()["detail"]


def test_incident_detail_has_pseudonymised_evidence_labels_and_corroboration(api):
    r = get(api, "/incidents/inc-a")

    body = r.json()
    assert r.status_code == 200
    assert [e["tweet_id"] for e in body["evidence"]] == ["101", "102", "103"]
    assert body["evidence_total"] == 3
    first = body["evidence"][0]
    assert first["tweet_url"] == "https://twitter.com/i/web/status/101"
    assert first["author_pseudonym"] == "a" * 64
    assert first["is_canonical"] is True
    assert first["labels"] == {"relevance": {"label": "1", "confidence": 0.95},
                               "police_force": {"label": "1", "confidence": 0.9},
                               "information_type": {"label": "caution_and_advice", "confidence": None}}
    assert first["text"].startswith("RT @user_") and "twitter.com/user_" in first["text"]
    text = json.dumps(body)
    for handle in ("Witness1", "witness1", "MplsPD", "Reporter_2"):
        assert handle not in text
    assert body["corroboration"] == [
        {"source": "acled", "source_id": "USA1", "score": 0.9, "event_date": "2020-05-30",
         "description": "Protesters clash with police", "url": None},
        {"source": "reported_incidents", "source_id": "mn-1", "score": 0.8, "event_date": "2020-05-30",
         "description": "Tear gas at Lake St", "url": "https://example.org/evidence/1"},
    ]


def test_unknown_incident_is_404(api):
    assert get(api, "/incidents/inc-zzz").status_code == 404


def test_marts_page_newest_period_first_and_filter(api):
    first = get(api, "/marts/conflict_monthly_country", limit=3).json()
    rest = get(api, "/marts/conflict_monthly_country", limit=3, cursor=first["next"]).json()
    nigeria = get(api, "/marts/conflict_monthly_country", country="Nigeria").json()
    daily = get(api, "/marts/disaster_tweets_daily", since="2020-06-02").json()

    assert [(i["month_start"], i["country"]) for i in first["items"]] == [
        ("2016-03-01", "Kenya"), ("2016-02-01", "Kenya"), ("2016-02-01", "Nigeria")]
    assert [(i["month_start"], i["country"], i["events"]) for i in rest["items"]] == [("2016-01-01", "Nigeria", 4)]
    assert rest["next"] is None
    assert [i["events"] for i in nigeria["items"]] == [6, 4]
    assert daily["items"] == [{"date": "2020-06-02", "disaster_type": "flood", "tweets": 2, "year": 2020}]


def test_unknown_or_unbuilt_mart_is_404_and_a_foreign_filter_422(api):
    assert get(api, "/marts/no_such_mart").status_code == 404
    assert get(api, "/marts/conflict_weekly").status_code == 404  # not built in this lake
    assert get(api, "/marts/disaster_tweets_daily", country="Kenya").status_code == 422


def test_review_queue_is_least_confident_first_newest_model_only(api):
    r = get(api, "/review-queue")

    assert [(i["tweet_id"], i["task"], i["confidence"]) for i in r.json()["items"]] == [
        ("106", "disaster_type", 0.4), ("105", "police_force", 0.55), ("104", "relevance", 0.61),
        ("101", "relevance", 0.75)]
    assert r.json()["items"][1]["text"].startswith("is that a police car? @user_")


def test_review_queue_pages_by_cursor_and_filters_by_task(api):
    first = get(api, "/review-queue", limit=2).json()
    second = get(api, "/review-queue", limit=2, cursor=first["next"]).json()
    relevance = get(api, "/review-queue", task="relevance").json()

    assert [i["tweet_id"] for i in first["items"] + second["items"]] == ["106", "105", "104", "101"]
    assert [i["tweet_id"] for i in relevance["items"]] == ["104", "101"]


def post(api, tweet_id, body, headers=None):
    return requests.post(f"{api.base}/review/{tweet_id}", json=body, headers=headers or {}, timeout=10)


def test_review_without_or_with_a_wrong_token_is_401(api, wh):
    body = {"decision": "confirm", "task": "relevance"}

    missing = post(api, 105, body)
    wrong = post(api, 105, body, {"Authorization": "Bearer not-a-token"})
    basic = post(api, 105, body, {"Authorization": f"Basic {TOKEN_ALICE}"})

    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert wh.query("SELECT COUNT(*) FROM {s}.review_decisions WHERE tweet_id = 105") == [(0,)]


def test_review_of_an_unknown_tweet_is_404(api):
    assert post(api, 999, {"decision": "confirm", "task": "relevance"}, ALICE).status_code == 404


@pytest.mark.parametrize("body", [
    {"decision": "approve", "task": "relevance"},
    {"decision": "relabel", "task": "relevance"},  # relabel without a label
    {"decision": "relabel", "task": "relevance", "label": "maybe"},  # not a relevance label
    {"decision": "confirm", "task": "sentiment"},
    {"decision": "confirm", "task": "relevance", "label": "0"},  # confirm of a label the model did not give
    {"decision": "confirm", "task": "relevance", "extra": 1},
    {"task": "relevance"},
    "not json at all",
    "Infinity", '{"decision": NaN}', '{"extra": -9223372036854775809}',  # parsed by Python, not encodable back
])
def test_review_with_a_bad_body_is_422(api, body):
    r = requests.post(f"{api.base}/review/104", data=body if isinstance(body, str) else json.dumps(body),
                      headers={**ALICE, "Content-Type": "application/json"}, timeout=10)

    assert r.status_code == 422, r.text


def test_review_decisions_are_appended_and_a_repeat_is_idempotent(api, wh):
    first = post(api, 106, {"decision": "relabel", "task": "disaster_type", "label": "hurricane"}, ALICE)
    repeat = post(api, 106, {"decision": "relabel", "task": "disaster_type", "label": "hurricane"}, ALICE)
    other = post(api, 106, {"decision": "confirm", "task": "disaster_type"}, BOB)
    again = post(api, 106, {"decision": "reject", "task": "disaster_type"}, ALICE)

    assert [first.status_code, repeat.status_code, other.status_code, again.status_code] == [201, 200, 201, 201]
    assert repeat.json() == first.json()
    assert first.json()["reviewer"] == "alice" and first.json()["model_label"] == "flood"
    rows = wh.query("SELECT reviewer, decision, label, model_label, model_version FROM {s}.review_decisions "
                    "WHERE tweet_id = 106 ORDER BY decided_at")
    assert rows == [("alice", "relabel", "hurricane", "flood", "v2"), ("bob", "confirm", "flood", "flood", "v2"),
                    ("alice", "reject", "flood", "flood", "v2")]
    assert "106" not in [i["tweet_id"] for i in get(api, "/review-queue").json()["items"]]


def test_a_tweet_outside_the_queue_can_be_relabelled_against_its_published_label(api, wh):
    r = post(api, 102, {"decision": "reject", "task": "police_force"}, BOB)

    assert r.status_code == 201
    assert (r.json()["label"], r.json()["model_label"], r.json()["model_version"]) == ("1", "1", None)


def test_reader_role_cannot_write(wh):
    with psycopg.connect(wh.read_url, autocommit=True) as conn:
        for statement in (
            "INSERT INTO {s}.review_decisions (decision_id, tweet_id, task, decision, reviewer, decided_at) "
            "VALUES ('x', 1, 'relevance', 'confirm', 'eve', now())",
            "UPDATE {s}.fact_incident SET n_reports = 0",
            "DELETE FROM {s}.fact_tweet",
            "DROP TABLE {s}.fact_incident",
        ):
            with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
                conn.execute(statement.format(s=wh.schema))
        # and the role is refused even with read-only mode switched off in its session
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"UPDATE {wh.schema}.fact_incident SET n_reports = 0")
    assert wh.query("SELECT COUNT(*) FROM {s}.fact_incident") == [(5,)]


def test_reviewer_role_can_only_append_decisions(wh):
    with psycopg.connect(wh.write_url, autocommit=True) as conn:
        for statement in ("UPDATE {s}.review_decisions SET label = 'x'", "DELETE FROM {s}.review_decisions",
                          "UPDATE {s}.fact_tweet SET text = 'x'", "SELECT * FROM {s}.fact_incident"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement.format(s=wh.schema))


def test_page_size_is_bounded(api):
    assert get(api, "/incidents", limit=200).status_code == 200
    assert [get(api, p, limit=n).status_code for p in ("/incidents", "/review-queue", "/marts/disaster_tweets_daily")
            for n in (0, 201)] == [422] * 6


def test_cors_is_closed_by_default(api):
    preflight = requests.options(api.base + "/incidents", timeout=10, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    simple = requests.get(api.base + "/incidents", headers={"Origin": "https://evil.example"}, timeout=10)

    assert "access-control-allow-origin" not in {k.lower() for k in preflight.headers}
    assert "access-control-allow-origin" not in {k.lower() for k in simple.headers}


def test_openapi_describes_every_endpoint(api):
    spec = get(api, "/openapi.json").json()

    assert sorted(spec["paths"]) == ["/health", "/incidents", "/incidents/{incident_id}", "/marts",
                                     "/marts/{name}", "/review-queue", "/review/{tweet_id}"]
    assert set(spec["paths"]["/review/{tweet_id}"]["post"]["responses"]) == {"200", "201", "401", "404", "422", "503"}


def test_docs_page_loads_its_assets_from_this_server(api):
    html = get(api, "/docs").text
    js = get(api, "/static/swagger/swagger-ui-bundle.js")

    assert "/static/swagger/swagger-ui-bundle.js" in html and "/static/swagger/swagger-ui.css" in html
    assert "http://" not in html.replace(api.base, "") and "https://" not in html
    assert js.status_code == 200 and len(js.content) > 500_000


HOSTILE = "x'; DROP TABLE fact_incident; --"
HUGE = "9" * 40


@pytest.mark.parametrize("path, params", [
    ("/incidents", {"since": HOSTILE}), ("/incidents", {"since": "2020-13-45"}),
    ("/incidents", {"until": "99999-01-01"}), ("/incidents", {"country": HOSTILE}),
    ("/incidents", {"admin": HOSTILE}), ("/incidents", {"admin": 'Lagos"; SELECT 1'}),
    ("/incidents", {"pcode": HOSTILE}), ("/incidents", {"bbox": HOSTILE}),
    ("/incidents", {"bbox": "1,2,3"}), ("/incidents", {"bbox": "-200,0,10,10"}), ("/incidents", {"bbox": "nan,0,1,1"}),
    ("/incidents", {"min_force_rank": HUGE}), ("/incidents", {"min_force_rank": "6"}),
    ("/incidents", {"min_reports": HUGE}), ("/incidents", {"min_reports": "1e3"}),
    ("/incidents", {"corroborated": HOSTILE}), ("/incidents", {"incident_type": HOSTILE}),
    ("/incidents", {"limit": HUGE}), ("/incidents", {"cursor": HOSTILE}), ("/incidents", {"cursor": "e" * 600}),
    ("/incidents/x';DROP TABLE fact_incident;--", {}),
    ("/marts/conflict_monthly_country;DROP", {}), ("/marts/conflict_monthly_country", {"since": HOSTILE}),
    ("/marts/conflict_monthly_country", {"country": HOSTILE}), ("/marts/conflict_monthly_country", {"limit": HUGE}),
    ("/marts/conflict_monthly_country", {"cursor": HOSTILE}),
    ("/review-queue", {"task": HOSTILE}), ("/review-queue", {"limit": HUGE}), ("/review-queue", {"cursor": HOSTILE}),
])
def test_hostile_query_values_are_422(api, path, params):
    r = requests.get(api.base + path, params=params, timeout=10)

    assert r.status_code == 422, (path, params, r.status_code, r.text)


@pytest.mark.parametrize("tweet_id, body", [
    ("1;DROP TABLE fact_tweet", {"decision": "confirm", "task": "relevance"}),
    (HUGE, {"decision": "confirm", "task": "relevance"}),
    ("-5", {"decision": "confirm", "task": "relevance"}),
    ("104", {"decision": HOSTILE, "task": "relevance"}),
    ("104", {"decision": "confirm", "task": HOSTILE}),
    ("104", {"decision": "relabel", "task": "relevance", "label": HOSTILE}),
    ("104", {"decision": "relabel", "task": "force_rank", "label": HUGE}),
])
def test_hostile_review_values_are_422(api, tweet_id, body):
    r = requests.post(f"{api.base}/review/{tweet_id}", json=body, headers=ALICE, timeout=10)

    assert r.status_code == 422, (tweet_id, body, r.status_code, r.text)


def test_hostile_values_never_reached_sql_as_text(api, wh):
    """Runs after the hostile requests above: the server logs every statement's SQL text."""
    logged = [line for line in api.sql_log().splitlines() if "crisislake.serve.sql" in line]

    assert logged, "the server logged no SQL"
    assert any("%(admin)s" in line for line in logged)  # the quoted admin name went in as a parameter
    for needle in ("DROP", HUGE, "Cote d", "Hennepin", "9999", "evil", 'Lagos"'):
        assert not any(needle in line for line in logged), needle
    assert wh.query("SELECT COUNT(*) FROM {s}.fact_incident") == [(5,)]
    assert wh.query("SELECT COUNT(*) FROM {s}.fact_tweet") == [(7,)]


@pytest.mark.parametrize("args, env, message", [
    (["serve"], {}, "crisislake: serve: serve.read_url is empty"),
    (["serve"], {"CRISISLAKE_SERVE__READ_URL": "postgresql://x@127.0.0.1:1/db",
                 "CRISISLAKE_SERVE__API_TOKENS": "alice:not-a-hash"}, "crisislake: serve: serve.api_tokens entry 1 is not"),
    (["serve", "setup"], {}, "crisislake: serve: warehouse.postgres_url is empty"),
])
def test_serve_command_errors_are_one_line(args, env, message, tmp_path):
    import os
    import subprocess
    import sys

    from serve_fixtures import ROOT

    base = {k: v for k, v in os.environ.items() if not k.startswith("CRISISLAKE_")}
    done = subprocess.run([sys.executable, "-m", "crisislake.cli", *args, "--lake-root", str(tmp_path)],
                          env={**base, "PYTHONPATH": str(ROOT / "lib"), **env}, capture_output=True, text=True,
                          timeout=60)

    assert done.returncode == 2
    assert done.stderr.strip().startswith(message) and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_misspelt_filter_is_refused_not_ignored(api):
    r = get(api, "/incidents", contry="USA")

    assert r.status_code == 422

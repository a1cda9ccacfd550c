"""A warehouse schema with hand-written rows, the API's roles, and a uvicorn server over real HTTP.

Used by tests/test_serve_*.py: one schema, two roles and one server per test module, all
dropped afterwards. Rows are written here by hand so every expected value in the tests can be
read off this file.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
UTC = timezone.utc
RUN = "20260101T000000Z-aaaaaaaa"
TOKEN_ALICE = "alice-token-0123456789"
TOKEN_BOB = "bob-token-9876543210"
PSEUDONYM_KEY = "test-key"


def ts(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


INCIDENTS = [
    # incident_id, first_seen, last_seen, n_reports, text, place, lat, lon, iso3, admin1, a1 pcode, admin2,
    # a2 pcode, place_conf, type, force_rank, labels, corroborated, score, acled ids, reported ids
    ("inc-a", ts(2020, 5, 30, 12), ts(2020, 5, 30, 18), 3, "Police fire tear gas, says @Witness1",
     "Minneapolis, Minnesota, USA", Decimal("44.977800"), Decimal("-93.265000"), "USA", "Minnesota", "US27",
     "Hennepin", "US27053", Decimal("0.900"), "police_violence", 4, "police_force:1", True, Decimal("0.850"),
     "USA1,USA2", "mn-1"),
    ("inc-b", ts(2020, 5, 31, 9), ts(2020, 5, 31, 9), 1, "Officer shoves protester", "New York, New York, USA",
     Decimal("40.712800"), Decimal("-74.006000"), "USA", "New York", "US36", "New York", "US36061",
     Decimal("0.800"), "police_violence", 2, "police_force:1", False, None, None, None),
    ("inc-c", ts(2020, 6, 1, 7), ts(2020, 6, 2, 7), 5, "Flood waters rise in Lagos", "Lagos, Nigeria",
     Decimal("6.524400"), Decimal("3.379200"), "NGA", "Lagos", "NG025", None, None, Decimal("0.700"), "flood",
     None, "disaster_type:flood", True, Decimal("0.600"), "NGA77", None),
    ("inc-d", ts(2020, 5, 29, 23), ts(2020, 5, 29, 23), 2, "Something happened somewhere", None, None, None,
     None, None, None, None, None, None, "other", 1, "", False, None, None, None),
    ("inc-e", ts(2020, 5, 30, 12), ts(2020, 5, 30, 13), 1, "Same hour as inc-a, in Cote d'Ivoire",
     "Abidjan, Cote d'Ivoire", Decimal("5.359952"), Decimal("-4.008256"), "CIV", "Cote d'Ivoire Sud", "CI01",
     None, None, Decimal("0.500"), "other", 0, "", False, None, None, None),
]
INCIDENT_COLUMNS = (
    "incident_id, first_seen, last_seen, date_key, n_reports, representative_text, place, latitude, longitude, "
    "country_iso3, admin1_name, admin1_pcode, admin2_name, admin2_pcode, place_confidence, incident_type, "
    "force_rank, labels, corroborated, corroboration_score, acled_event_ids, reported_incident_ids, run_id")

TWEETS = [
    # tweet_id, created_at, text, author_pseudonym, relevance, police_force, disaster_type, information_type
    (101, ts(2020, 5, 30, 12), "RT @Witness1: tear gas on Lake St https://twitter.com/witness1/status/9", "a" * 64,
     "1", "1", None, "caution_and_advice"),
    (102, ts(2020, 5, 30, 14), "@MplsPD fired at us, video by @Reporter_2", "b" * 64, "1", "1", None, None),
    (103, ts(2020, 5, 30, 18), "tear gas again near 3rd precinct", None, "1", "1", None, None),
    (104, ts(2020, 6, 1, 8), "water everywhere in Lagos", "c" * 64, "1", None, "flood", None),
    (105, ts(2020, 6, 1, 9), "is that a police car? @someone", "d" * 64, "1", "1", None, None),
    (106, ts(2020, 6, 1, 10), "heavy rain again", "e" * 64, "0", None, "flood", None),
    (9007199254740993, ts(2020, 6, 1, 11), "a tweet id past 2^53", None, "1", None, None, None),
]
EVIDENCE = [  # incident_id, tweet_id, is_canonical
    ("inc-a", 101, True), ("inc-a", 102, False), ("inc-a", 103, False), ("inc-c", 104, True),
]
CORROBORATION = [  # incident_id, source, source_id, score, event_date, description, url
    ("inc-a", "acled", "USA1", Decimal("0.900"), date(2020, 5, 30), "Protesters clash with police",
     None),
    ("inc-a", "reported_incidents", "mn-1", Decimal("0.800"), date(2020, 5, 30), "Tear gas at Lake St",
     "https://example.org/evidence/1"),
]
QUEUE = [  # tweet_id, task, label, confidence, threshold, reason, model_version
    (104, "relevance", "1", Decimal("0.61000"), Decimal("0.80000"), "relevance: below 0.800", "v2"),
    (104, "relevance", "1", Decimal("0.70000"), Decimal("0.80000"), "relevance: below 0.800", "v1"),
    (105, "police_force", "1", Decimal("0.55000"), Decimal("0.90000"), "police_force: below 0.900", "v2"),
    (106, "disaster_type", "flood", Decimal("0.40000"), Decimal("0.50000"), "disaster_type: below 0.500", "v2"),
    (101, "relevance", "1", Decimal("0.75000"), Decimal("0.80000"), "relevance: below 0.800", "v2"),
]


def insert_rows(conn, schema: str) -> None:
    """Write every fixture row above into ``schema`` (created by the warehouse model's DDL)."""
    for row in INCIDENTS:
        (iid, first, last, n, text, place, lat, lon, iso3, a1, a1p, a2, a2p, pc, itype, fr, labels, corr, score,
         acled, reported) = row
        conn.execute(f"INSERT INTO {schema}.fact_incident ({INCIDENT_COLUMNS}) VALUES "
                     "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                     (iid, first, last, int(first.strftime("%Y%m%d")), n, text, place, lat, lon, iso3, a1, a1p,
                      a2, a2p, pc, itype, fr, labels, corr, score, acled, reported, RUN))
    for tid, created, text, author, rel, pol, dis, info in TWEETS:
        conn.execute(f"INSERT INTO {schema}.fact_tweet (tweet_id, created_at, date_key, lang, text, author_pseudonym, "
                     "relevance, relevance_confidence, police_force, police_force_confidence, disaster_type, "
                     "information_type, needs_review, source_uri, run_id) VALUES "
                     "(%s,%s,%s,'en',%s,%s,%s,0.95,%s,%s,%s,%s,false,'file:///raw/t.json',%s)",
                     (tid, created, int(created.strftime("%Y%m%d")), text, author, rel, pol,
                      Decimal("0.9") if pol else None, dis, info, RUN))
    for iid, tid, canonical in EVIDENCE:
        created = next(t[1] for t in TWEETS if t[0] == tid)
        author = next(t[3] for t in TWEETS if t[0] == tid)
        conn.execute(f"INSERT INTO {schema}.bridge_incident_tweet VALUES (%s,%s,%s,%s,%s,%s,%s)",
                     (iid, tid, f"https://twitter.com/i/web/status/{tid}", author, created, canonical, RUN))
    for row in CORROBORATION:
        conn.execute(f"INSERT INTO {schema}.bridge_incident_corroboration VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                     row + (RUN,))
    for row in QUEUE:
        conn.execute(f"INSERT INTO {schema}.review_queue VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", row + (RUN,))
    conn.execute(f"INSERT INTO {schema}.load_audit VALUES (%s,'fact_incident',5,1,100,'file:///m.json',"
                 "'postgres',%s,%s)", (RUN, ts(2026, 1, 1, 0, 0), ts(2026, 1, 1, 0, 5)))


def write_marts(lake: Path) -> None:
    """Two tiny marts as ``build-marts`` lays them out (Parquet under year=YYYY/)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    monthly = lake / "marts" / "conflict_monthly_country" / "year=2016"
    monthly.mkdir(parents=True)
    pq.write_table(pa.table({
        "month_start": [date(2016, 1, 1), date(2016, 2, 1), date(2016, 2, 1), date(2016, 3, 1)],
        "country": ["Nigeria", "Nigeria", "Kenya", "Kenya"],
        "events": pa.array([4, 6, 2, 9], pa.int64()), "fatalities": pa.array([1, 0, 3, 5], pa.int64()),
    }), monthly / "part-0.parquet")
    daily = lake / "marts" / "disaster_tweets_daily" / "year=2020"
    daily.mkdir(parents=True)
    pq.write_table(pa.table({
        "date": [date(2020, 6, 1), date(2020, 6, 1), date(2020, 6, 2)],
        "disaster_type": ["flood", "earthquake", "flood"],
        "tweets": pa.array([3, 1, 2], pa.int64()),
    }), daily / "part-0.parquet")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Warehouse:
    """A fresh schema + roles on the project's PostgreSQL (dropped by :meth:`drop`)."""

    def __init__(self, pg_url: str):
        import psycopg
        from crisislake.serve.roles import role_url, setup
        from crisislake.warehouse.backends import PostgresBackend

        self.pg_url = pg_url
        self.schema = f"t_{uuid.uuid4().hex[:10]}"
        self.reader, self.reviewer = f"{self.schema}_r", f"{self.schema}_w"
        PostgresBackend(pg_url, self.schema).ensure_schema()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            insert_rows(conn, self.schema)
        setup(pg_url, self.schema, self.reader, self.reviewer)
        self.read_url, self.write_url = role_url(pg_url, self.reader), role_url(pg_url, self.reviewer)

    def query(self, sql: str, params=()):
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            cur = conn.execute(sql.format(s=self.schema), params)
            return cur.fetchall() if cur.description else None

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            for role in (self.reader, self.reviewer):
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE IF EXISTS {role}")


class Server:
    """``crisislake serve`` in a subprocess on a free loopback port; its log goes to ``log_path``."""

    def __init__(self, wh: Warehouse, lake: Path, log_path: Path, extra_env=None):
        from crisislake.serve.auth import token_hash

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRISISLAKE_")}
        env.update({
            "PYTHONPATH": str(ROOT / "lib"),
            "CRISISLAKE_SERVE__READ_URL": wh.read_url, "CRISISLAKE_SERVE__WRITE_URL": wh.write_url,
            "CRISISLAKE_SERVE__API_TOKENS": f"alice:{token_hash(TOKEN_ALICE)},bob:{token_hash(TOKEN_BOB)}",
            "CRISISLAKE_WAREHOUSE__SCHEMA": wh.schema, "WAREHOUSE_PSEUDONYM_KEY": PSEUDONYM_KEY,
            **(extra_env or {}),
        })
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crisislake.cli", "serve", "--port", str(self.port), "--log-sql",
             "--lake-root", str(lake)], env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT))
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not answer: {self.log_path.read_text()[-2000:]}")

    def sql_log(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        from cdp_browser import stop_process

        stop_process(self.proc)
        self.log.close()

#!/usr/bin/env python3
"""`GET /incidents` latency with 100k incidents: keyset + indexes vs OFFSET vs no indexes.

Loads BENCH_INCIDENTS (100,000) synthetic incidents with the contract's columns into a fresh
schema of the local PostgreSQL, sets up the API's roles and indexes (`crisislake serve setup`),
starts `crisislake serve` in a subprocess on a free loopback port, and drives it from
BENCH_CLIENTS (8) concurrent clients with a mix of filters, each client browsing 1-10 pages of
one listing. The same mix runs three ways, side by side in one run:

* keyset: the shipped API (cursor pages on the setup's indexes);
* offset: the simplest alternative, `LIMIT n OFFSET k` for page k (same indexes, same server);
* unindexed: the shipped keyset queries after dropping the setup's indexes (primary key only).

A deep walk (200 pages of 50) shows how OFFSET degrades with depth. Writes bench/results/serve.md.
Requests go to 127.0.0.1 only; every loop is bounded in count and time.

    .venv/bin/python bench/bench_serve.py          # BENCH_REQUESTS=3000 BENCH_CLIENTS=8
"""
from __future__ import annotations

import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "scripts"))

N_INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "100000"))
N_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
PAGE = 50
TIME_LIMIT_S = 300  # per variant
COUNTRIES = ["USA", "NGA", "KEN", "SDN", "SSD", "ETH", "SOM", "COD", "MLI", "BFA", "NER", "YEM", "SYR", "AFG",
             "IRQ", "UKR", "MMR", "HTI", "COL", "MEX"]
TYPES = ["police_violence", "flood", "earthquake", "wildfire", "explosion", "shooting", "other"]
EPOCH = datetime(2019, 1, 1, tzinfo=timezone.utc)


def synthetic_rows(n: int, seed: int = 7):
    rng = random.Random(seed)
    for i in range(n):
        c = rng.randrange(len(COUNTRIES))
        iso3 = COUNTRIES[c]
        a1, a2 = rng.randrange(10), rng.randrange(5)
        first = EPOCH + timedelta(seconds=rng.randrange(2 * 365 * 86400))
        located = rng.random() < 0.85
        fr = rng.randrange(6) if rng.random() < 0.5 else None
        corr = rng.random() < 0.2
        yield (f"inc-{i:08d}", first, first + timedelta(hours=rng.randrange(48)), int(first.strftime("%Y%m%d")),
               min(200, int(rng.expovariate(0.3)) + 1), f"report {i} text", f"place {iso3}-{a1}" if located else None,
               round(-40 + c * 4 + rng.random() * 3, 6) if located else None,
               round(-100 + c * 9 + rng.random() * 5, 6) if located else None,
               iso3 if located else None, f"{iso3} admin {a1}" if located else None,
               f"{iso3[:2]}{a1:02d}" if located else None, f"{iso3} district {a1}-{a2}" if located else None,
               f"{iso3[:2]}{a1:02d}{a2:03d}" if located else None, round(rng.random(), 3) if located else None,
               rng.choice(TYPES), fr, "police_force:1" if fr else "", corr, round(rng.random(), 3) if corr else None,
               f"{iso3}{i}" if corr else None, None, "bench")


COLUMNS = ("incident_id, first_seen, last_seen, date_key, n_reports, representative_text, place, latitude, "
           "longitude, country_iso3, admin1_name, admin1_pcode, admin2_name, admin2_pcode, place_confidence, "
           "incident_type, force_rank, labels, corroborated, corroboration_score, acled_event_ids, "
           "reported_incident_ids, run_id")


def load(pg_url: str, schema: str) -> float:
    import psycopg
    from crisislake.warehouse.backends import PostgresBackend

    PostgresBackend(pg_url, schema).ensure_schema()
    start = time.perf_counter()
    with psycopg.connect(pg_url) as conn:
        with conn.cursor().copy(f"COPY {schema}.fact_incident ({COLUMNS}) FROM STDIN") as copy:
            for row in synthetic_rows(N_INCIDENTS):
                copy.write_row(row)
        conn.execute(f"INSERT INTO {schema}.load_audit VALUES ('bench', 'fact_incident', %s, 1, 0, "
                     "'file:///bench', 'postgres', now(), now())", (N_INCIDENTS,))
    return time.perf_counter() - start


def filter_mix(rng: random.Random):
    """One listing's filters, drawn from what an app asks: dates, places, force, corroboration."""
    c = rng.choice(COUNTRIES)
    day = EPOCH + timedelta(days=rng.randrange(700))
    options = [
        {},
        {"country": c},
        {"pcode": f"{c[:2]}{rng.randrange(10):02d}"},
        {"pcode": f"{c[:2]}{rng.randrange(10):02d}{rng.randrange(5):03d}"},
        {"since": day.date().isoformat(), "until": (day + timedelta(days=30)).date().isoformat()},
        {"bbox": "-100,-40,-40,10"},
        {"min_force_rank": 4},
        {"min_reports": 10},
        {"corroborated": "true"},
        {"country": c, "min_force_rank": 3, "corroborated": "false"},
        {"since": day.date().isoformat(), "incident_type": rng.choice(TYPES)},
    ]
    return rng.choice(options)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_main(port: int, read_url: str, schema: str) -> None:
    """Subprocess mode: the shipped app plus one OFFSET route for the comparison."""
    import uvicorn
    from crisislake.serve import incidents as inc
    from crisislake.serve.app import AppSettings, create_app
    from fastapi import Query
    from fastapi.responses import JSONResponse

    app = create_app(AppSettings(read_url=read_url, schema=schema, pool_size=8))
    db = app.state.db

    @app.get("/bench/incidents-offset")
    def offset_listing(offset: int = Query(0, ge=0, le=10_000_000), limit: int = Query(50, ge=1, le=200),
                       country: str = None, pcode: str = None, since: datetime = None, until: datetime = None,
                       bbox: str = None, min_force_rank: int = None, min_reports: int = None,
                       corroborated: bool = None, incident_type: str = None):
        box = tuple(float(v) for v in bbox.split(",")) if bbox else None
        f = inc.IncidentFilters(since, until, country, None, pcode, box, min_force_rank, min_reports, corroborated,
                                incident_type)
        query, params = inc.offset_query(db.schema, f, offset, limit)
        rows = db.fetch(query, params)
        return JSONResponse({"items": [inc.incident_item(r, lambda t: t) for r in rows[:limit]],
                             "more": len(rows) > limit})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def wait_ready(base: str, proc) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if requests.get(base + "/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


class Client:
    """One keep-alive HTTP/1.1 connection (stdlib http.client: less client CPU than requests)."""

    def __init__(self, base: str):
        import http.client

        host, port = base.split("//")[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def get(self, path: str, params: dict):
        import json
        from urllib.parse import urlencode

        self.conn.request("GET", f"{path}?{urlencode(params)}")
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {body[:200]!r}")
        return json.loads(body)


def run_mix(base: str, mode: str, n_requests: int, seed: int = 11, clients: int = CLIENTS):
    """Latencies (ms) of ``n_requests`` requests from CLIENTS threads, each browsing listings."""
    lock = threading.Lock()
    latencies = []
    remaining = [n_requests]
    deadline = time.monotonic() + TIME_LIMIT_S

    def client(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        session = Client(base)
        while time.monotonic() < deadline:
            params = filter_mix(rng)
            pages = rng.randint(1, 10)
            cursor = None
            for page in range(pages):
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                if mode == "offset":
                    url, q = "/bench/incidents-offset", {**params, "limit": PAGE, "offset": page * PAGE}
                else:
                    url, q = "/incidents", {**params, "limit": PAGE, **({"cursor": cursor} if cursor else {})}
                t0 = time.perf_counter()
                body = session.get(url, q)
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(ms)
                cursor = body.get("next")
                if (mode != "offset" and not cursor) or (mode == "offset" and not body.get("more")):
                    break

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return latencies, time.perf_counter() - start


def deep_walk(base: str, pages: int = 200):
    """Per-page latency (ms) walking ``pages`` pages of the unfiltered listing, both ways."""
    s = Client(base)
    out = {"keyset": {}, "offset": {}}
    cursor = None
    for page in range(pages):
        t0 = time.perf_counter()
        body = s.get("/incidents", {"limit": PAGE, **({"cursor": cursor} if cursor else {})})
        out["keyset"][page + 1] = (time.perf_counter() - t0) * 1000
        cursor = body["next"]
        t0 = time.perf_counter()
        s.get("/bench/incidents-offset", {"limit": PAGE, "offset": page * PAGE})
        out["offset"][page + 1] = (time.perf_counter() - t0) * 1000
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(latencies, seconds, clients=CLIENTS):
    return {"clients": clients, "n": len(latencies), "p50": statistics.median(latencies), "p95": pct(latencies, 95),
            "p99": pct(latencies, 99), "rps": len(latencies) / seconds}


def write_results(results, walk, load_s, loads, cpu_ms, command):
    out = ROOT / "bench" / "results" / "serve.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# `GET /incidents` latency (bench/bench_serve.py)", "",
        f"- date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average before/after: {loads[0]} / {loads[1]} (shared machine)",
        f"- command: `{command}`",
        f"- data: {N_INCIDENTS:,} synthetic incidents (contract columns) loaded with COPY in {load_s:.1f} s into "
        "the local PostgreSQL; the API server is `crisislake serve` (uvicorn, 1 process, pool of 8) on 127.0.0.1",
        f"- workload: {CLIENTS} concurrent clients, each browsing 1-10 pages of {PAGE} for a random filter set "
        "(none, country, admin-1 or admin-2 P-code, 30-day window, bbox, min force rank, min reports, "
        "corroborated, and combinations); latency measured by the client, whole HTTP round trip",
        "", "| variant | clients | requests | p50 ms | p95 ms | p99 ms | requests/s |", "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['clients']} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} |")
    target = results["keyset + indexes (shipped)"]["p95"]
    lines += ["", f"Target p95 < 50 ms for the shipped variant at {CLIENTS} clients: "
              f"{'met' if target < 50 else 'NOT met'} ({target:.1f} ms). Server CPU per request (user + system "
              f"time of the API process over the shipped run, independent of the machine's load): {cpu_ms:.2f} ms, "
              f"i.e. at most ~{1000 / cpu_ms:.0f} requests/s per core for the Python side.", "",
              "Deep walk of the unfiltered listing, one client, ms per page:", "",
              "| page | keyset | offset |", "|---|---|---|"]
    for page in (1, 10, 50, 100, 200):
        if page in walk["keyset"]:
            lines.append(f"| {page} | {walk['keyset'][page]:.1f} | {walk['offset'][page]:.1f} |")
    lines += ["", "keyset = `WHERE first_seen <= :ts AND (first_seen < :ts OR incident_id < :id) ORDER BY "
              "first_seen DESC, incident_id DESC LIMIT n` on `(first_seen DESC, incident_id DESC)` and the "
              "P-code/country indexes of `crisislake serve setup`; offset = the same ORDER BY with `OFFSET k`; "
              "unindexed = the keyset queries with only the primary key.", ""]
    out.write_text("\n".join(lines))
    return out


def main() -> int:
    import devservices
    import psycopg
    from crisislake.serve.roles import INDEXES, role_url, setup

    pg_url = devservices.ensure_postgres()
    schema = f"bench_serve_{uuid.uuid4().hex[:8]}"
    reader = f"{schema}_r"
    loads = [os.getloadavg()[0]]
    load_s = load(pg_url, schema)
    proc = None
    try:
        setup(pg_url, schema, reader, f"{schema}_w")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRISISLAKE_")}
        env["PYTHONPATH"] = str(ROOT / "lib")
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), role_url(pg_url, reader), schema],
                                env=env)
        wait_ready(base, proc)
        run_mix(base, "keyset", 200)  # warm up the pool and PostgreSQL's caches
        cpu0 = process_cpu_s(proc.pid)
        shipped = run_mix(base, "keyset", N_REQUESTS)
        cpu_ms = (process_cpu_s(proc.pid) - cpu0) / len(shipped[0]) * 1000
        results = {"keyset + indexes (shipped)": summary(*shipped),
                   "OFFSET pages + indexes": summary(*run_mix(base, "offset", N_REQUESTS)),
                   "keyset + indexes (shipped), one client": summary(
                       *run_mix(base, "keyset", N_REQUESTS // 3, clients=1), clients=1)}
        walk = deep_walk(base)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for n, (tbl, _) in enumerate(INDEXES):
                conn.execute(f"DROP INDEX IF EXISTS {schema}.ix_{tbl}_{n}")
            conn.execute(f"ANALYZE {schema}.fact_incident")
        run_mix(base, "keyset", 50)
        results["keyset, no indexes (PK only)"] = summary(*run_mix(base, "keyset", max(300, N_REQUESTS // 5)))
        loads.append(os.getloadavg()[0])
        out = write_results(results, walk, load_s, [f"{v:.1f}" for v in loads], cpu_ms,
                            f"BENCH_REQUESTS={N_REQUESTS} BENCH_CLIENTS={CLIENTS} .venv/bin/python bench/bench_serve.py")
        print(out.read_text())
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            for role in (reader, f"{schema}_w"):
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE IF EXISTS {role}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit(main())

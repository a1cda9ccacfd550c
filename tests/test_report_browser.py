"""`crisislake report` opened in headless Debian Chromium: charts drawn, map points, no network, no errors.

The report is written by the real CLI from a lake with two marts and a warehouse schema with the
rows of tests/serve_fixtures.py (plus one incident whose text tries to inject markup); the API's
/docs page is opened the same way. Chromium comes from scripts/install_system_deps.sh.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cdp_browser import Browser, chromium_binary
from serve_fixtures import ROOT, Server, Warehouse, write_marts

pytest.importorskip("plotly")
pytest.importorskip("websocket")
if not chromium_binary():
    pytest.skip("chromium is not installed (bash scripts/install_system_deps.sh)", allow_module_level=True)

HOSTILE_TEXT = "</script><script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\"> by @SomeHandle"


@pytest.fixture(scope="module")
def wh(pg_url):
    warehouse = Warehouse(pg_url)
    warehouse.query("INSERT INTO {s}.fact_incident (incident_id, first_seen, last_seen, date_key, n_reports, "
                    "representative_text, place, latitude, longitude, corroborated, run_id) VALUES ('inc-x', "
                    "'2020-06-03', '2020-06-03', 20200603, 1, %s, 'Nairobi <b>bold</b>', -1.29, 36.82, false, 'r')",
                    (HOSTILE_TEXT,))
    yield warehouse
    warehouse.drop()


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def report(wh, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    lake = tmp / "lake"
    write_marts(lake)
    out = tmp / "report.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISISLAKE_")}
    env.update({"PYTHONPATH": str(ROOT / "lib"), "CRISISLAKE_SERVE__READ_URL": wh.read_url,
                "CRISISLAKE_WAREHOUSE__SCHEMA": wh.schema, "WAREHOUSE_PSEUDONYM_KEY": "k"})
    done = subprocess.run([sys.executable, "-m", "crisislake.cli", "report", "--output", str(out), "--lake-root",
                           str(lake), "--run-id", "20260102T000000Z-report00"], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def opened(browser, report):
    browser.open(report.as_uri())
    browser.wait_for("document.querySelectorAll('.js-plotly-plot').length === 4 && "
                     "document.querySelectorAll('#incident-map .geo .countries path').length === 1")
    browser.screenshot(report.with_suffix(".png"))
    return browser


def count(browser, selector):
    return browser.evaluate(f"document.querySelectorAll({selector!r}).length")


def test_report_requests_nothing_from_the_network_and_logs_no_error(opened, report):
    urls = opened.requested_urls()

    assert urls and all(u == report.as_uri() or u.startswith("data:") for u in urls), urls
    assert opened.errors() == []


def test_report_is_one_self_contained_file(report):
    text = report.read_text()

    assert "<script src" not in text and "<link" not in text and "cdn.plot.ly" not in text.split("</script>", 1)[1]
    assert 'id="generated"' in text and "20260102T000000Z-report00" in text


def test_tweet_charts_draw_one_bar_per_day_and_type(opened):
    # disaster_tweets_daily: (06-01 flood), (06-01 earthquake), (06-02 flood); fact_tweet: tweet 101 only
    assert count(opened, "#tweets-by-disaster .bars .point path") == 3
    assert count(opened, "#tweets-by-disaster .legend .traces") == 2
    assert count(opened, "#tweets-by-information .bars .point path") == 1


def test_map_draws_the_base_map_and_one_point_per_located_incident(opened):
    # inc-a, inc-b, inc-c, inc-e and inc-x have coordinates; inc-d has none
    assert count(opened, "#incident-map .scattergeo path.point") == 5
    # the inlined world_110m base map drew: country borders and land as long SVG paths
    assert opened.evaluate("document.querySelector('#incident-map .geo .countries path').getAttribute('d').length") > 100_000
    assert opened.evaluate("document.querySelector('#incident-map .geo .land path').getAttribute('d').length") > 10_000


def test_conflict_chart_has_one_line_per_country(opened):
    assert count(opened, "#conflict-monthly .scatterlayer .trace") == 2
    assert count(opened, "#conflict-monthly .scatterlayer .trace .point") == 4


def test_clicking_a_point_opens_its_evidence_and_corroboration(opened):
    opened.evaluate("document.getElementById('incident-map').emit('plotly_click', "
                    "{points: [{customdata: 'inc-a'}]})")

    links = opened.evaluate("Array.from(document.querySelectorAll('#incident-popup a')).map(a => a.href)")
    assert opened.evaluate("document.getElementById('incident-popup').dataset.incident") == "inc-a"
    assert links == ["https://twitter.com/i/web/status/101", "https://twitter.com/i/web/status/102",
                     "https://twitter.com/i/web/status/103", "https://example.org/evidence/1"]
    assert "acled USA1" in opened.evaluate("document.getElementById('incident-popup').innerText")


def test_top_incidents_table_lists_corroboration(opened):
    rows = opened.evaluate("Array.from(document.querySelectorAll('#top-incidents tbody tr'))"
                           ".map(r => [r.cells[0].innerText, r.cells[6].innerText, r.cells[8].innerText])")

    assert rows[0] == ["inc-c", "yes", ""]
    assert rows[1] == ["inc-a", "yes", "acled USA1 (0.90)\nreported_incidents mn-1 (0.80)"]
    assert [r[0] for r in rows] == ["inc-c", "inc-a", "inc-d", "inc-b", "inc-e", "inc-x"]


def test_data_freshness_shows_the_load_run_and_latest_data(opened):
    text = opened.evaluate("document.getElementById('freshness-table').innerText")

    assert "20260101T000000Z-aaaaaaaa" in text and "20260102T000000Z-report00" in text
    assert "2020-06-03T00:00:00+00:00" in text  # latest incident report (inc-x)


def test_texts_are_shown_as_text_and_handles_pseudonymised(opened):
    opened.evaluate("window.crisislakeShowIncident('inc-x')")
    page_text = opened.evaluate("document.body.innerText")

    assert opened.evaluate("window.pwned === undefined")
    assert count(opened, "img") == 0 and count(opened, "#top-incidents b") == 0
    assert "<img src=x" in page_text and "Nairobi <b>bold</b>" in page_text
    assert "SomeHandle" not in page_text and "Witness1" not in page_text


def test_api_docs_render_offline(browser, wh, tmp_path):
    server = Server(wh, tmp_path, tmp_path / "server.log")
    try:
        browser.open(server.base + "/docs")
        browser.wait_for("document.querySelectorAll('.opblock').length >= 7")
        urls = browser.requested_urls()
        errors = browser.errors()
    finally:
        server.stop()
    assert urls and all(u.startswith(server.base) for u in urls), urls
    assert errors == []

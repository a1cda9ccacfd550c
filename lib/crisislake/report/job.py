"""``crisislake report --output report.html``: one offline HTML file for analysts (no Spark).

Sections: data freshness and run ids; tweets per day by disaster type (``marts/
disaster_tweets_daily``) and by information type (warehouse ``fact_tweet``); incidents on a map,
each point opening a popup with its evidence links and corroborating records; conflict events per
month per country (``marts/conflict_monthly_country``); the top incidents with corroboration.
"""
from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

from crisislake.context import JobContext
from crisislake.pseudonym import key_from_env, pseudonymise_text
from crisislake.report import charts
from crisislake.report import page as pg
from crisislake.report.data import ReportData, gather


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="report.html", help="the HTML file to write (default report.html)")


def _freshness(data: ReportData, run_id: str, generated_at: datetime) -> str:
    rows = [["report run id", pg.esc(run_id)], ["generated at (UTC)", pg.esc(generated_at)]]
    rows += [[pg.esc(k), pg.esc(v)] for k, v in data.freshness.items()]
    return '<h2 id="freshness">Data freshness</h2>' + pg.table(["what", "value"], rows, "freshness-table")


def _tweets(data: ReportData) -> str:
    out = ['<h2 id="tweets">Tweets per day</h2>']
    if data.disaster_daily:
        out.append(pg.chart("tweets-by-disaster", charts.stacked_daily(
            data.disaster_daily, "date", "disaster_type", "By disaster type (marts/disaster_tweets_daily)")))
    else:
        out.append(pg.note(data.notes.get("disaster_daily", "no disaster-type labels yet")))
    if data.information_daily:
        out.append(pg.chart("tweets-by-information", charts.stacked_daily(
            data.information_daily, "date_key", "information_type", "By information type (fact_tweet)",
            from_key=True)))
    else:
        out.append(pg.note(data.notes.get("warehouse", "no information-type labels in the warehouse yet")))
    return "\n".join(out)


def _map(data: ReportData, hide) -> str:
    out = ['<h2 id="map">Incidents on the map</h2>']
    if data.map_incidents:
        out.append(pg.chart("incident-map", charts.incident_map(data.map_incidents, hide)))
        out.append('<div id="incident-popup" hidden></div>')
    else:
        out.append(pg.note(data.notes.get("warehouse", "no incident has coordinates yet")))
    return "\n".join(out)


def _conflict(data: ReportData) -> str:
    out = ['<h2 id="conflict">Conflict events per month</h2>']
    if data.conflict_monthly:
        out.append(pg.chart("conflict-monthly", charts.conflict_lines(data.conflict_monthly)))
    else:
        out.append(pg.note(data.notes.get("conflict_monthly", "no conflict events yet")))
    return "\n".join(out)


def _top(data: ReportData, hide) -> str:
    out = ['<h2 id="top">Top incidents and their corroboration</h2>']
    if not data.top_incidents:
        out.append(pg.note(data.notes.get("warehouse", "no incidents yet")))
        return "\n".join(out)
    rows = []
    for i in data.top_incidents:
        sources = data.corroboration.get(i["incident_id"], [])
        corr = "<br>".join(f"{pg.esc(c['source'])} {pg.esc(c['source_id'])} ({c['score']:.2f})" for c in sources)
        links = " ".join(f'<a href="{pg.esc(e["tweet_url"])}" rel="noopener noreferrer">[{n + 1}]</a>'
                         for n, e in enumerate(data.evidence.get(i["incident_id"], [])))
        rows.append([
            pg.esc(i["incident_id"]), pg.esc(i["first_seen"]), pg.esc(i["n_reports"]),
            pg.esc(i["place"]), pg.esc(i["incident_type"]), pg.esc(i["force_rank"]),
            '<span class="yes">yes</span>' if i["corroborated"] else "no",
            pg.esc(f"{i['corroboration_score']:.2f}" if i["corroboration_score"] is not None else ""),
            corr, links, pg.esc(hide(i["representative_text"])),
        ])
    out.append(pg.table(["incident", "first seen", "reports", "place", "type", "force rank", "corroborated",
                         "score", "corroborated by", "evidence", "text"], rows, "top-incidents"))
    return "\n".join(out)


def popup_details(data: ReportData, hide) -> Dict[str, Any]:
    """Per mapped incident: what its popup shows (links and texts, escaped by the page's script)."""
    out = {}
    for i in data.map_incidents:
        iid = i["incident_id"]
        out[iid] = {
            "place": i["place"], "n_reports": i["n_reports"], "first_seen": i["first_seen"],
            "text": hide(i["representative_text"]),
            "evidence": [{"tweet_url": e["tweet_url"], "created_at": e["created_at"], "is_canonical": e["is_canonical"]}
                         for e in data.evidence.get(iid, [])],
            "corroboration": [{"source": c["source"], "source_id": c["source_id"], "score": round(c["score"], 3),
                               "url": c["url"]} for c in data.corroboration.get(iid, [])],
        }
    return out


def build_report(data: ReportData, run_id: str, lake_root: str) -> str:
    key = key_from_env()

    def hide(text):
        return pseudonymise_text(text, key)

    generated_at = datetime.now(timezone.utc)
    sections: List[str] = [_freshness(data, run_id, generated_at), _tweets(data), _map(data, hide),
                           _conflict(data), _top(data, hide)]
    return pg.render("crisislake report", {"run": run_id, "lake": lake_root,
                                           "generated": generated_at.isoformat(timespec="seconds")},
                     sections, popup_details(data, hide))


def run(ctx: JobContext) -> int:
    args, config = ctx.args, ctx.config
    url = config.serve.read_url or config.warehouse.postgres_url
    data = gather(config.zone("marts"), url, config.warehouse.schema, config.spark.s3_endpoint)
    text = build_report(data, ctx.run_id, config.lake_root)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    for what, why in data.notes.items():
        print(f"crisislake report: {what}: {why}")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB; opens offline)")
    return 0

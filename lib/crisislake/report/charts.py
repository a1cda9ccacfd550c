"""The report's plotly figures (``ReportData`` -> ``plotly.graph_objects.Figure``), no I/O here."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any, Dict, List, Optional

TOP_COUNTRIES = 8
DAY_MS = 86_400_000  # bars one day wide (in milliseconds, plotly's unit on date axes)


def _day(date_key: int) -> date:
    return datetime.strptime(str(date_key), "%Y%m%d").date()


def stacked_daily(rows: List[Dict[str, Any]], day_col: str, type_col: str, title: str, from_key: bool = False):
    """A stacked bar chart of tweets per day, one trace per type."""
    import plotly.graph_objects as go

    by_type: Dict[str, Dict[date, int]] = defaultdict(dict)
    for r in rows:
        day = _day(r[day_col]) if from_key else r[day_col]
        by_type[r[type_col]][day] = by_type[r[type_col]].get(day, 0) + int(r["tweets"])
    fig = go.Figure()
    for kind in sorted(by_type, key=lambda k: -sum(by_type[k].values())):
        days = sorted(by_type[kind])
        fig.add_trace(go.Bar(x=days, y=[by_type[kind][d] for d in days], name=kind, width=DAY_MS * 0.8))
    fig.update_layout(barmode="stack", title=title, xaxis_title="day (UTC)", yaxis_title="tweets",
                      xaxis=dict(type="date", tickformat="%Y-%m-%d"),
                      legend_title=type_col.replace("_", " "), margin=dict(t=50, b=40, l=50, r=10), height=380)
    return fig


def conflict_lines(rows: List[Dict[str, Any]]):
    """Events per month for the countries with the most events (the rest summed as "other")."""
    import plotly.graph_objects as go

    totals: Dict[str, int] = defaultdict(int)
    for r in rows:
        totals[r["country"] or "unknown"] += int(r["events"])
    top = sorted(totals, key=lambda c: (-totals[c], c))[:TOP_COUNTRIES]
    series: Dict[str, Dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        country = r["country"] or "unknown"
        series[country if country in top else "other countries"][r["month_start"]] += int(r["events"])
    fig = go.Figure()
    for name in top + (["other countries"] if "other countries" in series else []):
        months = sorted(series[name])
        fig.add_trace(go.Scatter(x=months, y=[series[name][m] for m in months], mode="lines+markers", name=name))
    fig.update_layout(title="Conflict events per month (marts/conflict_monthly_country)", xaxis_title="month",
                      yaxis_title="events", margin=dict(t=50, b=40, l=50, r=10), height=380)
    return fig


def _short(text: Optional[str], n: int = 140) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def incident_map(incidents: List[Dict[str, Any]], hide):
    """Incidents as points on a world map; marker size grows with reports, colour tells corroboration.

    ``customdata`` carries the incident id, which the page's click handler uses to open the popup.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    for corroborated, colour, name in ((True, "#1b7837", "corroborated"), (False, "#c51b7d", "not corroborated")):
        points = [i for i in incidents if bool(i["corroborated"]) is corroborated]
        if not points:
            continue
        fig.add_trace(go.Scattergeo(
            lon=[p["longitude"] for p in points], lat=[p["latitude"] for p in points], name=name,
            customdata=[p["incident_id"] for p in points], mode="markers",
            marker=dict(size=[min(30, 6 + 2 * int(p["n_reports"]) ** 0.5) for p in points], color=colour,
                        opacity=0.75, line=dict(width=0.5, color="white")),
            text=[f"<b>{_html(p['place'] or p['incident_id'])}</b><br>{p['n_reports']} reports, "
                  f"{_html(p['incident_type'] or '')}<br>{_html(_short(hide(p['representative_text'])))}"
                  for p in points],
            hoverinfo="text"))
    fig.update_geos(projection_type="natural earth", showcountries=True, countrycolor="#999", showland=True,
                    landcolor="#f0efe9", showocean=True, oceancolor="#e6f0f7", resolution=110, fitbounds="locations")
    fig.update_layout(title="Incidents (click a point for its evidence)", height=480,
                      margin=dict(t=50, b=10, l=10, r=10), legend=dict(orientation="h"))
    return fig


def _html(text: str) -> str:
    import html

    return html.escape(str(text), quote=True)

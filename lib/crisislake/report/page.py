"""One self-contained HTML page: plotly.js and the world base map inlined, nothing fetched.

plotly.js comes from the plotly package (``plotly.offline.get_plotlyjs()``); the geo base map,
which plotly.js would otherwise download from its CDN, is inlined as
``window.PlotlyGeoAssets.topojson.world_110m`` from ``assets/world_110m.json``. Figures are
embedded as JSON and drawn by ``Plotly.newPlot``; every string from the data is HTML-escaped,
and JSON inside ``<script>`` has ``<``, ``>`` and ``&`` escaped, so a tweet text can never end
a script or inject markup.
"""
from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List

ASSETS = Path(__file__).resolve().parent / "assets"
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:16px 24px;color:#222}h1{font-size:1.6em;margin-bottom:0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;width:100%}td,th{border-bottom:1px solid #eee;padding:4px 6px;
text-align:left;vertical-align:top}.note{color:#8a5a00;background:#fff6e0;padding:6px 10px;border-radius:4px}
.muted{color:#666}.chart{min-height:380px}#incident-popup{border:1px solid #ccc;border-radius:6px;padding:8px 12px;
margin-top:8px;background:#fafafa}#incident-popup[hidden]{display:none}.yes{color:#1b7837;font-weight:600}
"""


def script_json(value: Any) -> str:
    """JSON safe to place inside ``<script>``.

    >>> script_json({"t": "</script><b>&"})
    '{"t": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0026"}'
    """
    text = json.dumps(value, default=_default)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(type(value).__name__)


def esc(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return html.escape(value.isoformat(timespec="seconds"))
    return html.escape(str(value), quote=True)


def chart(div_id: str, fig) -> str:
    """A div and the script that draws ``fig`` into it (figure JSON from plotly, script-escaped)."""
    spec = json.loads(fig.to_json())
    return (f'<div id="{div_id}" class="chart"></div>\n<script>Plotly.newPlot("{div_id}", '
            f'{script_json(spec["data"])}, {script_json(spec["layout"])}, '
            '{"displaylogo": false, "responsive": true});</script>')


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def table(headers: List[str], rows: List[List[str]], table_id: str) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


POPUP_JS = """
(function () {
  var details = %s;
  var map = document.getElementById("incident-map");
  var box = document.getElementById("incident-popup");
  function esc(s) { var d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML; }
  function show(id) {
    var d = details[id];
    if (!d) { return; }
    var links = d.evidence.map(function (e, i) {
      return '<li><a href="' + esc(e.tweet_url) + '" target="_blank" rel="noopener noreferrer">evidence ' + (i + 1) +
        (e.is_canonical ? " (canonical)" : "") + "</a> " + esc(e.created_at || "") + "</li>"; }).join("");
    var corr = d.corroboration.map(function (c) {
      var label = esc(c.source + " " + c.source_id) + " (" + esc(c.score) + ")";
      return "<li>" + (c.url ? '<a href="' + esc(c.url) + '" target="_blank" rel="noopener noreferrer">' + label +
        "</a>" : label) + "</li>"; }).join("");
    box.innerHTML = "<b>" + esc(d.place || id) + "</b> · " + esc(d.n_reports) + " reports · first seen " +
      esc(d.first_seen) + "<p>" + esc(d.text) + "</p><b>Evidence</b><ul>" + (links || "<li>none</li>") +
      "</ul><b>Corroboration</b><ul>" + (corr || "<li>none</li>") + "</ul>";
    box.hidden = false;
    box.setAttribute("data-incident", id);
  }
  window.crisislakeShowIncident = show;
  if (map && map.on) { map.on("plotly_click", function (ev) { show(ev.points[0].customdata); }); }
})();
"""


def render(title: str, generated: Dict[str, str], sections: List[str], popup_details: Dict[str, Any]) -> str:
    """The whole document."""
    from plotly.offline import get_plotlyjs

    topojson = (ASSETS / "world_110m.json").read_text(encoding="utf-8")
    meta = " · ".join(f"{esc(k)}: {esc(v)}" for k, v in generated.items())
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No network at all: images, fonts, scripts and connections only from this document.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline' "
        "'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:\">",
        f"<title>{esc(title)}</title><style>{CSS}</style>",
        f"<script>{get_plotlyjs()}</script>",
        f"<script>window.PlotlyGeoAssets = {{topojson: {{world_110m: {topojson}}}}};</script>",
        "</head><body>", f"<h1>{esc(title)}</h1>", f'<p class="muted" id="generated">{meta}</p>',
        *sections,
        f"<script>{POPUP_JS % script_json(popup_details)}</script>",
        "</body></html>",
    ])

"""One self-contained HTML page of a leaderboard: sortable tables and the charts, inline.

Nothing is fetched when the page opens: styles, the sorting script and the PNG charts (as
data: URIs) are all in the one file, so it can be mailed, archived or opened offline.
"""

from __future__ import annotations

import base64
import html
import math

import pandas as pd

from harness import leaderboard, plots, tables

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th { cursor: pointer; background: #f4f4f4; user-select: none; }
th.asc::after { content: " \\25B2"; } th.desc::after { content: " \\25BC"; }
td.text, th.text { text-align: left; }
tr.baseline { color: #777; }
tr.frontier td:first-child { font-weight: bold; }
img { max-width: 100%; width: 640px; margin-right: 1em; }
.note { color: #666; font-size: 0.85em; }
.toc { columns: 3; font-size: 0.9em; }
"""

# Click a header to sort by it; click again to reverse. Cells carry their raw value in data-v.
SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(ascending ? "asc" : "desc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.v, y = b.cells[column].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _sort_value(value: object) -> str:
    # Missing numbers sort last when ascending.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "Infinity"
    return str(value)


def _table(rows: list[dict]) -> str:
    shown = tables.shown_columns(rows, tables.MARKDOWN)
    text = tables.TEXT_COLUMNS
    head = "".join(
        f'<th class="{"text" if c in text else ""}">{html.escape(leaderboard.COLUMNS[c])}</th>' for c in shown
    )
    body = []
    for raw, cells in zip(rows, tables.text_rows(rows, shown), strict=True):
        classes = " ".join(filter(None, [raw["kind"], "frontier" if raw["frontier"] else ""]))
        tds = "".join(
            f'<td class="{"text" if c in text else ""}" data-v="{html.escape(_sort_value(raw[c]))}">'
            f"{html.escape(cell)}</td>"
            for c, cell in zip(shown, cells, strict=True)
        )
        body.append(f'<tr class="{classes}">{tds}</tr>')
    return f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


Headline = tuple[str, pd.DataFrame, str]
"""(group, its headline rows, the command that measured them)."""


def _anchor(name: str) -> str:
    return "t-" + plots.slug(name)


def page(
    df: pd.DataFrame,
    title: str = "Compression leaderboard",
    header: str = "",
    headlines: list[Headline] = (),
    charts: dict[str, bytes] | None = None,
) -> str:
    """The whole page: a table of contents, the `headlines` first, then every table of `df` with
    its charts (`charts`, by name as `plots.charts` makes them; drawn here when not given).
    `header` is extra HTML (e.g. the environment) placed under the title. Nothing on it depends on
    when it was made, so the same rows always give the same page."""
    charts = plots.charts(df, list(plots.KINDS)) if charts is None else charts
    sections = list(tables.section_rows(df))
    contents = [
        f'<li><a href="#{_anchor("headline " + g)}">headline: {html.escape(g)}</a></li>' for g, _, _ in headlines
    ]
    contents += [f'<li><a href="#{_anchor(section)}">{html.escape(section)}</a></li>' for section, _ in sections]
    parts = [f"<h1>{html.escape(title)}</h1>", header, f'<ul class="toc">{"".join(contents)}</ul>']
    parts.append(
        f'<p class="note">{html.escape(tables.BASELINE_NOTE)}. {html.escape(tables.FRONTIER_NOTE)}. '
        "Click a column header to sort.</p>"
    )
    for group, rows, command in headlines:
        ((_, table_rows),) = tables.section_rows(rows)
        parts += [
            f'<h2 id="{_anchor("headline " + group)}">Headline: {html.escape(group)}</h2>',
            _table(table_rows),
            f'<p class="note">Measured with <code>{html.escape(command)}</code>.</p>',
        ]
    charted = {title: name for name, title, _ in plots.chart_sections(df)}
    for section, rows in sections:
        parts += [f'<h2 id="{_anchor(section)}">{html.escape(section)}</h2>', _table(rows)]
        if section in charted:
            for kind in plots.KINDS:
                data = base64.b64encode(charts[f"{charted[section]}-{kind}.png"]).decode()
                alt = html.escape(f"{section}: bits/byte vs {kind}")
                parts.append(f'<img alt="{alt}" src="data:image/png;base64,{data}">')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(parts)
        + f"\n<script>{SCRIPT}</script>\n</body></html>\n"
    )

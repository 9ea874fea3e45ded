"""report.html: the page an analyst opens after a replay, self-contained (inline CSS,
inline JS, an inline SVG chart drawn here), so it opens anywhere with no network.

It shows the totals (issued, re-rated, difference, in CNY and in fen), the catalog
versions of each side, the difference per local day as a bar chart and a table, and a
per-subscriber table sortable by a click on a column header, ranked by impact
(|difference|) and bounded to `TOP_SUBSCRIBERS` rows (diff.csv has every one).

Stable hooks for tests and scripts: the totals are the text of `#total-issued-fen`,
`#total-rerated-fen`, `#total-diff-fen` (and `-cny`); a chart bar is
`rect[data-day][data-diff-fen]`; a table row is `tr[data-msisdn]`; the table's current
order is `table#subscribers[data-sort-key][data-sort-dir]`; the script sets
`html[data-js="ready"]` once it ran. `report.html#sort=<key>[:asc|:desc]` clicks that
column's header on load (keys: the `data-key` of each header).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from html import escape
from pathlib import Path

from rater.replay.diff import KINDS, Amounts, Diff, Side, SubscriberRow

#: Rows of the per-subscriber table in the page; a huge run keeps its page small.
TOP_SUBSCRIBERS = 1000
#: A chart over more days than this shows only the days that have a charge.
MAX_CHART_SPAN_DAYS = 732

_KIND_LABEL = {"USAGE": "usage", "PLAN_FEE": "plan fees", "PACK_FEE": "pack fees"}


def yuan(fen: int, signed: bool = False) -> str:
    """Fen as yuan with two decimals and thousands separators, by integer arithmetic."""
    sign = "-" if fen < 0 else ("+" if signed and fen > 0 else "")
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def _offset_label(offset_ms: int) -> str:
    minutes = abs(offset_ms) // 60_000
    return f"UTC{'-' if offset_ms < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def _sign_class(fen: int) -> str:
    return "pos" if fen > 0 else ("neg" if fen < 0 else "zero")


# ---- the summary ------------------------------------------------------------------------


def _versions(side: Side) -> str:
    if not side.catalog_versions:
        return "<span class=muted>no events</span>"
    return " ".join(
        f'<code class=version data-events="{n}">{escape(v)}</code>'
        f" <span class=muted>({n:,} events)</span>"
        for v, n in sorted(side.catalog_versions.items())
    )


def _summary(diff: Diff) -> str:
    t = diff.total
    rows = []
    for name, label, fen, side in (
        ("issued", "Issued", t.issued_fen, diff.issued),
        ("rerated", "Re-rated", t.rerated_fen, diff.rerated),
    ):
        rows.append(
            f"<tr><th scope=row>{label}</th>"
            f'<td class=num><span id="total-{name}-cny">{yuan(fen)}</span></td>'
            f'<td class=num><span id="total-{name}-fen">{fen}</span></td>'
            f'<td class=num id="charges-{name}">{side.charges:,}</td>'
            f'<td class=num id="events-{name}">{side.events:,}</td>'
            f'<td id="versions-{name}">{_versions(side)}</td></tr>'
        )
    d = t.diff_fen
    rows.append(
        f'<tr class="diff {_sign_class(d)}"><th scope=row>Difference</th>'
        f'<td class=num><span id="total-diff-cny">{yuan(d, signed=True)}</span></td>'
        f'<td class=num><span id="total-diff-fen">{d}</span></td>'
        f"<td class=num colspan=2></td><td class=muted>re-rated minus issued</td></tr>"
    )
    by_kind = diff.total_by_kind()
    kinds = "".join(
        f'<tr data-kind="{k.value}"><th scope=row>{_KIND_LABEL.get(k.value, k.value)}</th>'
        f"<td class=num>{yuan(a.issued_fen)}</td><td class=num>{yuan(a.rerated_fen)}</td>"
        f'<td class="num {_sign_class(a.diff_fen)}" data-diff-fen="{a.diff_fen}">'
        f"{yuan(a.diff_fen, signed=True)}</td></tr>"
        for k, a in by_kind.items()
    )
    return (
        "<section id=summary><h2>Totals</h2>"
        "<table class=totals><thead><tr><th></th><th>CNY</th><th>fen</th><th>charges</th>"
        "<th>events</th><th>catalog version(s)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        "<h3>By charge kind (CNY)</h3>"
        "<table class=kinds><thead><tr><th></th><th>issued</th><th>re-rated</th>"
        f"<th>difference</th></tr></thead><tbody>{kinds}</tbody></table></section>"
    )


# ---- the difference by day ----------------------------------------------------------------


def _chart_days(
    days: Sequence[tuple[date, tuple[Amounts, ...]]],
) -> list[tuple[date, int]]:
    """(day, difference) for each day of the chart: every day from the first charged one
    to the last, or only the charged days when that span is too long to draw."""
    diff_of = {d: sum(a.diff_fen for a in by_kind) for d, by_kind in days}
    if not diff_of:
        return []
    first, last = days[0][0], days[-1][0]
    span = (last - first).days + 1
    if span > MAX_CHART_SPAN_DAYS:
        return list(diff_of.items())
    return [(first + timedelta(n), diff_of.get(first + timedelta(n), 0)) for n in range(span)]


def _chart(bars: list[tuple[date, int]], offset_ms: int) -> str:
    """An SVG bar chart of the difference per day, zero line across, labels in CNY."""
    width, height, left, right, top, bottom = 960, 240, 88, 12, 22, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    if not bars or all(d == 0 for _, d in bars):
        return (
            f'<svg id=chart-by-day role=img viewBox="0 0 {width} 60" width="100%">'
            '<text x="16" y="36" class=muted>No difference on any day.</text></svg>'
        )
    hi = max(0, max(d for _, d in bars))
    lo = min(0, min(d for _, d in bars))
    scale = plot_h / (hi - lo)

    def y(fen: int) -> float:
        return top + (hi - fen) * scale

    step = plot_w / len(bars)
    parts = [
        f'<svg id=chart-by-day role=img viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="difference per local day ({_offset_label(offset_ms)})">',
        f'<text class=axis x="{left - 6}" y="11" text-anchor=end>CNY</text>',
    ]
    for fen in sorted({hi, lo, 0}):
        parts.append(
            f'<line class=grid x1="{left}" x2="{width - right}" y1="{y(fen):.1f}" '
            f'y2="{y(fen):.1f}"/>'
        )
        if fen == 0 or abs(y(fen) - y(0)) >= 14:  # a label too close to 0.00 would cover it
            parts.append(
                f'<text class=axis x="{left - 6}" y="{y(fen) + 4:.1f}" '
                f"text-anchor=end>{yuan(fen, signed=True)}</text>"
            )
    label_every = max(1, -(-len(bars) // 10))
    for i, (day, fen) in enumerate(bars):
        x = left + i * step
        if fen:
            bar_h = max(abs(fen) * scale, 2.0)  # a fen still shows
            top_y = y(0) - bar_h if fen > 0 else y(0)
            parts.append(
                f'<rect class={_sign_class(fen)} data-day="{day.isoformat()}" '
                f'data-diff-fen="{fen}" x="{x + step * 0.1:.1f}" y="{top_y:.1f}" '
                f'width="{max(step * 0.8, 1):.1f}" height="{bar_h:.1f}">'
                f"<title>{day.isoformat()}: {yuan(fen, signed=True)} CNY ({fen} fen)</title>"
                "</rect>"
            )
        if i % label_every == 0 or i == len(bars) - 1:
            parts.append(
                f'<text class=axis x="{x + step / 2:.1f}" y="{height - bottom + 16}" '
                f"text-anchor=middle>{day.strftime('%m-%d')}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _by_day_table(days: Iterable[tuple[date, tuple[Amounts, ...]]]) -> str:
    heads = "".join(f"<th>{_KIND_LABEL.get(k.value, k.value)}</th>" for k in KINDS)
    rows = []
    for day, by_kind in days:
        if all(a.is_zero for a in by_kind):
            continue
        total = sum(by_kind, Amounts())
        cells = "".join(
            f'<td class="num {_sign_class(a.diff_fen)}">{yuan(a.diff_fen, signed=True)}</td>'
            for a in by_kind
        )
        rows.append(
            f'<tr data-day="{day.isoformat()}"><td>{day.isoformat()}</td>'
            f"<td class=num>{yuan(total.issued_fen)}</td>"
            f"<td class=num>{yuan(total.rerated_fen)}</td>"
            f'<td class="num {_sign_class(total.diff_fen)}">'
            f"{yuan(total.diff_fen, signed=True)}</td>{cells}</tr>"
        )
    return (
        "<details><summary>The figures per day (CNY; diff-by-day.csv has them in fen)"
        "</summary><table class=days><thead><tr><th>day</th><th>issued</th><th>re-rated</th>"
        f"<th>difference</th>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</details>"
    )


# ---- the subscribers ------------------------------------------------------------------------


def _top(rows: Iterable[SubscriberRow], limit: int) -> tuple[list[SubscriberRow], int, int]:
    """The `limit` subscribers of largest |difference| (then by msisdn), and how many
    were charged at all and how many differ, in one pass holding `limit` rows."""
    counts = [0, 0]  # charged, differing

    def charged() -> Iterator[SubscriberRow]:
        for row in rows:
            t = row.total
            if not t.is_zero:
                counts[0] += 1
                counts[1] += t.diff_fen != 0
                yield row

    top = heapq.nsmallest(limit, charged(), key=lambda r: (-abs(r.total.diff_fen), r.msisdn))
    return top, counts[0], counts[1]


def _money_cell(fen: int, signed: bool = False) -> str:
    cls = f"num {_sign_class(fen)}" if signed else "num"
    return f'<td class="{cls}" data-sort="{fen}" title="{fen} fen">{yuan(fen, signed)}</td>'


def _subscribers(diff: Diff, limit: int) -> str:
    top, charged, differing = _top(diff.subscribers(), limit)
    kind_heads = "".join(
        f'<th data-key="diff-{k.value.lower()}" data-type=num>'
        f"<button type=button>{_KIND_LABEL.get(k.value, k.value)} Δ</button></th>"
        for k in KINDS
    )
    rows = []
    for rank, row in enumerate(top, 1):
        t = row.total
        rows.append(
            f'<tr data-msisdn="{escape(row.msisdn)}" data-diff-fen="{t.diff_fen}">'
            f'<td class=num data-sort="{rank}">{rank}</td>'
            f'<td data-sort="{escape(row.msisdn)}">{escape(row.msisdn)}</td>'
            + _money_cell(t.issued_fen)
            + _money_cell(t.rerated_fen)
            + _money_cell(t.diff_fen, signed=True)
            + _money_cell(abs(t.diff_fen))
            + "".join(_money_cell(a.diff_fen, signed=True) for a in row.by_kind)
            + "</tr>"
        )
    note = (
        f"All {charged:,} subscribers charged on either side"
        if len(top) == charged
        else f"The {len(top):,} subscribers of largest |difference| of {charged:,} charged"
        " on either side; <code>diff.csv</code> has every one"
    )
    return (
        "<section><h2>Subscribers</h2>"
        f'<p id=subscriber-note data-shown="{len(top)}" data-charged="{charged}" '
        f'data-differing="{differing}">{note}; {differing:,} with a difference. '
        "Amounts in CNY (hover for fen); click a column header to sort.</p>"
        "<table id=subscribers data-sort-key=impact data-sort-dir=desc><thead><tr>"
        "<th data-key=rank data-type=num><button type=button>#</button></th>"
        "<th data-key=msisdn data-type=text><button type=button>subscriber</button></th>"
        "<th data-key=issued data-type=num><button type=button>issued</button></th>"
        "<th data-key=rerated data-type=num><button type=button>re-rated</button></th>"
        "<th data-key=diff data-type=num><button type=button>difference</button></th>"
        "<th data-key=impact data-type=num aria-sort=descending>"
        "<button type=button>|difference|</button></th>"
        f"{kind_heads}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


# ---- the page ---------------------------------------------------------------------------------

_CSS = """
:root { --pos: #1d4ed8; --neg: #c2410c; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #111827; margin: 0 auto; padding: 24px 32px 48px; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 14px; margin: 16px 0 6px; color: #374151; }
.muted { color: var(--muted); fill: var(--muted); }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; }
thead th { background: #f9fafb; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.totals td.num { font-size: 16px; }
tr.diff th, tr.diff td { font-weight: 600; border-top: 2px solid #9ca3af; }
.pos { color: var(--pos); fill: var(--pos); } .neg { color: var(--neg); fill: var(--neg); }
code.version { background: #f3f4f6; padding: 1px 5px; border-radius: 4px; }
#subscribers th button { font: inherit; font-weight: 600; background: none; border: 0;
  padding: 0; cursor: pointer; color: inherit; }
#subscribers th[aria-sort=descending] button::after { content: " \\25BC"; }
#subscribers th[aria-sort=ascending] button::after { content: " \\25B2"; }
#subscribers tbody tr:hover { background: #f9fafb; }
svg text.axis { font-size: 11px; fill: var(--muted); }
svg line.grid { stroke: #d1d5db; stroke-width: 1; }
details { margin-top: 8px; } summary { cursor: pointer; color: #374151; }
"""

# Sorting: a click on a header sorts by its column, numbers largest first, text A-Z; a
# second click on the same header reverses. Ties keep msisdn order, so the order is stable.
_JS = """
(function () {
  var table = document.getElementById("subscribers");
  if (table) {
    var body = table.tBodies[0];
    var heads = table.tHead.rows[0].cells;
    var value = function (row, col, num) {
      var v = row.cells[col].getAttribute("data-sort");
      return num ? parseInt(v, 10) : v;
    };
    var sortBy = function (col, dir) {
      var num = heads[col].getAttribute("data-type") === "num";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = value(a, col, num), y = value(b, col, num);
        if (x !== y) { return (x < y ? -1 : 1) * dir; }
        var ma = a.getAttribute("data-msisdn"), mb = b.getAttribute("data-msisdn");
        return ma < mb ? -1 : (ma > mb ? 1 : 0);
      });
      rows.forEach(function (r) { body.appendChild(r); });
      for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
      heads[col].setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      table.setAttribute("data-sort-key", heads[col].getAttribute("data-key"));
      table.setAttribute("data-sort-dir", dir > 0 ? "asc" : "desc");
    };
    Array.prototype.forEach.call(heads, function (th, col) {
      th.querySelector("button").addEventListener("click", function () {
        var again = table.getAttribute("data-sort-key") === th.getAttribute("data-key");
        var first = th.getAttribute("data-type") === "num" ? -1 : 1;
        var now = table.getAttribute("data-sort-dir") === "asc" ? 1 : -1;
        sortBy(col, again ? -now : first);
      });
    });
    var m = /[#&]sort=([\\w-]+)(?::(asc|desc))?/.exec(window.location.hash);
    if (m) {
      for (var i = 0; i < heads.length; i++) {
        if (heads[i].getAttribute("data-key") !== m[1]) { continue; }
        for (var n = 0; n < 2; n++) {
          heads[i].querySelector("button").click();
          if (!m[2] || table.getAttribute("data-sort-dir") === m[2]) { break; }
        }
      }
    }
  }
  document.documentElement.setAttribute("data-js", "ready");
})();
"""


def render_report(diff: Diff, title: str, limit: int = TOP_SUBSCRIBERS) -> str:
    """The whole page as one string (deterministic: the same diff gives the same bytes)."""
    days = list(diff.days())
    zone = _offset_label(diff.offset_ms)
    verdict = (
        "<p id=verdict class=zero>No difference: the same charges on both sides.</p>"
        if diff.is_zero
        else f'<p id=verdict class="{_sign_class(diff.total.diff_fen)}">The re-rating changes '
        f"{yuan(diff.total.diff_fen, signed=True)} CNY in total.</p>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang=en><head><meta charset="utf-8">'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        "<p class=muted>Issued charges against re-rated charges; difference = re-rated minus"
        f" issued. Days are local days of the catalog's zone ({zone}).</p>"
        f"{verdict}{_summary(diff)}"
        f"<section><h2>Difference by day</h2>{_chart(_chart_days(days), diff.offset_ms)}"
        f"{_by_day_table(days)}</section>"
        f"{_subscribers(diff, limit)}"
        f"<script>{_JS}</script></body></html>\n"
    )


def write_report(path: Path, diff: Diff, title: str, limit: int = TOP_SUBSCRIBERS) -> None:
    path.write_text(render_report(diff, title, limit), encoding="utf-8")

"""The report's ``index.html``: one self-contained file (no script, no network, no
CDN) with inline SVG charts from matplotlib's SVG backend. Every value from the data
is escaped. Readable on a phone (fluid layout) and printed on A4 (print styles).
"""

from __future__ import annotations

import html
import io
import math
from typing import Any

import numpy as np
import pandas as pd

from retention_cli.io.writers import format_cell, plain, tidy_numbers

CSS = """
:root { --ink:#1d2733; --muted:#5b6775; --line:#d9dee4; --accent:#2364aa; --bad:#b3261e; --good:#1e7b34; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 1.2rem; max-width: 1100px; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .6rem;
  border-bottom: 2px solid var(--line); padding-bottom: .2rem; }
.sub { color: var(--muted); margin: 0 0 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: .7rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; break-inside: avoid; }
.card .k { color: var(--muted); font-size: .85rem; } .card .v { font-size: 1.35rem; font-weight: 600; }
.card .d { font-size: .8rem; color: var(--muted); } .up { color: var(--good); } .down { color: var(--bad); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: .5rem; break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; } figcaption { font-size: .85rem; color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { padding: .25rem .45rem; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; } th { background: #f4f6f8; }
table.heat td { border: 1px solid #fff; text-align: center; min-width: 2.4rem; }
.note { color: var(--muted); font-size: .85rem; } ul.notes li { margin: .2rem 0; }
@media print { body { max-width: none; padding: 0; font-size: 11px; } h2 { break-after: avoid; }
  .charts { grid-template-columns: 1fr 1fr; } @page { size: A4; margin: 12mm; } }
"""



def _floats(values) -> np.ndarray:
    """Chart values as floats, a missing one (None, NaN, pandas' NA) as NaN: a gap."""
    return np.array([np.nan if v is None or v is pd.NA or v != v else float(v) for v in values], dtype=float)

def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


# --- charts --------------------------------------------------------------------------------

def _figure():
    import matplotlib

    matplotlib.use("svg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "retention", "svg.fonttype": "none", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=100)
    return fig, ax


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def line_chart(labels: list[str], series: dict[str, list[float]], *, percent: bool = False,
               band: tuple[list[float], list[float]] | None = None, right: dict[str, list[float]] | None = None,
               right_percent: bool = False) -> str:
    """Lines over periods; an optional shaded band (margin of error) around the first
    series and optional series on a second axis."""
    fig, ax = _figure()
    x = np.arange(len(labels))
    colours = ["#2364aa", "#b3261e", "#1e7b34", "#8a5a00"]
    for i, (name, values) in enumerate(series.items()):
        ax.plot(x, _floats(values), marker="o", ms=3, lw=1.6, color=colours[i % 4], label=name)
    if band is not None:
        ax.fill_between(x, _floats(band[0]), _floats(band[1]),
                        color=colours[0], alpha=.15, lw=0, label="95 % margin")
    if percent:
        ax.yaxis.set_major_formatter(_pct())
    handles, names = ax.get_legend_handles_labels()
    if right:
        ax2 = ax.twinx()
        for j, (name, values) in enumerate(right.items()):
            ax2.plot(x, _floats(values), marker="s", ms=3, lw=1.2, ls="--",
                     color=colours[(len(series) + j) % 4], label=name)
        if right_percent:
            ax2.yaxis.set_major_formatter(_pct())
        h2, n2 = ax2.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    step = max(1, math.ceil(len(labels) / 6))  # at most six labels: they never collide
    ax.set_xticks(x[::step], [labels[i] for i in range(0, len(labels), step)], rotation=0)
    ax.legend(handles, names, fontsize=8, frameon=False, loc="best")
    ax.grid(axis="y", color="#e5e8ec", lw=.6)
    return _svg(fig)


def bar_chart(labels: list[str], values: list[float], *, percent: bool = True,
              reference: list[float | None] | None = None, counts: list[int] | None = None,
              series: str = "observed") -> str:
    """Bars, with a benchmark mark per bar when ``reference`` is given; ``series``
    names the bars in the legend (a legend only where there are two things to tell
    apart, above the plot, never on the data)."""
    fig, ax = _figure()
    x = np.arange(len(labels))
    v = _floats(values)
    ax.bar(x, np.nan_to_num(v), color="#2364aa", width=.6, label=series)
    if reference is not None:
        ref = _floats(reference)
        ax.scatter(x, ref, marker="_", s=600, color="#b3261e", zorder=3, label="benchmark (literature)")
    if counts is not None:
        for xi, vi, n in zip(x, v, counts):
            ax.annotate(f"n={n}", (xi, 0 if math.isnan(vi) else vi), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=8)
    ax.set_xticks(x, labels)
    if percent:
        ax.yaxis.set_major_formatter(_pct())
        ax.set_ylim(0, 1.05)
    if reference is not None:
        ax.legend(fontsize=8, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2)
    return _svg(fig)


def _pct():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{100 * v:.1f} %".replace(".0 %", " %"))


# --- tables ----------------------------------------------------------------------------------

def kpi_tables(df: pd.DataFrame, by: list[str], percent: set[str] | tuple = ()) -> str:
    """A period × segment KPI table as a manager reads it: the totals with KPIs as
    rows and periods as columns, then the segments of the last period."""
    from retention_cli.io.writers import transpose_for_terminal

    totals = df[(df[by] == "(all)").all(axis=1)] if by else df
    shown = totals.drop(columns=[*by, "complete"], errors="ignore")
    out = table(transpose_for_terminal(shown, "period", percent))
    if by:
        last = df[df["period"] == df["period"].iloc[-1]].drop(columns=["complete"], errors="ignore")
        out += f"<h3>By {esc(', '.join(by))}, {esc(df['period'].iloc[-1])}</h3>" + table(last, percent)
    return out


def table(df: pd.DataFrame, percent: set[str] | tuple = (), limit: int | None = None) -> str:
    percent = set(percent)
    rows = df if limit is None else df.head(limit)
    head = "".join(f"<th>{esc(str(c).replace('_', ' '))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(format_cell(v, c, percent))}</td>" for c, v in zip(df.columns, r)) + "</tr>"
        for r in rows.itertuples(index=False, name=None))
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def heat_table(cohorts: pd.DataFrame, value: str = "retention") -> str:
    """The cohort triangle with cell colours from the value (offset 0 is 100 % by
    definition, so colours scale to the largest value after it)."""
    grid = cohorts.pivot(index="cohort", columns="offset", values=value)
    sizes = cohorts.groupby("cohort", sort=False)["cohort_size"].first()
    later = cohorts.loc[cohorts["offset"] > 0, value]
    top = float(later.max()) if later.notna().any() and later.max() > 0 else 1.0
    head = "<th>cohort</th><th>size</th>" + "".join(f"<th>{int(k)}</th>" for k in grid.columns)
    rows = []
    for cohort, r in grid.iterrows():
        cells = []
        for v in r:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("<td></td>")
                continue
            level = min(max(float(v) / top, 0), 1)
            colour = f"hsl({int(10 + 110 * level)}, 65%, {int(88 - 30 * level)}%)"
            cells.append(f'<td style="background:{colour}">{100 * float(v):.0f}</td>')
        rows.append(f"<tr><td>{esc(cohort)}</td><td>{int(sizes[cohort]):,}</td>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="heat"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


# KPIs for which a fall is good news: their arrows are coloured the other way round
LOWER_IS_BETTER = {"lost_customers", "churn_rate", "complaints", "median_resolution_days",
                   "nps_margin_of_error", "revenue_at_risk"}


def cards(summary: pd.DataFrame, ratios: set[str]) -> str:
    summary = tidy_numbers(summary)  # the numbers of summary.csv: a change adds up to the cent
    out = []
    for r in summary.itertuples():
        def change(v: Any, vs: Any) -> str:
            v = plain(v)
            if v is None or vs is None:
                return ""
            good = v < 0 if r.kpi in LOWER_IS_BETTER else v > 0
            cls = "" if v == 0 else ("up" if good else "down")
            arrow = "▲" if v > 0 else "▼" if v < 0 else "="
            size = f"{100 * abs(v):.1f} pt" if r.kpi in ratios else format_cell(abs(v), r.kpi, set())
            return f'<span class="{cls}">{arrow} {esc(size)}</span> vs {esc(vs)}'
        d1 = change(r.change_vs_previous, r.previous_period)
        d2 = change(r.change_vs_year_ago, r.year_ago_period)
        out.append(f'<div class="card"><div class="k">{esc(r.label)}</div>'
                   f'<div class="v">{esc(format_cell(r.value, r.kpi, ratios))}</div>'
                   f'<div class="d">{d1}</div><div class="d">{d2}</div></div>')
    return f'<div class="cards">{"".join(out)}</div>'


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def page(title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    body = "".join(f'<section id="{esc(anchor_of(h))}"><h2>{esc(h)}</h2>{content}</section>' for h, content in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><p class=\"sub\">{esc(subtitle)}</p>{body}</body></html>\n")


def anchor_of(heading: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in heading.lower()).strip("-")


def charts_row(figures: list[str]) -> str:
    return f'<div class="charts">{"".join(figures)}</div>' if figures else ""

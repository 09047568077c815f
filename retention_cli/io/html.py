"""The report's ``index.html``: one self-contained file (no script, no network, no
CDN), rendered from the package's Jinja2 templates (``retention_cli/templates``,
autoescaped: every value from the data is text) with inline SVG charts drawn by
matplotlib's SVG backend.

What a reader can rely on:

- A table is never cut. One too wide for the screen or the A4 page comes as blocks
  of columns (periods, segments, cohort offsets), each block repeating the row
  labels. The blocks are computed here for a few widths (``TIERS``, from an
  estimate of each column's width) and the page picks one with CSS media queries,
  so it needs no script; paper uses the ``PRINT_TIER`` split.
- Charts have a title (the figure caption), axis titles, the legend above the plot
  (never on the data), axes that start at zero unless a note on the chart says
  otherwise, and percent ticks with as many decimals as they need (6.25 %, not
  6.2 %). Every chart is drawn at one size with one font size, and the page gives
  every chart column the same width: text reads the same size in every chart, and
  on a phone the scaled-down SVG keeps its text at about 9-10 px.
- Drawing charts changes no process-wide state: an explicit ``Figure`` with the SVG
  canvas (no pyplot, no ``matplotlib.use``); the style is applied with
  ``rc_context`` only while a chart is drawn.
"""

from __future__ import annotations

import html
import io
import math
import re
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

import numpy as np
import pandas as pd
from markupsafe import Markup

from retention_cli.io.writers import format_cell, plain, tidy_numbers

# --- the page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """A width class of the page: the media query that selects it and the width in
    rem (at that root font size) a table's blocks must fit in: the narrowest
    content width of the class (report.css: body max-width 74rem less 2 × 1.2rem of
    padding at 15px; a window at the class's lower bound less that padding; a 360px
    phone less 2 × .8rem at 14px)."""

    name: str
    query: str
    rem: float


TIERS = (Tier("xl", "(min-width: 1140px)", 71.0),
         Tier("l", "(min-width: 960px) and (max-width: 1139.98px)", 61.0),
         Tier("m", "(min-width: 760px) and (max-width: 959.98px)", 48.0),
         Tier("s", "(min-width: 560px) and (max-width: 759.98px)", 34.5),
         Tier("xs", "(max-width: 559.98px)", 23.5))
# A4 less 2 × 12mm of margins is 703 CSS px, 63.9rem at the print root size (11px):
# the widest split that fits is the "l" one
PRINT_TIER = "l"


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("retention_cli", "templates"), autoescape=True,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters["whole"] = whole
    return env


def whole(text: Any) -> Markup:
    """Text whose hyphenated tokens (2025-11, 2025-01..2025-12) never break across
    lines: browsers break after a hyphen, so each such token is kept in one span."""
    return Markup(" ").join(Markup('<span class="nw">%s</span>') % w if "-" in w else w
                            for w in str(text).split(" "))


def _parts():
    return _env().get_template("parts.html.j2").module


def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def page(title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    """The whole page: ``sections`` are (heading, HTML made by this module's
    functions); headings, title and subtitle are text (escaped here)."""
    items = [{"anchor": anchor_of(h), "heading": h, "html": Markup(content)} for h, content in sections]
    return _env().get_template("report.html.j2").render(title=title, subtitle=subtitle, sections=items,
                                                        tiers=TIERS, print_tier=PRINT_TIER)


def anchor_of(heading: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in heading.lower()).strip("-")


def figure(svg: str, caption: str, note: str | None = None) -> str:
    """A chart with its title above it (``caption``) and an optional note below."""
    return str(_parts().figure(Markup(svg), caption, note))


def charts_row(figures: list[str]) -> str:
    return f'<div class="charts">{"".join(figures)}</div>' if figures else ""


_IDENT = re.compile(r"(?<![\w./\\])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w./\\])")


def words(text: str) -> str:
    """Identifiers read as words on the page: ``positive_reach`` -> ``positive reach``
    (the CSV and JSON files keep the ids; a dotted config path and a file's path,
    ``sample_data/customers.csv``, stay as written)."""
    return _IDENT.sub(lambda m: m[1].replace("_", " "), text)


# --- charts --------------------------------------------------------------------------------

INK, MUTED, GRID = "#1d2733", "#5b6775", "#e5e8ec"
COLOURS = ("#2364aa", "#b3261e", "#1e7b34", "#8a5a00", "#6b3fa0")
# one size and one font size for every chart: 5 × 3.1 in at 72 dpi is a 360 × 223
# viewBox; at a phone's 340 px the 10-unit text is drawn at 9.4 px, in a 520 px
# desktop column at 14 px
SIZE = (5.0, 3.1)
FONT = 10
STYLE = {
    "svg.hashsalt": "retention",  # deterministic ids: two runs give the same page
    "svg.fonttype": "none",       # text as <text>, in the page's font
    "font.size": FONT, "axes.titlesize": FONT, "axes.labelsize": FONT, "xtick.labelsize": FONT,
    "ytick.labelsize": FONT, "legend.fontsize": FONT, "font.family": "sans-serif",
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": MUTED,
    "axes.labelcolor": INK, "xtick.color": MUTED, "ytick.color": MUTED, "text.color": INK,
    "axes.unicode_minus": True,
}
_PERIOD = re.compile(r"^\d{4}(-\d{2}|-Q[1-4]|-W\d{2}|-H[12])?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _floats(values) -> np.ndarray:
    """Chart values as floats, a missing one (None, NaN, pandas' NA) as NaN: a gap."""
    return np.array([np.nan if v is None or v is pd.NA or v != v else float(v) for v in values], dtype=float)


def _label(text: Any) -> str:
    """Text for matplotlib: a ``$`` is a dollar, not the start of mathtext."""
    return str(text).replace("$", r"\$")


@contextmanager
def _chart(size: tuple[float, float] = SIZE) -> Iterator[Any]:
    from matplotlib import rc_context
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    with rc_context(STYLE):
        fig = Figure(figsize=size, dpi=72, layout="constrained")
        FigureCanvasSVG(fig)
        yield fig


def _svg(fig, title: str) -> str:
    """The SVG element, scaled by its viewBox to the width of its box (no fixed
    width or height), its text in the page's font, labelled for screen readers."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    head, rest = text.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    head = head.replace("<svg", f'<svg class="chart" role="img" aria-label="{esc(title)}"', 1)
    rest = re.sub(r"font-family: [^;\"]*;?\s*", "", rest)
    return head + ">" + rest.strip() + "\n"


class _Ticks:
    """Tick labels with as many decimals as the ticks need, the same for all of them
    (6.25 %, 6.50 %; 0 %, 5 %, 10 %), thousands separated; a percent axis shows 100 × v."""

    def __new__(cls, percent: bool):
        from matplotlib.ticker import Formatter

        class Ticks(Formatter):
            def __init__(self):
                self.scale = 100.0 if percent else 1.0
                self.decimals = 0

            def set_locs(self, locs):
                super().set_locs(locs)
                values = [self.scale * float(v) for v in locs if np.isfinite(v)]
                self.decimals = _decimals(values)

            def __call__(self, x, pos=None):
                v = self.scale * float(x)
                s = f"{v:,.{self.decimals}f}"
                if float(s.replace(",", "")) == 0:
                    s = s.lstrip("-")
                return s.replace("-", "\u2212") + (" %" if percent else "")

        return Ticks()


def _decimals(values: list[float], most: int = 6) -> int:
    """The fewest decimals that write every value exactly (to 1e-9 of its size)."""
    for d in range(most + 1):
        if all(abs(v - round(v, d)) <= 1e-9 * max(1.0, abs(v)) for v in values):
            return d
    return most


def _zero_based(ax, values: np.ndarray) -> None:
    """The axis includes zero (a bar or a count read against its baseline)."""
    finite = values[np.isfinite(values)]
    lo, hi = ax.get_ylim()
    if finite.size and lo > 0:
        ax.set_ylim(0, hi)
    elif finite.size and hi < 0:
        ax.set_ylim(lo, 0)
    elif finite.size and finite.min() < 0 < finite.max():
        ax.axhline(0, color=MUTED, lw=.8)


def _axis_title(series: dict[str, Any], percent: bool) -> str:
    name = " / ".join(str(k) for k in series)
    return f"{name} (%)" if percent else name


def _x_title(labels: list[str]) -> str | None:
    if labels and all(_DATE.match(str(x)) for x in labels):
        return "date"
    if labels and all(_PERIOD.match(str(x)) for x in labels):
        return "period"
    return None


def _x_ticks(ax, labels: list[str], dual: bool = False) -> None:
    """As many labels as fit the plot's width without colliding (a label of n
    characters takes about .62 n em), evenly spaced, the last one always shown."""
    n = len(labels)
    longest = max((len(str(x)) for x in labels), default=1)
    plot = 72 * SIZE[0] - (130 if dual else 70)  # the viewBox less the axes' ticks and titles
    most = max(2, int(plot // (0.62 * FONT * longest + 14)))
    step = max(1, math.ceil(n / most))
    at = list(range(n - 1, -1, -step))[::-1]
    ax.set_xticks(at, [_label(labels[i]) for i in at])
    if n:
        ax.set_xlim(-0.5, n - 0.5)


def _legend(fig, handles, names) -> None:
    """The legend above the plot, outside the data."""
    if handles:
        fig.legend(handles, names, loc="outside upper left", ncols=min(len(handles), 2), frameon=False,
                   handlelength=1.6, columnspacing=1.2)


def _note(fig, note: str | None) -> None:
    if note:
        fig.text(0.005, 0.005, _label(note), fontsize=FONT - 1, color=MUTED, ha="left", va="bottom")


def line_chart(labels: list[str], series: dict[str, list[float]], *, percent: bool = False,
               band: tuple[list[float], list[float]] | None = None, right: dict[str, list[float]] | None = None,
               right_percent: bool = False, title: str | None = None, ylabel: str | None = None,
               right_label: str | None = None, xlabel: str | None = None, zero: bool = True,
               mark: tuple[str, str] | None = None) -> str:
    """Lines over ``labels`` (periods, dates, offsets); an optional shaded band (a
    margin of error) around the first series and optional series on a second axis
    (dashed, titled, "(right axis)" in the legend). The axes start at zero unless
    ``zero=False``, which writes a note on the chart. ``mark`` = (label, text) draws
    a dotted vertical line at that label (the first one at or after it: a calibration
    end between two weeks)."""
    labels = [str(x) for x in labels]
    with _chart() as fig:
        ax = fig.subplots()
        x = np.arange(len(labels))
        left_values = []
        for i, (name, values) in enumerate(series.items()):
            v = _floats(values)
            left_values.append(v)
            ax.plot(x, v, marker="o", ms=3.5, lw=1.8, color=COLOURS[i % len(COLOURS)], label=_label(name))
        if band is not None:
            lo, hi = _floats(band[0]), _floats(band[1])
            left_values += [lo, hi]
            ax.fill_between(x, lo, hi, color=COLOURS[0], alpha=.15, lw=0, label="95 % margin of error")
        ax.yaxis.set_major_formatter(_Ticks(percent))
        if zero:
            _zero_based(ax, np.concatenate(left_values) if left_values else np.array([]))
        ax.set_ylabel(_label(ylabel or _axis_title(series, percent)))
        ax.grid(axis="y", color=GRID, lw=.6)
        handles, names = ax.get_legend_handles_labels()
        if right:
            ax2 = ax.twinx()
            ax2.spines["right"].set_visible(True)
            right_values = []
            for j, (name, values) in enumerate(right.items()):
                v = _floats(values)
                right_values.append(v)
                ax2.plot(x, v, marker="s", ms=3.5, lw=1.4, ls="--", color=COLOURS[(len(series) + j) % len(COLOURS)],
                         label=_label(f"{name} (right axis)"))
            ax2.yaxis.set_major_formatter(_Ticks(right_percent))
            if zero:
                _zero_based(ax2, np.concatenate(right_values))
            ax2.set_ylabel(_label(right_label or _axis_title(right, right_percent)))
            h2, n2 = ax2.get_legend_handles_labels()
            handles, names = handles + h2, names + n2
        _x_ticks(ax, labels, dual=bool(right))
        xt = xlabel if xlabel is not None else _x_title(labels)
        if xt:
            ax.set_xlabel(_label(xt))
        if mark is not None and labels:
            at = next((i for i, s in enumerate(labels) if s >= mark[0]), len(labels) - 1)
            ax.axvline(at, color=MUTED, lw=1, ls=":")
            ax.annotate(_label(mark[1]), (at, 1), xycoords=("data", "axes fraction"), xytext=(3, -2),
                        textcoords="offset points", ha="left", va="top", fontsize=FONT - 1, color=MUTED)
        if len(handles) > 1:
            _legend(fig, handles, names)
        if not zero:
            _note(fig, "The vertical axis does not start at zero.")
        return _svg(fig, title or _axis_title({**series, **(right or {})}, False))


def bar_chart(labels: list[str], values: list[float], *, percent: bool = True,
              reference: list[float | None] | None = None, counts: list[int] | None = None,
              series: str = "observed", title: str | None = None, ylabel: str | None = None,
              xlabel: str | None = None) -> str:
    """Bars from zero, with a benchmark mark per bar when ``reference`` is given
    (then a legend above the plot names ``series`` and the benchmark); ``counts``
    are written under each bar's label (n=…), away from the bars and marks. When
    the labels are too long to stand side by side, the bars lie down (a label a
    line). ``ylabel`` titles the value axis, ``xlabel`` the category axis."""
    v = _floats(values)
    ref = _floats(reference) if reference is not None else None
    ticks = []
    for i, name in enumerate(labels):
        lines = [textwrap.fill(part, 12, break_long_words=False) for part in str(name).split("\n")]
        if counts is not None:
            lines.append(f"n={counts[i]:,}")
        ticks.append(lines)
    room = (72 * SIZE[0] - 70) / max(1, len(labels))  # viewBox units per standing bar
    lying = max((len(s) for lines in ticks for s in lines), default=0) * 0.62 * FONT > room - 4
    seen = np.concatenate([v, ref]) if ref is not None else v
    seen = seen[np.isfinite(seen)]
    top = float(seen.max()) if seen.size else 1.0
    limit = (0, max(1.0, top) * 1.05) if percent else (min(0.0, float(seen.min()) * 1.05) if seen.size else 0,
                                                        top * 1.05 if top > 0 else 1)
    value_title = _label(ylabel or (f"{series} (%)" if percent else series))
    with _chart() as fig:
        ax = fig.subplots()
        if lying:
            at = np.arange(len(labels))[::-1]
            ax.barh(at, np.nan_to_num(v), color=COLOURS[0], height=.6, label=_label(series))
            if ref is not None:
                ax.scatter(ref, at, marker="|", s=160, linewidths=2.2, color=COLOURS[1], zorder=3,
                           label="benchmark (literature)")
            ax.set_yticks(at, [_label(" ".join(" ".join(lines).split())) for lines in ticks])
            ax.set_xlim(*limit)
            ax.xaxis.set_major_formatter(_Ticks(percent))
            ax.set_xlabel(value_title)
            if xlabel:
                ax.set_ylabel(_label(xlabel))
            ax.grid(axis="x", color=GRID, lw=.6)
        else:
            at = np.arange(len(labels))
            ax.bar(at, np.nan_to_num(v), color=COLOURS[0], width=.6, label=_label(series))
            if ref is not None:
                ax.scatter(at, ref, marker="_", s=500, linewidths=2.2, color=COLOURS[1], zorder=3,
                           label="benchmark (literature)")
            ax.set_xticks(at, [_label("\n".join(lines)) for lines in ticks])
            ax.set_ylim(*limit)
            ax.yaxis.set_major_formatter(_Ticks(percent))
            ax.set_ylabel(value_title)
            if xlabel:
                ax.set_xlabel(_label(xlabel))
            ax.grid(axis="y", color=GRID, lw=.6)
        ax.set_axisbelow(True)
        if ref is not None:
            _legend(fig, *ax.get_legend_handles_labels())
        return _svg(fig, title or series)


def waterfall_chart(start: tuple[str, float], steps: list[tuple[str, float]], end: tuple[str, float], *,
                    title: str | None = None, ylabel: str = "revenue", decimals: int = 0) -> str:
    """A bridge from one total to the next: ``start`` = (label, value) as a bar from
    zero, each step (new, reactivation, expansion, contraction, churned: signed, a
    loss negative) as a floating bar from the running total, ``end`` as a bar from
    zero. When the steps do not add up to ``end`` (rounding, or a flow not listed) the
    difference is shown as its own step, "other", so the bars never lie."""
    steps = [(str(n), float(v)) for n, v in steps]
    gap = float(end[1]) - float(start[1]) - sum(v for _, v in steps)
    if abs(gap) > 0.5 * 10 ** -decimals:
        steps.append(("other", gap))
    names = [str(start[0]), *(n for n, _ in steps), str(end[0])]
    with _chart() as fig:
        ax = fig.subplots()
        level = float(start[1])
        bottoms, heights, colours = [0.0], [level], [COLOURS[0]]
        for _, v in steps:
            bottoms.append(level if v >= 0 else level + v)
            heights.append(abs(v))
            colours.append(COLOURS[2] if v >= 0 else COLOURS[1])
            level += v
        bottoms.append(0.0)
        heights.append(float(end[1]))
        colours.append(COLOURS[0])
        x = np.arange(len(names))
        ax.bar(x, heights, bottom=bottoms, color=colours, width=.62)
        tops = [b + h for b, h in zip(bottoms, heights)]
        # connectors: each bar starts where the one before it ended
        running = [float(start[1])]
        for _, v in steps:
            running.append(running[-1] + v)
        for i, r in enumerate(running):
            ax.plot([i + .31, i + .69], [r, r], color=MUTED, lw=.8, ls=":")
        signed = [float(start[1]), *(v for _, v in steps), float(end[1])]
        for i, (v, t) in enumerate(zip(signed, tops)):
            sign = "" if i in (0, len(names) - 1) else ("+" if v >= 0 else "\u2212")
            # the values at the charts' one text size (smaller would be unreadable printed)
            ax.annotate(f"{sign}{abs(v):,.{decimals}f}", (i, t), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=FONT)
        ax.set_xticks(x, [_label(textwrap.fill(n, 11, break_long_words=False)) for n in names])
        ax.set_ylim(0, max(tops) * 1.12 if max(tops) > 0 else 1)
        ax.yaxis.set_major_formatter(_Ticks(False))
        ax.set_ylabel(_label(ylabel))
        ax.grid(axis="y", color=GRID, lw=.6)
        ax.set_axisbelow(True)
        from matplotlib.patches import Patch

        _legend(fig, [Patch(color=COLOURS[0]), Patch(color=COLOURS[2]), Patch(color=COLOURS[1])],
                ["total", "increase", "decrease"])
        return _svg(fig, title or f"{ylabel}: {start[0]} to {end[0]}")


# --- tables ----------------------------------------------------------------------------------

# Column widths, estimated in rem for the split into blocks. The table text is .85rem;
# a character is taken as .70em (measured in Chromium with DejaVu Sans, the widest
# common sans-serif: "50,079.51" is 6.0em with tabular figures), a bold header
# character as .72em (.66em measured); a cell adds .9rem of padding and a border.
CHAR, HEAD_CHAR, PAD = .85 * .70, .85 * .72, 1.0
HEAT_CELL = 2.6 + .9          # table.heat td.num: min-width 2.6rem
TEXT_TOKEN = 20               # a text cell wraps between words (and, failing that, anywhere)
_NUMBER = re.compile(r"^[\u2212+\-]?[\d,]*\.?\d+( %| pt)?$|^[–—-]$")


@dataclass
class _Cell:
    text: str
    cls: str = ""
    bg: str = ""


def _is_number(text: str) -> bool:
    return bool(_NUMBER.match(text))


def _width(head: str, cells: list[_Cell], heat: bool = False) -> float:
    longest = 0
    for c in cells:
        if "num" in c.cls:
            longest = max(longest, len(c.text))
        else:
            longest = max(longest, min(TEXT_TOKEN, max((len(w) for w in c.text.split()), default=0)))
    w = max(HEAD_CHAR * len(head), CHAR * longest) + PAD
    return max(w, HEAT_CELL) if heat else w


def _split(label: float, widths: list[float], room: float) -> list[list[int]]:
    """Consecutive columns in blocks that fit ``room`` beside the row labels, as many
    columns per block as fit, then evened out (12 periods as 6 + 6, not 10 + 2)."""
    free = room - label
    blocks: list[list[int]] = []
    cur: list[int] = []
    used = 0.0
    for i, w in enumerate(widths):
        if cur and used + w > free:
            blocks.append(cur)
            cur, used = [], 0.0
        cur.append(i)
        used += w
    if cur or not blocks:
        blocks.append(cur)
    n = len(blocks)
    if n > 1:
        size = math.ceil(len(widths) / n)
        even = [list(range(k, min(k + size, len(widths)))) for k in range(0, len(widths), size)]
        if len(even) == n and all(sum(widths[i] for i in b) <= free for b in even):
            return even
    return blocks


def _grid(head: list[str], rows: list[list[_Cell]], labels: int, cls: str = "") -> str:
    """A table as blocks of columns per width class; the first ``labels`` columns
    are the row labels, repeated in every block."""
    heat = cls == "heat"
    columns = list(zip(*rows)) if rows else [[] for _ in head]
    widths = [_width(h, list(col), heat and i >= labels) for i, (h, col) in enumerate(zip(head, columns))]
    label_w = sum(widths[:labels])
    values = widths[labels:]
    by_split: dict[tuple, list[str]] = {}
    for tier in TIERS:
        split = tuple(tuple(b) for b in _split(label_w, values, tier.rem))
        by_split.setdefault(split, []).append(tier.name)
    # a column of text reads from the left; in a column of numbers a word ("no",
    # "within noise") stands right-aligned with them
    head_cells = []
    for i, (h, col) in enumerate(zip(head, columns)):
        text_only = i < labels or (col and all("num" not in c.cls or not c.text for c in col))
        head_cells.append(_Cell(h, "lbl" if text_only else ""))
        if not text_only:
            for c in col:
                if c.cls == "txt":
                    c.cls = "txt r"
    views = []
    for split, tiers in by_split.items():
        parts = []
        for block in split:
            keep = list(range(labels)) + [labels + i for i in block]
            parts.append({"head": [head_cells[i] for i in keep], "rows": [[r[i] for i in keep] for r in rows]})
        views.append({"tiers": tiers if len(by_split) > 1 else [], "parts": parts,
                      "columns": len(values), "labels": labels})
    return str(_parts().table(views, cls))


def _cells(values: list[str], label: bool = False) -> list[_Cell]:
    out = []
    for v in values:
        if label:
            out.append(_Cell(words(v), "lbl"))
        elif _is_number(v):
            out.append(_Cell(v, "num"))
        else:
            out.append(_Cell(words(v), "txt"))
    return out


def table(df: pd.DataFrame, percent: set[str] | tuple = (), limit: int | None = None, *,
          labels: int = 1) -> str:
    """Rows as the data has them; the first ``labels`` columns label the rows and
    are repeated in every block when the table is split. Identifiers read as words
    (``share_of_known`` -> share of known)."""
    percent = set(percent)
    rows = df if limit is None else df.head(limit)
    labels = min(labels, len(df.columns))
    head = [words(str(c)) for c in df.columns]
    body = []
    for r in rows.itertuples(index=False, name=None):
        texts = [format_cell(v, c, percent) for c, v in zip(df.columns, r)]
        body.append(_cells(texts[:labels], label=True) + _cells(texts[labels:]))
    return _grid(head, body, labels)


def kpi_tables(df: pd.DataFrame, by: list[str], percent: set[str] | tuple = ()) -> str:
    """A period × segment KPI table as a manager reads it: the totals with KPIs as
    rows and periods as columns, then the segments of the last period with KPIs as
    rows and segments as columns (the CSV and JSON files have every row)."""
    from retention_cli.io.writers import transpose_for_terminal

    totals = df[(df[by] == "(all)").all(axis=1)] if by else df
    shown = totals.drop(columns=[*by, "complete"], errors="ignore")
    out = table(transpose_for_terminal(shown, "period", percent))
    if by:
        period = df["period"].iloc[-1]
        last = df[df["period"] == period].drop(columns=["complete", "period"], errors="ignore")
        key = last[by].astype(str).agg(" · ".join, axis=1)
        wide = transpose_for_terminal(last.drop(columns=by).assign(_by=key), "_by", percent)
        out += f"<h3>By {esc(', '.join(by))}, {whole(period)}</h3>" + table(wide)
    return out


def heat_table(cohorts: pd.DataFrame, value: str = "retention") -> str:
    """The cohort triangle: a row per cohort (its size beside it), a column per
    period after the cohort's first (+0, +1, …), each cell the percent still active,
    shaded from light (low) to dark blue (the best value after +0; +0 is 100 % by
    definition and stays grey)."""
    grid = cohorts.pivot(index="cohort", columns="offset", values=value)
    sizes = cohorts.groupby("cohort", sort=False)["cohort_size"].first()
    later = cohorts.loc[cohorts["offset"] > 0, value]
    top = float(later.max()) if later.notna().any() and later.max() > 0 else 1.0
    head = ["cohort", "size"] + [f"+{int(k)}" for k in grid.columns]
    rows = []
    for cohort, r in grid.iterrows():
        cells = [_Cell(str(cohort), "lbl"), _Cell(f"{int(sizes[cohort]):,}", "num")]
        for k, v in zip(grid.columns, r):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append(_Cell("", "num"))
                continue
            if int(k) == 0:
                cells.append(_Cell(f"{100 * float(v):.0f}", "num", "#eef1f4"))
                continue
            level = min(max(float(v) / top, 0.0), 1.0)
            light = round(95 - 55 * level)
            cells.append(_Cell(f"{100 * float(v):.0f}", "num dark" if light < 60 else "num",
                               f"hsl(212, 60%, {light}%)"))
        rows.append(cells)
    return _grid(head, rows, 2, "heat")


# KPIs for which a fall is good news: their arrows are coloured the other way round
LOWER_IS_BETTER = {"lost_customers", "churn_rate", "complaints", "median_resolution_days",
                   "nps_margin_of_error", "revenue_at_risk"}


def cards(summary: pd.DataFrame, ratios: set[str]) -> str:
    """The headline: a card per KPI with its change against the previous period and
    a year earlier (green when the change is good news)."""
    summary = tidy_numbers(summary)  # the numbers of summary.csv: a change adds up to the cent
    items = []
    for r in summary.itertuples():
        changes = []
        for v, vs in ((r.change_vs_previous, r.previous_period), (r.change_vs_year_ago, r.year_ago_period)):
            v = plain(v)
            if v is None or vs is None or vs != vs:
                continue
            good = v < 0 if r.kpi in LOWER_IS_BETTER else v > 0
            changes.append({"cls": "" if v == 0 else ("up" if good else "down"),
                            "arrow": "▲" if v > 0 else "▼" if v < 0 else "=",
                            "size": f"{100 * abs(v):.1f} pt" if r.kpi in ratios else format_cell(abs(v), r.kpi, set()),
                            "vs": str(vs)})
        items.append({"label": r.label, "value": format_cell(r.value, r.kpi, ratios), "changes": changes})
    return str(_parts().cards(items))

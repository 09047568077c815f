"""The report page for people: the template and its charts and tables (here, without
a browser), then the sample report laid out in headless Chromium at 1400, 1024, 794
(A4 as a screen) and 390 px and printed on A4, measured through the DOM."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from retention_cli.io import html as H
from tests.conftest import ROOT

CONFIG = ROOT / "config.example.yaml"
ARTIFACTS = ROOT / "test-artifacts"


def texts(svg: str) -> list[str]:
    """The text of an SVG chart, one string per <text> element."""
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def views(page: str) -> list[dict]:
    """Each rendering of a table: its width classes, its blocks' header rows."""
    out = []
    for m in re.finditer(r'<div class="tbl([^"]*)" data-columns="(\d+)" data-labels="(\d+)">(.*?)</div>', page, re.S):
        blocks = [[html.unescape(h) for h in re.findall(r"<th[^>]*>([^<]*)</th>", head)]
                  for head in re.findall(r"<thead>(.*?)</thead>", m[4], re.S)]
        out.append({"tiers": re.findall(r"in-(\w+)", m[1]), "columns": int(m[2]), "labels": int(m[3]),
                    "blocks": blocks})
    return out


# --- charts ------------------------------------------------------------------------------------

def test_percent_ticks_have_the_decimals_they_need():
    fmt = H._Ticks(percent=True)
    # 6.25 % is not "6.2 %"; every tick of one axis has the same decimals
    assert fmt.format_ticks([0.0, 0.0625, 0.125]) == ["0.00 %", "6.25 %", "12.50 %"]
    assert fmt.format_ticks([0.0, 0.05, 0.10]) == ["0 %", "5 %", "10 %"]
    assert fmt.format_ticks([0.055, 0.06]) == ["5.5 %", "6.0 %"]
    money = H._Ticks(percent=False)
    assert money.format_ticks([0, 25000, 50000]) == ["0", "25,000", "50,000"]
    assert money.format_ticks([-0.5, 0.0, 0.5]) == ["\u22120.5", "0.0", "0.5"]


def test_line_chart_has_axis_titles_a_legend_and_a_zero_based_axis():
    svg = H.line_chart(["2025-01", "2025-02", "2025-03"], {"customers at the end": [880, 1000, 1116]},
                       right={"churn rate": [0.0625, 0.07, 0.055]}, right_percent=True)
    words = texts(svg)
    assert "customers at the end" in words and "churn rate (%)" in words and "period" in words
    assert "churn rate (right axis)" in words  # the legend says which axis a line is read on
    assert "0" in words and "0 %" in words     # both axes start at zero (counts 880..1,116)
    assert 'viewBox="0 0 360 223.2"' in svg and 'width="' not in svg.split(">")[0]  # scaled by its box
    assert "font-family" not in svg          # the page's font, in every chart
    # the last period is always labelled, whatever the step between labels
    many = H.line_chart([f"2024-{m:02d}" for m in range(1, 13)] + ["2025-01"], {"orders": list(range(13))})
    assert "2025-01" in texts(many)


def test_a_chart_off_zero_says_so():
    svg = H.line_chart(["a", "b"], {"NPS": [30, 31]}, zero=False)
    assert "The vertical axis does not start at zero." in texts(svg)


def test_bar_chart_legend_and_long_labels():
    svg = H.bar_chart(["resolved fast", "unresolved"], [0.73, 0.18], reference=[0.95, 0.09], counts=[112, 28])
    words = texts(svg)
    assert {"benchmark (literature)", "observed", "n=112"} <= set(words)
    # eight long labels cannot stand side by side: the bars lie down, a label a line
    lying = H.bar_chart([f"detractor\nNPS {i}" for i in range(8)], [0.5] * 8, counts=list(range(8)))
    assert "detractor NPS 0 n=0" in texts(lying)


def test_waterfall_adds_up_and_shows_what_is_missing():
    steps = [("new", 3000.0), ("reactivation", 1500.0), ("expansion", 2000.0), ("contraction", -2500.0),
             ("churned", -7000.0)]
    # 50,000 + 3,000 + 1,500 + 2,000 - 2,500 - 7,000 = 47,000: the steps explain it all
    svg = H.waterfall_chart(("2025-11", 50000.0), steps, ("2025-12", 47000.0))
    words = texts(svg)
    assert {"50,000", "+3,000", "+1,500", "+2,000", "\u22122,500", "\u22127,000", "47,000"} <= set(words)
    assert "other" not in words and "revenue" in words and "0" in words
    # the same steps towards 47,400: 400 the steps do not explain, shown as "other"
    words = texts(H.waterfall_chart(("2025-11", 50000.0), steps, ("2025-12", 47400.0)))
    assert "other" in words and "+400" in words


def test_charts_change_no_global_matplotlib_state():
    # a fresh interpreter: no pyplot, the same backend and rcParams before and after
    code = (
        "import sys, matplotlib\n"
        "raw = lambda key: dict.__getitem__(matplotlib.rcParams, key)  # get_backend() would import pyplot\n"
        "before = {k: raw(k) for k in matplotlib.rcParams}\n"
        "from retention_cli.io import html as H\n"
        "H.line_chart(['2025-01', '2025-02'], {'a': [1, 2]}, right={'b': [.1, .2]}, right_percent=True)\n"
        "H.bar_chart(['x', 'y'], [.5, .7], reference=[.6, None])\n"
        "H.waterfall_chart(('p', 10.0), [('new', 2.0), ('churned', -3.0)], ('q', 9.0))\n"
        "assert {k: raw(k) for k in matplotlib.rcParams} == before, 'rcParams changed'\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_chart_text_is_not_mathtext():
    assert "$5" in "".join(texts(H.bar_chart(["$5 off", "$10 off"], [0.2, 0.3])))


# --- tables and cards ----------------------------------------------------------------------------

def wide_kpis(n: int) -> pd.DataFrame:
    periods = [f"{2024 + (m // 12)}-{m % 12 + 1:02d}" for m in range(n)]
    return pd.DataFrame({"period": periods, "segment": "(all)", "complete": True,
                         "revenue": [47039.71 + m for m in range(n)], "churn_rate": [0.0625] * n,
                         "top_customer_revenue_share": [0.5] * n})


def test_a_wide_table_comes_in_blocks_that_repeat_the_row_labels():
    df = wide_kpis(24)
    page = H.kpi_tables(df, ["segment"], {"churn_rate", "top_customer_revenue_share"})
    first = [v for v in views(page) if v["columns"] == 24]
    tiers = sorted(t for v in first for t in v["tiers"])
    assert tiers == sorted(t.name for t in H.TIERS)  # one rendering per width class, each class once
    for v in first:
        shown = [h for block in v["blocks"] for h in block[1:]]
        assert shown == list(df["period"])            # every period, in order, the latest included
        assert all(block[0] == "kpi" for block in v["blocks"])
    phone = next(v for v in first if "xs" in v["tiers"])
    assert len(phone["blocks"]) >= 6                  # 24 periods do not fit a phone in fewer
    assert "top customer revenue share" in page and "top_customer_revenue_share" not in page
    # the segments of the last period: KPIs as rows, a column per segment
    seg = views(page)[-1]
    assert seg["blocks"][0][:2] == ["kpi", "(all)"] and seg["tiers"] == []


def test_table_text_is_escaped_and_numbers_align_right():
    df = pd.DataFrame({"segment": ["<script>alert(1)</script>", "retail"], "orders": [1200, 3],
                       "note": ["within noise", "no"]})
    out = H.table(df)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "<script>" not in out
    assert '<td class="num">1,200</td>' in out and '<td class="txt">within noise</td>' in out


def test_heat_table_labels_and_shades():
    cohorts = pd.DataFrame({"cohort": ["2025-01"] * 3 + ["2025-02"] * 2, "offset": [0, 1, 2, 0, 1],
                            "cohort_size": [40, 40, 40, 20, 20], "retention": [1.0, 0.4, 0.2, 1.0, 0.1]})
    out = H.heat_table(cohorts)
    assert re.findall(r"<th[^>]*>([^<]*)</th>", out) == ["cohort", "size", "+0", "+1", "+2"]
    # the best later value (40 %) is the darkest, with white text; +0 is grey
    assert 'class="num dark" style="background:hsl(212, 60%, 40%)">40<' in out
    assert 'style="background:#eef1f4">100<' in out and 'class="heat"' in out


def test_card_changes_never_break_inside_a_period_label():
    summary = pd.DataFrame({"kpi": ["revenue"], "label": ["revenue"], "value": [47039.71],
                            "change_vs_previous": [-3359.02], "previous_period": ["2025-11"],
                            "change_vs_year_ago": [None], "year_ago_period": [None]})
    out = H.cards(summary, set())
    assert '<span class="nw down">▼ 3,359.02</span> <span class="nw">vs 2025-11</span>' in out
    assert out.count('class="d"') == 1  # no year-ago line where there is no year-ago value


def test_template_ships_with_the_package_and_needs_no_network():
    folder = resources.files("retention_cli") / "templates"
    assert (folder / "report.html.j2").is_file() and (folder / "report.css").is_file()
    page = H.page("Report <1>", "sub & title", [("Churn", "<p>x</p>")])
    assert "<title>Report &lt;1&gt;</title>" in page and "sub &amp; title" in page
    assert "<h1>Report &lt;1&gt;</h1>" in page
    # a period label never breaks after its hyphen, in the title as on the cards
    assert '<span class="nw">2025-01</span> to <span class="nw">2025-12</span>' in H.page("Report 2025-01 to 2025-12", "", [])
    assert '<section id="churn">' in page and "@page { size: A4" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//|@import|url\(""", page)


# --- the sample report ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "r"
    proc = subprocess.run([sys.executable, "-m", "retention_cli", "report", "-c", str(CONFIG), "-o", str(out),
                           "--as-of", "2026-01-01", "-q"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return out / "index.html"


def visible_text(page: str) -> str:
    page = re.sub(r"<style>.*?</style>|<svg.*?</svg>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_sample_page_has_no_internal_words(sample_page):
    page = sample_page.read_text()
    text = visible_text(page) + " ".join(texts(page))
    for word in ("seed", "SPEC", "§", "positive_reach"):
        assert word not in text, word
    # identifiers read as words (a dotted config path, as users write it, and a
    # file's path may stay: sample_data/customers.csv)
    assert re.findall(r"(?<![\w./])[a-z]+(?:_[a-z0-9]+)+(?![\w./])", text) == []
    assert "sample_data/customers.csv" in text and "sample data/" not in text
    assert str(ROOT) not in page


def test_sample_page_tables_show_every_period(sample_page):
    page = sample_page.read_text()
    periods = [f"2025-{m:02d}" for m in range(1, 13)]
    period_views = [v for v in views(page) if v["columns"] == 12 and v["blocks"][0][1] == "2025-01"]
    assert len(period_views) >= 5  # churn, purchases, satisfaction, complaints, each in its splits
    for v in period_views:
        assert [h for block in v["blocks"] for h in block[v["labels"]:]] == periods


# --- in Chromium --------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--force-device-scale-factor=1"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs "
                                                             "Debian's chromium; it could not be installed here)")

# Measures the laid-out page and writes the result into the DOM as JSON (the page
# itself has no script: this is added to a copy for the test)
MEASURE = r"""
<script>
(() => {
  const W = document.documentElement.clientWidth, out = {width: W, overflow: [], views: [], charts: []};
  out.scrollWidth = document.documentElement.scrollWidth;
  const shown = el => el.getClientRects().length > 0;
  for (const el of document.querySelectorAll('table, figure, svg.chart, .tbl, .card, h1, h2, h3, p, li')) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.right > W + 0.5 || r.left < -0.5)
      out.overflow.push(el.tagName + '.' + el.className + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
  }
  for (const v of document.querySelectorAll('.tbl')) {
    const vis = shown(v), labels = +v.dataset.labels;
    const heads = [...v.querySelectorAll('thead tr')].map(tr => [...tr.children].map(th => th.textContent));
    out.views.push({visible: vis, columns: +v.dataset.columns, labels: labels, heads: heads,
                    cut: vis && v.scrollWidth > v.clientWidth + 1, first: v === v.parentElement.firstElementChild});
  }
  for (const svg of document.querySelectorAll('svg.chart')) {
    if (!shown(svg)) continue;
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const sizes = [...svg.querySelectorAll('text')].map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
    const box = sel => { const g = svg.querySelector(sel); return g ? g.getBoundingClientRect() : null; };
    const legend = box('g[id^="legend"]'), plot = box('g[id^="axes"] > g[id^="patch"]');
    out.charts.push({min: Math.min(...sizes), max: Math.max(...sizes), width: svg.getBoundingClientRect().width,
                     legendOnPlot: !!(legend && plot && legend.bottom > plot.top + 0.5 && legend.top < plot.bottom)});
  }
  const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def framed(page: str, width: int, height: int, tmp: Path, script: str = "") -> Path:
    """The page inside a frame ``width`` px wide: headless Chromium lays out no window
    narrower than 500 px, a frame is its own viewport at any width (media queries
    included). ``script`` runs in the outer page once the frame has loaded."""
    outer = (f'<!DOCTYPE html><html><body style="margin:0"><iframe id="page" scrolling="no" '
             f'style="border:0;display:block;width:{width}px;height:{height}px" '
             f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
             f"<script>window.addEventListener('load', () => {{ {script} }});</script></body></html>")
    path = tmp / f"framed-{width}.html"
    path.write_text(outer)
    return path


def measure(page: Path, width: int, tmp: Path, *, print_css: bool = False) -> dict:
    text = page.read_text()
    if print_css:  # the print rules, laid out on screen
        text = text.replace("@media print", "@media PRINT").replace("@media screen", "@media print") \
                   .replace("@media PRINT", "@media screen")
    copy = framed(text.replace("</body>", MEASURE + "</body>"), width, 2000, tmp,
                  "const m = document.getElementById('page').contentDocument.getElementById('measure');"
                  "const pre = document.createElement('pre'); pre.id = 'result'; pre.textContent = m.textContent;"
                  "document.body.appendChild(pre);")
    dom = chromium(tmp / "profile", "--window-size=1400,2000", "--virtual-time-budget=5000", "--dump-dom",
                   copy.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    m = re.search(r'<pre id="result">(.*?)</pre>', dom.stdout, re.S)
    assert m, dom.stdout[-2000:]
    return json.loads(html.unescape(m[1]))


def screenshot(page: Path, width: int, height: int, tmp: Path, out: Path) -> None:
    """A PNG of the top ``height`` px of the page laid out ``width`` px wide."""
    from PIL import Image  # matplotlib's own dependency

    window = max(width, 500)
    done = chromium(tmp / "profile", f"--window-size={window},{height}", f"--screenshot={out}",
                    framed(page.read_text(), width, height, tmp).as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(out) as im:
        im.load()
    im.crop((0, 0, width, height)).save(out, optimize=True)


def check_layout(got: dict, width: int) -> None:
    assert got["width"] == width
    assert got["scrollWidth"] <= width, got["scrollWidth"]   # nothing to scroll sideways
    assert got["overflow"] == []                            # no table, figure, card or text past the window
    shown = [v for v in got["views"] if v["visible"]]
    assert len(shown) >= 15 and not any(v["cut"] for v in shown)
    # a table shows in exactly one of its renderings, with every column of it
    groups = []
    for v in got["views"]:
        if v["first"]:
            groups.append([v])
        else:
            groups[-1].append(v)
    for views_ in groups:
        visible = [v for v in views_ if v["visible"]]
        assert len(visible) == 1, [v["heads"][0] for v in views_]
        v = visible[0]
        assert sum(len(h) - v["labels"] for h in v["heads"]) == v["columns"]
        assert all(h[:v["labels"]] == v["heads"][0][:v["labels"]] for h in v["heads"])  # labels repeated
    # charts: legends off the data, text of one size everywhere, readable
    charts = got["charts"]
    assert len(charts) >= 6 and not any(c["legendOnPlot"] for c in charts)
    assert max(c["width"] for c in charts) - min(c["width"] for c in charts) < 1  # one scale for all
    assert min(c["min"] for c in charts) >= 8.5, charts


@needs_chromium
@pytest.mark.parametrize("width", [1400, 1024, 794, 390])
def test_sample_page_fits_the_window_in_chromium(sample_page, tmp_path, width):
    check_layout(measure(sample_page, width, tmp_path), width)


@needs_chromium
def test_sample_page_print_rules_fit_a4(sample_page, tmp_path):
    # A4 is 210 mm; less 2 × 12 mm of margins, 186 mm = 703 CSS px
    check_layout(measure(sample_page, 703, tmp_path, print_css=True), 703)


@needs_chromium
def test_sample_page_prints_on_a4_and_screenshots(sample_page, tmp_path):
    pdf = tmp_path / "report.pdf"
    done = chromium(tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", sample_page.as_uri())
    assert done.returncode == 0 and pdf.exists(), done.stderr[-2000:]
    data = pdf.read_bytes()
    boxes = {(float(w), float(h)) for w, h in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)}
    # A4 is 595.3 × 841.9 points; every page
    assert boxes and all(abs(w - 595.3) < 1.5 and abs(h - 841.9) < 1.5 for w, h in boxes), boxes
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 5
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1400, 1024, 390):
        shot = ARTIFACTS / f"report-{width}.png"
        screenshot(sample_page, width, 2400, tmp_path, shot)
        from PIL import Image

        with Image.open(shot) as im:
            assert im.size == (width, 2400)
            # drawn, not blank: the page's ink covers a fair part of the picture
            grey = im.convert("L").histogram()
            assert sum(grey[:200]) > 0.01 * width * 2400, sum(grey[:200])

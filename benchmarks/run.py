"""Benchmark: our commands against DuckDB computing the same scan, side by side.

    pip install -e '.[bench]'
    python benchmarks/run.py --size 1M            # generates benchmarks/data/1M first
    python benchmarks/run.py --size 10M --runs 5
    python benchmarks/run.py --size 10M --runs 3 --report   # the report job (SPEC §9)
    python benchmarks/run.py --size 10M --runs 3 --engine duckdb [--memory-limit 400MB]

Per run, alternating: `retention churn` (36 monthly periods), `retention cohorts`,
`retention purchases`, each as the user would run it (a fresh process writing CSV),
and DuckDB reading the same purchases.csv and computing the same numbers in SQL (per
order: lines summed, returns apart; per customer: first and last date, orders,
revenue, distinct products; per month: buyers, orders, revenue, new customers,
customers active at the month end with the 180-day window; the monthly cohort
matrix). The numbers of both are compared. Prints per command: median and min–max
wall time, peak RSS, and the ratio ours / DuckDB of the same run, pair by pair.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
FROM, TO = "2022-01", "2024-12"

DUCK_SQL = """
CREATE TEMP TABLE lines AS SELECT * FROM read_csv('{purchases}', header=true,
    columns={{'customer_id':'VARCHAR','order_id':'VARCHAR','order_date':'DATE','product_id':'VARCHAR',
              'quantity':'DOUBLE','amount':'DOUBLE'}});
CREATE TEMP TABLE orders AS SELECT customer_id, order_id, min(order_date) AS d, sum(amount) AS amt,
    count(DISTINCT product_id) AS products FROM lines GROUP BY customer_id, order_id;
CREATE TEMP TABLE customers AS SELECT customer_id, min(d) FILTER (WHERE amt >= 0) AS first, max(d) AS last,
    count(*) FILTER (WHERE amt >= 0) AS n_orders, sum(amt) AS revenue FROM orders GROUP BY customer_id;
CREATE TEMP TABLE products AS SELECT customer_id, count(DISTINCT product_id) AS n FROM lines GROUP BY customer_id;
CREATE TEMP TABLE months AS SELECT range::DATE AS m FROM range(DATE '2022-01-01', DATE '2025-01-01', INTERVAL 1 MONTH);
"""
DUCK_RESULTS = {
    "monthly": """SELECT strftime(date_trunc('month', d), '%Y-%m') AS period,
        count(*) FILTER (WHERE amt >= 0) AS orders, count(DISTINCT customer_id) FILTER (WHERE amt >= 0) AS buyers,
        sum(amt) AS revenue FROM orders WHERE d >= DATE '2022-01-01' AND d < DATE '2025-01-01' GROUP BY 1 ORDER BY 1""",
    "new": """SELECT strftime(date_trunc('month', first), '%Y-%m') AS period, count(*) AS new_customers
        FROM customers WHERE first IS NOT NULL GROUP BY 1 ORDER BY 1""",
    "active_end": """SELECT strftime(m - INTERVAL 1 MONTH, '%Y-%m') AS period, count(DISTINCT o.customer_id) AS customers_end
        FROM (SELECT m + INTERVAL 1 MONTH AS m FROM months) ms JOIN orders o
        ON o.amt >= 0 AND o.d >= ms.m - INTERVAL 180 DAY AND o.d < ms.m GROUP BY 1 ORDER BY 1""",
    "cohorts": """SELECT strftime(date_trunc('month', c.first), '%Y-%m') AS cohort,
        datediff('month', date_trunc('month', c.first), date_trunc('month', o.d)) AS "offset",
        count(DISTINCT o.customer_id) AS active FROM orders o JOIN customers c USING (customer_id)
        WHERE o.amt >= 0 GROUP BY 1, 2 ORDER BY 1, 2""",
    "per_customer": "SELECT count(*) AS customers, sum(n_orders) AS orders, sum(products.n) AS product_pairs "
                    "FROM customers JOIN products USING (customer_id)",
}


def duck_child(purchases: str, out: str) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count()}")
    con.execute(DUCK_SQL.format(purchases=purchases))
    results = {name: con.execute(sql).df() for name, sql in DUCK_RESULTS.items()}
    with open(out, "w") as f:
        json.dump({k: v.to_dict("list") for k, v in results.items()}, f, default=str)





WRAP = ("import resource, runpy, sys; sys.argv = {argv!r}; "
        "code = 0\ntry:\n    runpy.run_module('retention_cli', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code or 0\n"
        "sys.stderr.write('PEAK_KIB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(code)")


def run_ours(args: list[str], data: Path, config: str = "retention.yaml") -> tuple[float, float, pd.DataFrame]:
    argv = ["retention", *args, "-c", str(data / config), "--format", "csv", "-q"]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAP.format(argv=argv)], cwd=data, capture_output=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"retention {' '.join(args)} failed: {proc.stderr.decode()[-2000:]}")
    peak = int(proc.stderr.decode().rsplit("PEAK_KIB=", 1)[1].split()[0]) / 1024
    return wall, peak, pd.read_csv(io.BytesIO(proc.stdout))


def run_duck(data: Path) -> tuple[float, float, dict]:
    out = data / ".duck.json"
    code = (f"import resource, sys; sys.path.insert(0, {str(HERE)!r}); import run; "
            f"run.duck_child({str(data / 'purchases.csv')!r}, {str(out)!r}); "
            "sys.stderr.write('PEAK_KIB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"duckdb failed: {proc.stderr.decode()[-2000:]}")
    peak = int(proc.stderr.decode().rsplit("PEAK_KIB=", 1)[1].split()[0]) / 1024
    return wall, peak, {k: pd.DataFrame(v) for k, v in json.loads(out.read_text()).items()}


def check(ours: dict[str, pd.DataFrame], duck: dict[str, pd.DataFrame]) -> list[str]:
    """Counts identical to the last digit, sums to the cent (our output writes money
    rounded to cents: within half a cent, plus 1e-9 relative for the float sums)."""
    problems = []
    p = ours["purchases"].set_index("period")
    m = duck["monthly"].set_index("period")
    for col in ("orders", "buyers"):
        if not (p.loc[m.index, col].astype(int).to_numpy() == m[col].astype(int).to_numpy()).all():
            problems.append(f"purchases.{col} differs from DuckDB")
    gap = ((p.loc[m.index, "revenue"] - m["revenue"]).abs() - 1e-9 * m["revenue"].abs()).max()
    if not gap <= 0.005:
        problems.append(f"purchases.revenue differs from DuckDB (by {gap:.4f} beyond half a cent)")
    c = ours["churn"].set_index("period")
    n = duck["new"].set_index("period")
    both = c.index.intersection(n.index)
    if not (c.loc[both, "new_customers"].to_numpy() == n.loc[both, "new_customers"].to_numpy()).all():
        problems.append("churn.new_customers differs from DuckDB")
    e = duck["active_end"].set_index("period")
    both = c.index.intersection(e.index)
    if not (c.loc[both, "customers_end"].to_numpy() == e.loc[both, "customers_end"].to_numpy()).all():
        problems.append("churn.customers_end differs from DuckDB")
    k = ours["cohorts"]
    k = k[k["active"] > 0].set_index(["cohort", "offset"])["active"]
    d = duck["cohorts"].set_index(["cohort", "offset"])["active"]
    d = d[d.index.get_level_values(0) >= FROM]
    if not (k.sort_index().to_numpy() == d.reindex(k.sort_index().index).to_numpy()).all() or len(k) != len(d):
        problems.append("cohorts.active differs from DuckDB")
    return problems


SCAN = HERE.parent.parent / "shared" / "bench" / "duckdb_scan.py"  # the reference scan of SPEC §9
REPORT_YAML = """report:
  period: 2024-01..2024-12
  sections: [{sections}]
  by: [segment]
  formats: [csv, json, html]
  output_dir: out
"""


def run_scan(data: Path) -> float:
    """Wall seconds of the reference DuckDB scan on the same purchases file."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(SCAN), str(data / "purchases.csv")], check=True, capture_output=True)
    return time.perf_counter() - start


def run_report(data: Path, clv: bool, base: str = "retention.yaml") -> tuple[float, float]:
    """The monthly report job (SPEC §9): 12 months, every section (clv or not),
    --by segment, csv + json + html, into a fresh folder; wall seconds and peak MiB.
    ``base``: the config it adds the report to (an engine's: ``main_engine``)."""
    sections = "summary, churn, purchases, cohorts, satisfaction, complaints, wom" + (", clv" if clv else "")
    tag = "" if base == "retention.yaml" else "-" + Path(base).stem
    config = data / (("report-clv" if clv else "report") + tag + ".yaml")
    config.write_text((data / base).read_text() + REPORT_YAML.format(sections=sections))
    out = data / (("out-clv" if clv else "out") + tag)
    shutil.rmtree(out, ignore_errors=True)
    argv = ["retention", "report", "-c", str(config), "-q", "-o", str(out)]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAP.format(argv=argv)], cwd=data, capture_output=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"retention report failed: {proc.stderr.decode()[-2000:]}")
    return wall, int(proc.stderr.decode().rsplit("PEAK_KIB=", 1)[1].split()[0]) / 1024


def main_report(args, data: Path) -> None:
    """--report: the report with and without clv, and the single commands the issue
    names, each against the reference scan of the same run."""
    singles = {"churn": ["churn", "--from", FROM, "--to", TO], "cohorts": ["cohorts", "--from", FROM, "--to", TO],
               "purchases": ["purchases", "--from", FROM, "--to", TO], "complaints": ["complaints"],
               "satisfaction": ["satisfaction"], "clv": ["clv"],
               # every customer who bought, scored and written (the 1M customers:
               # the number scored is printed)
               "clv --customers-out": ["clv", "--customers-out", str(data / "out-clv-customers.csv")]}
    names = ["report", "report+clv", *singles]
    # on data where BG/NBD refuses its fit (nobody ever leaves: b runs to its bound,
    # exit 65; generate.py's data before customers left), the clv figures are left out
    # rather than timed on a refusal
    probe = subprocess.run([sys.executable, "-m", "retention_cli", "clv", "-c", str(data / "retention.yaml"), "-q"],
                           cwd=data, capture_output=True, text=True)
    if probe.returncode:
        print(f"clv left out: {probe.stderr.strip()}", file=sys.stderr)
        names = [n for n in names if "clv" not in n]
    walls = {k: [] for k in ["scan", *names, "churn warm"]}
    peaks = {k: [] for k in [*names, "churn warm"]}
    ratios = {k: [] for k in names}
    warm_ratio: list[float] = []
    for i in range(args.runs):
        scan = run_scan(data)
        walls["scan"].append(scan)
        for name in names:
            if name.startswith("report"):
                wall, peak = run_report(data, clv=name.endswith("clv"))
            else:
                wall, peak, _ = run_ours(singles[name], data)
            walls[name].append(wall)
            peaks[name].append(peak)
            ratios[name].append(wall / scan)
        # the warm path (SPEC 9): churn again on unchanged inputs, from the entry a first
        # run stored in a fresh cache folder; its ratio is to the cold churn of this run
        with tempfile.TemporaryDirectory() as cache:
            os.environ.update(RETENTION_CACHE="on", RETENTION_CACHE_DIR=cache)
            try:
                run_ours(singles["churn"], data)
                wall, peak, _ = run_ours(singles["churn"], data)
            finally:
                os.environ["RETENTION_CACHE"] = "off"
        walls["churn warm"].append(wall)
        peaks["churn warm"].append(peak)
        warm_ratio.append(wall / walls["churn"][-1])
        print(f"run {i + 1}: scan {scan:.2f} s; " + "; ".join(f"{n} {walls[n][-1]:.2f} s" for n in names),
              file=sys.stderr)
    size_mb = (data / "purchases.csv").stat().st_size / 1e6
    print(f"size {args.size} ({size_mb:.0f} MB purchases.csv), {args.runs} runs, {os.cpu_count()} cores; "
          "ratio = ours / the reference scan of the same run")
    print_figures(walls, peaks, ratios, "ratio (median, min-max)")
    scored = data / "out-clv-customers.csv"
    if scored.exists():
        with open(scored, "rb") as f:
            print(f"clv --customers-out scored {sum(1 for _ in f) - 1:,} customers")
    print(f"churn warm / churn cold: {statistics.median(warm_ratio):.2f} "
          f"({min(warm_ratio):.2f}-{max(warm_ratio):.2f})")


def main_engine(args, data: Path) -> None:
    """--engine: the three commands on the engine, on local (unless --no-local), and
    the hand-written DuckDB query of the same KPIs, alternating; the engine's numbers
    checked against the query's (and local's: identical)."""
    engine = {"name": args.engine, **({"memory_limit": args.memory_limit} if args.memory_limit else {})}
    config = f"engine-{args.engine}.yaml"
    (data / config).write_text((data / "retention.yaml").read_text() + f"engine: {json.dumps(engine)}\n")
    commands = {
        "churn": ["churn", "--from", FROM, "--to", TO],
        "cohorts": ["cohorts", "--from", FROM, "--to", TO],
        "purchases": ["purchases", "--from", FROM, "--to", TO],
    }
    if args.also_report:  # by a customers attribute, clv and the other commands of the base, and the
        # report without clv (docs/engines.md)
        commands["purchases --by segment"] = ["purchases", "--from", FROM, "--to", TO, "--by", "segment"]
        commands["clv"] = ["clv"]
        commands["suggest-window"] = ["suggest-window"]
        commands["satisfaction --link"] = ["satisfaction", "--link", "--from", FROM, "--to", TO]
    sides = [args.engine] + ([] if args.no_local else ["local"])
    names = [f"{c} {side}" for c in [*commands, *(["report"] if args.also_report else [])] for side in sides]
    walls: dict[str, list[float]] = {k: [] for k in ["query", *names]}
    peaks: dict[str, list[float]] = {k: [] for k in walls}
    ratios: dict[str, list[float]] = {f"{c} {args.engine}": [] for c in
                                      [*commands, *(["report"] if args.also_report else [])]}
    problems: list[str] = []
    for i in range(args.runs):
        q_wall, q_peak, duck = run_duck(data)
        walls["query"].append(q_wall)
        peaks["query"].append(q_peak)
        outs: dict[str, dict[str, pd.DataFrame]] = {side: {} for side in sides}
        for name, cmd in commands.items():
            for side in sides:
                wall, peak, df = run_ours(cmd, data, config if side != "local" else "retention.yaml")
                walls[f"{name} {side}"].append(wall)
                peaks[f"{name} {side}"].append(peak)
                outs[side][name] = df
            if not args.no_local:
                ratios[f"{name} {args.engine}"].append(walls[f"{name} {args.engine}"][-1] / walls[f"{name} local"][-1])
            else:
                ratios[f"{name} {args.engine}"].append(walls[f"{name} {args.engine}"][-1] / q_wall)
        if args.also_report:
            for side in sides:
                wall, peak = run_report(data, clv=False, base=config if side != "local" else "retention.yaml")
                walls[f"report {side}"].append(wall)
                peaks[f"report {side}"].append(peak)
            ratios[f"report {args.engine}"].append(
                walls[f"report {args.engine}"][-1] / (walls["report local"][-1] if not args.no_local else q_wall))
        if i == 0:
            problems = check(outs[args.engine], duck)
            if not args.no_local:
                problems += [f"{n}: {args.engine} differs from local" for n in commands
                             if not _close(outs[args.engine][n], outs["local"][n])]
                if args.also_report:
                    problems += [f"report {f.name}: {args.engine} differs from local"
                                 for f in sorted((data / "out").glob("*.csv"))
                                 if not _close(pd.read_csv(data / f"out-{Path(config).stem}" / f.name),
                                               pd.read_csv(f))]
        print(f"run {i + 1}: query {q_wall:.2f} s; " + "; ".join(f"{n} {walls[n][-1]:.2f} s" for n in names),
              file=sys.stderr)
    size_mb = (data / "purchases.csv").stat().st_size / 1e6
    print(f"size {args.size} ({size_mb:.0f} MB purchases.csv), {args.runs} runs, {os.cpu_count()} cores, "
          f"engine {json.dumps(engine)}")
    title = f"ratio {args.engine} / {'local' if not args.no_local else 'query'} (median, min-max)"
    print_figures(walls, peaks, ratios, title)
    print(f"results those of the DuckDB query{'' if args.no_local else ' and of local'} (counts identical, sums "
          "within 1e-9 or a cent): "
          + ("yes" if not problems else "NO: " + "; ".join(problems)))


def _close(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """The same rows and columns, text and whole numbers equal, other numbers within
    1e-9 relative or a cent (money is written in cents: an engine's exact sums and
    local's float sums may sit on either side of a half cent)."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            gap = (x - y).abs() - 1e-9 * x.abs()
            cents = (x.round(2) == x) & (y.round(2) == y)  # money: a cent apart on a half cent
            if not ((gap <= 1e-12) | (cents & (gap <= 0.01)) | (x.isna() & y.isna())).all():
                return False
        elif not x.equals(y):
            return False
    return True


def print_figures(walls: dict, peaks: dict, ratios: dict, ratio_title: str) -> None:
    """Per command: median and min-max wall seconds, peak MiB, the ratio's median and range."""
    width = max(13, *(len(n) for n in walls))
    print(f"{'':{width}s} {'median s':>9s} {'min-max s':>13s} {'peak MiB':>9s}   {ratio_title}")
    for name in walls:
        w = walls[name]
        line = f"{name:{width}s} " + (f"{statistics.median(w):9.2f} {min(w):6.2f}-{max(w):<6.2f}" if w else f"{'':9s} {'':13s}")
        line += f" {max(peaks[name]):9.0f}" if peaks.get(name) else f" {'':9s}"
        if name in ratios:
            r = ratios[name]
            line += f"   {statistics.median(r):6.2f} ({min(r):.2f}-{max(r):.2f})"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1M", help="purchase rows: 1M, 10M, …")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--report", action="store_true",
                    help="time the report job (with and without clv) and six single commands against the "
                         "reference scan (shared/bench/duckdb_scan.py)")
    ap.add_argument("--engine", choices=["duckdb", "spark"],
                    help="time churn, cohorts and purchases on this engine beside the local engine and the "
                         "hand-written DuckDB query of the same KPIs (--no-local on inputs local cannot hold)")
    ap.add_argument("--memory-limit", help="the duckdb engine's memory_limit (2GB, 400MB)")
    ap.add_argument("--no-local", action="store_true", help="with --engine: leave out the local runs")
    ap.add_argument("--also-report", action="store_true",
                    help="with --engine: also purchases --by segment, clv, suggest-window, satisfaction --link "
                         "and the report without clv (--by segment, csv + json + html), on the engine and on local")
    args = ap.parse_args()
    # cold runs: every command reads its files (the warm path is timed on its own)
    os.environ["RETENTION_CACHE"] = "off"
    data = HERE / "data" / args.size
    if not (data / "purchases.csv").exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--rows", args.size, "--out", str(data)], check=True)
    if args.report:
        main_report(args, data)
        return
    if args.engine:
        main_engine(args, data)
        return
    commands = {
        "churn": ["churn", "--from", FROM, "--to", TO],
        "cohorts": ["cohorts", "--from", FROM, "--to", TO],
        "purchases": ["purchases", "--from", FROM, "--to", TO],
    }
    walls: dict[str, list[float]] = {k: [] for k in [*commands, "duckdb"]}
    peaks: dict[str, list[float]] = {k: [] for k in walls}
    ratios: dict[str, list[float]] = {k: [] for k in [*commands, "together"]}
    problems: list[str] = []
    for i in range(args.runs):
        d_wall, d_peak, duck = run_duck(data)
        walls["duckdb"].append(d_wall)
        peaks["duckdb"].append(d_peak)
        ours = {}
        for name, cmd in commands.items():
            wall, peak, df = run_ours(cmd, data)
            walls[name].append(wall)
            peaks[name].append(peak)
            ratios[name].append(wall / d_wall)
            ours[name] = df
        ratios["together"].append(sum(walls[c][-1] for c in commands) / d_wall)
        if i == 0:
            problems = check(ours, duck)
        print(f"run {i + 1}: duckdb {d_wall:.2f} s; " + "; ".join(f"{c} {walls[c][-1]:.2f} s" for c in commands),
              file=sys.stderr)
    size_mb = (data / "purchases.csv").stat().st_size / 1e6
    print(f"size {args.size} ({size_mb:.0f} MB purchases.csv), {args.runs} runs, {os.cpu_count()} cores")
    print_figures({**walls, "together": []}, peaks, ratios, "ratio vs duckdb (median, min-max)")
    print("results identical to DuckDB: " + ("yes" if not problems else "NO: " + "; ".join(problems)))


if __name__ == "__main__":
    main()

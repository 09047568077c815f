"""One value per KPI everywhere, and numbers that never contradict each other
(issue: credible numbers). Hypothesis draws small businesses — customers with a
segment, purchases, complaints, survey answers — and runs every command and the
report on them through the command line; the properties:

- the same KPI has the same value in `summary`, its own command, and the report's
  CSV and JSON files (and the HTML page shows the report's value);
- flows add up: retained + lost = customers at the start, lost ≤ start,
  end = retained + new + reactivated;
- every share and rate that is a proportion lies in [0, 1];
- word of mouth: dissatisfied defections ≤ lost customers × the dissatisfaction share;
- a period that starts on or after the data end has null KPIs, never 0;
- a KPI whose input column is absent is null or left out, never 0.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, timedelta

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import Cli

# Each example runs seven commands and the report (about 2 s): few examples, and no
# shrinking (a failure shows the example as drawn); raise max_examples for a deeper search.
SLOW_OK = settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

START = date(2024, 1, 1)
DAYS = 365
IDS = [f"C{i:02d}" for i in range(12)]
SEGMENTS = ["retail", "online"]

CONFIG = """inputs:
  customers: {path: customers.csv}
  purchases: {path: purchases.csv}
  complaints: {path: complaints.csv}
  responses: {path: responses.csv}
churn: {inactivity_days: 90}
satisfaction: {min_responses: 1}
economics: {gross_margin: 0.4}
report:
  period: 2024-10..2024-12
  sections: [summary, churn, purchases, complaints, satisfaction, wom]
  formats: [csv, json, html]
  output_dir: out
"""

# proportions: whatever the data, between 0 and 1 (net revenue retention and the
# multi-product and repeat/first ratios are not proportions)
PROPORTIONS = ("churn_rate", "churn_rate_low", "churn_rate_high", "retention_rate", "repurchase_rate",
               "returning_buyer_share", "multi_product_share", "top_customer_revenue_share",
               "complaint_rate", "resolved_share", "sla_attainment", "traceability_share", "promoters_share",
               "passives_share", "detractors_share", "csat")


def day(n: int) -> str:
    return (START + timedelta(days=n)).isoformat()


@st.composite
def business(draw):
    """Four small exports of one business over 2024."""
    customers = [(c, draw(st.sampled_from(SEGMENTS))) for c in IDS]
    purchases = draw(st.lists(st.tuples(st.sampled_from(IDS), st.integers(0, DAYS - 1),
                                        st.integers(-20, 300)), min_size=1, max_size=60))
    complaints = draw(st.lists(st.tuples(st.sampled_from(IDS), st.integers(0, DAYS - 1),
                                         st.one_of(st.none(), st.integers(0, 30))), max_size=15))
    answers = draw(st.lists(st.tuples(st.sampled_from(IDS), st.integers(0, DAYS - 1), st.integers(0, 10),
                                      st.integers(1, 5)), min_size=1, max_size=20))
    return {
        "customers.csv": "customer_id,segment\n" + "".join(f"{c},{s}\n" for c, s in customers),
        "purchases.csv": "customer_id,order_date,amount\n" + "".join(
            f"{c},{day(d)},{a}.25\n" for c, d, a in purchases),
        "complaints.csv": "customer_id,opened_date,resolved_date\n" + "".join(
            f"{c},{day(d)},{'' if r is None else day(min(d + r, DAYS - 1))}\n" for c, d, r in complaints),
        "responses.csv": "customer_id,answered_date,nps_score,csat_score\n" + "".join(
            f"{c},{day(d)},{n},{s}\n" for c, d, n, s in answers),
    }


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def number(v):
    return None if v in ("", None) else float(v)


def same(a, b) -> bool:
    """Equal numbers (to rounding), both null, or equal text."""
    try:
        a, b = number(a), number(b)
    except (TypeError, ValueError):
        return a == b
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9))


def command(cli: Cli, *args: str) -> list[dict[str, str]]:
    r = cli(*args, "-f", "csv", "-q", "--as-of", "2025-01-01")
    assert r.exit_code == 0, (args, r.stderr)
    return rows(r.stdout)


@SLOW_OK
@given(files=business())
def test_one_value_per_kpi_and_flows_that_add_up(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("biz")
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "retention.yaml").write_text(CONFIG)
    cli = Cli.fresh(folder)
    span = ("--from", "2024-10", "--to", "2024-12")

    churn = {r["period"]: r for r in command(cli, "churn", *span)}
    purchases = {r["period"]: r for r in command(cli, "purchases", *span)}
    complaints = {r["period"]: r for r in command(cli, "complaints", *span)}
    satisfaction = {r["period"]: r for r in command(cli, "satisfaction", *span)}
    wom = {r["period"]: r for r in command(cli, "wom", *span)}
    summary = {r["kpi"]: r for r in command(cli, "summary", "--period", "2024-12")}

    # flows add up, every period
    for r in churn.values():
        start, end = int(r["customers_start"]), int(r["customers_end"])
        lost, kept = int(r["lost_customers"]), int(r["retained_customers"])
        assert kept + lost == start and lost <= start
        assert end == kept + int(r["new_customers"]) + int(r["reactivated_customers"])
    # proportions in [0, 1]
    for table in (churn, purchases, complaints, satisfaction):
        for r in table.values():
            for k in PROPORTIONS:
                if number(r.get(k)) is not None:
                    assert 0.0 <= float(r[k]) <= 1.0, (k, r[k])
    # defections never beyond the customers lost for dissatisfaction (no churn
    # reasons here: the literature's 82 %)
    for p, r in wom.items():
        lost = int(churn[p]["lost_customers"])
        for level in ("", "_low", "_high"):
            defections = float(r[f"expected_silent_defections{level}"] or 0) + float(
                r[f"expected_complainer_defections{level}"] or 0)
            assert defections <= lost * 0.82 + 1e-9, (p, level, defections, lost)

    # the summary shows the value of each KPI's own command
    own = {"customers_end": churn, "churn_rate": churn, "lost_customers": churn, "orders": purchases,
           "revenue": purchases, "repurchase_rate": purchases, "complaints": complaints,
           "resolved_share": complaints, "nps": satisfaction, "csat": satisfaction, "revenue_at_risk": wom}
    for kpi, table in own.items():
        if kpi in summary:
            assert same(summary[kpi]["value"], table["2024-12"][kpi]), (kpi, summary[kpi]["value"], table["2024-12"][kpi])

    # the report's files hold the same numbers as the commands
    r = cli("report", "-q", "--as-of", "2025-01-01")
    last_order = max(line.split(",")[1] for line in files["purchases.csv"].splitlines()[1:])
    if last_order < "2024-12-01":  # no order in the report's last month: refused as a stale export
        assert r.exit_code == 65 and f"the purchases end on {last_order}, before 2024-12 starts" in r.stderr
        return
    assert r.exit_code == 0, r.stderr
    out = folder / "out"
    for name, table in (("churn", churn), ("purchases", purchases), ("complaints", complaints),
                        ("satisfaction", satisfaction), ("wom", wom)):
        written = {x["period"]: x for x in rows((out / f"{name}.csv").read_text())}
        assert written.keys() == table.keys(), name
        for p in table:
            for k, v in table[p].items():
                assert same(written[p][k], v), (name, p, k, written[p][k], v)
        doc = json.loads((out / f"{name}.json").read_text())
        for x in doc["rows"]:
            for k, v in x.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    assert same(v, table[x["period"]][k]), (name, k, v, table[x["period"]][k])
    report_summary = {x["kpi"]: x for x in rows((out / "summary.csv").read_text())}
    for kpi in summary:
        assert same(report_summary[kpi]["value"], summary[kpi]["value"]), kpi


def test_periods_after_the_data_end_are_null_in_every_command(tmp_path):
    """The data ends on 2024-03-05: April and May have no data. Every KPI of theirs
    is null in every command, never 0."""
    (tmp_path / "p.csv").write_text("customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\nA,2024-03-05,5\n")
    (tmp_path / "k.csv").write_text("customer_id,opened_date,resolved_date\nA,2024-02-10,2024-02-11\n")
    (tmp_path / "r.csv").write_text("customer_id,answered_date,nps_score\nA,2024-02-01,9\n")
    (tmp_path / "retention.yaml").write_text(
        "inputs:\n  purchases: {path: p.csv}\n  complaints: {path: k.csv}\n  responses: {path: r.csv}\n")
    cli = Cli.fresh(tmp_path)
    for cmd in ("churn", "purchases", "complaints", "satisfaction", "wom"):
        r = cli(cmd, "--from", "2024-04", "--to", "2024-05", "-f", "csv", "-q")
        assert r.exit_code == 0, (cmd, r.stderr)
        for row in rows(r.stdout):
            values = {k: v for k, v in row.items() if k not in ("period", "complete")}
            assert all(v == "" for v in values.values()), (cmd, row)

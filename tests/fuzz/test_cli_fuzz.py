"""Fuzzing through the command line (issue: hardening).

Two properties, for `validate`, `churn`, `satisfaction` and `complaints`:

1. Whatever bytes a file holds, the tool ends with exit 0, 65 or 66 and one
   `retention: error:` line, never a traceback; when it succeeds its JSON parses and
   the KPI invariants hold.
2. For random well-formed exports the numbers equal a plain-Python oracle written
   from the definitions of SPEC §3, §4.3 and §4.4 (sets of customers, not arrays).

The default profile keeps the whole module under two minutes; for a deeper search:
`pytest tests/fuzz --hypothesis-profile=long`.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Cli

SLOW_OK = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TABLE_OF = {"validate": "purchases", "churn": "purchases", "satisfaction": "responses", "complaints": "complaints"}
COLUMNS = {
    "purchases": ["customer_id", "order_date", "amount", "order_id", "product_id", "quantity", "unit_price"],
    "responses": ["customer_id", "answered_date", "nps_score", "csat_score"],
    "complaints": ["customer_id", "opened_date", "resolved_date", "status", "category", "channel"],
}
TOKENS = ["A", "B", "00042", " C1 ", "c1", "2024-01-05", "2024-02-29", "2024-02-30", "2023-12-31T23:30:00+01:00",
          "0000-00-00", "1899-12-31", "45000", "31/01/2024", "10", "0", "-5", "1e308", "NaN", "inf", "--5", "12,50",
          '"1,234.5"', "", " ", "#ERROR!", "N/A", "9", "11", "3", "7.0", "yes", "maybe", '"', '""', '"a\nb"',
          "\ufeff", "\x00", "é", "=SUM(A1)", "<script>"]


@st.composite
def csv_like(draw, table: str) -> bytes:
    """Text that looks like an export of ``table``: a header of known and unknown
    names, rows of plausible and implausible tokens, any delimiter, line ending and
    encoding."""
    names = draw(st.lists(st.sampled_from(COLUMNS[table] + ["note", "Customer ID", ""]), min_size=1, max_size=6))
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    rows = draw(st.lists(st.lists(st.sampled_from(TOKENS), min_size=0, max_size=len(names) + 1), max_size=8))
    text = end.join([sep.join(names)] + [sep.join(r) for r in rows]) + draw(st.sampled_from(["", end]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    return text.encode(encoding, errors="replace")


CONFIG = ("inputs:\n  {table}: {{path: data.csv}}\n"
          "churn: {{inactivity_days: {window}}}\n"
          "satisfaction: {{min_responses: 1}}\n")


def run(cli: Cli, command: str, *args: str):
    return cli(command, "-f", "json", "-q", *args)


# --- 1. any bytes ----------------------------------------------------------------------------

@settings(SLOW_OK, max_examples=4 * settings().max_examples)  # the cheapest test: a wider search
@given(command=st.sampled_from(list(TABLE_OF)),
       data=st.one_of(st.binary(max_size=200), csv_like("purchases"), csv_like("responses"),
                      csv_like("complaints")))
def test_any_bytes_end_in_a_documented_way(tmp_path_factory, command, data):
    cli = Cli.fresh(tmp_path_factory.mktemp("fuzz"))
    (cli.cwd / "data.csv").write_bytes(data)
    (cli.cwd / "retention.yaml").write_text(CONFIG.format(table=TABLE_OF[command], window=30))
    args = ["--period", "all"] if command == "satisfaction" else []
    r = run(cli, command, *args)
    assert r.exit_code in (0, 65, 66), (r.exit_code, r.stderr[-500:])
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    if r.exit_code:
        assert sum(line.startswith("retention: error: ") for line in r.stderr.splitlines()) >= 1
        if command != "validate":
            assert r.stdout == ""  # a failed run writes no data
        return
    rows = json.loads(r.stdout)["rows"]
    check_invariants(command, rows)


def close(a, b) -> bool:
    return a is None and b is None or a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def check_invariants(command: str, rows: list[dict]) -> None:
    for row in rows:
        rates = [v for k, v in row.items() if isinstance(v, float) and
                 (k.endswith(("_rate", "_share", "_attainment", "_low", "_high")) or k == "csat")]
        assert all(0 <= v <= 1 + 1e-12 for v in rates), row
        if command == "churn":
            assert row["customers_start"] == row["lost_customers"] + row["retained_customers"]
            if row["churn_rate"] is not None:
                assert close(row["churn_rate"] + row["retention_rate"], 1)
                assert row["churn_rate_low"] - 1e-12 <= row["churn_rate"] <= row["churn_rate_high"] + 1e-12
        elif command == "satisfaction" and row.get("nps_responses"):
            p, d = row["promoters_share"], row["detractors_share"]
            assert close(p + row["passives_share"] + d, 1)
            assert close(row["nps"], 100 * (p - d)) and -100 <= row["nps"] <= 100
        elif command == "complaints" and row["complaints"]:
            assert 1 <= row["complaining_customers"] <= row["complaints"]
            for k in ("median_resolution_days", "mean_resolution_days"):
                assert row[k] is None or row[k] >= 0


# --- 2. well-formed exports against an oracle ------------------------------------------------------

START = date(2023, 7, 1)
MONTHS = [date(2024, m, 1) for m in range(1, 8)]  # the periods 2024-01 … 2024-06 and their ends
DAYS = (date(2024, 6, 30) - START).days
customers = st.sampled_from(["A", "B", "C", "D", "E", "F"])
days = st.integers(0, DAYS).map(lambda n: START + timedelta(days=n))


@SLOW_OK
@given(purchases=st.lists(st.tuples(customers, days, st.sampled_from([10.0, 0.0, -5.0, 2.5])), max_size=25),
       window=st.sampled_from([7, 30, 45, 90, 180]))
def test_churn_equals_the_definitions(tmp_path_factory, purchases, window):
    cli = Cli.fresh(tmp_path_factory.mktemp("churn"))
    lines = ["customer_id,order_date,amount"] + [f"{c},{d.isoformat()},{a}" for c, d, a in purchases]
    (cli.cwd / "data.csv").write_text("\n".join(lines) + "\n")
    (cli.cwd / "retention.yaml").write_text(CONFIG.format(table="purchases", window=window))
    r = run(cli, "churn", "--from", "2024-01", "--to", "2024-06", "--as-of", "2024-07-01")
    if not purchases:
        assert r.exit_code == 0 and all(row["customers_start"] == 0 for row in json.loads(r.stdout)["rows"])
        return
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [row["period"] for row in rows] == [f"2024-0{m}" for m in range(1, 7)]
    buys = [(c, d) for c, d, a in purchases if a >= 0]  # a return is not activity

    def active(t: date) -> set[str]:
        return {c for c, d in buys if t - timedelta(days=window) <= d <= t - timedelta(days=1)}

    first = {}
    for c, d in sorted(buys, key=lambda x: x[1]):
        first.setdefault(c, d)
    for row, s, e in zip(rows, MONTHS, MONTHS[1:]):
        S, E = active(s), active(e)
        new = {c for c, d in first.items() if s <= d < e}
        expected = {"customers_start": len(S), "customers_end": len(E), "new_customers": len(new),
                    "lost_customers": len(S - E), "retained_customers": len(S & E),
                    "reactivated_customers": len(E - S - new)}
        assert {k: row[k] for k in expected} == expected, (row["period"], S, E, new)
        assert close(row["churn_rate"], len(S - E) / len(S) if S else None)
    check_invariants("churn", rows)


scores = st.one_of(st.none(), st.integers(0, 10))
csat = st.one_of(st.none(), st.integers(1, 5))


@SLOW_OK
@given(responses=st.lists(st.tuples(customers, days, scores, csat), max_size=25))
def test_satisfaction_equals_the_definitions(tmp_path_factory, responses):
    responses = [r for r in responses if r[2] is not None or r[3] is not None]  # a row needs a score
    cli = Cli.fresh(tmp_path_factory.mktemp("sat"))
    lines = ["customer_id,answered_date,nps_score,csat_score"] + [
        f"{c},{d.isoformat()},{'' if n is None else n},{'' if k is None else k}" for c, d, n, k in responses]
    (cli.cwd / "data.csv").write_text("\n".join(lines) + "\n")
    (cli.cwd / "retention.yaml").write_text(CONFIG.format(table="responses", window=180))
    r = run(cli, "satisfaction", "--from", "2024-01", "--to", "2024-06", "--as-of", "2024-07-01")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    for row, s, e in zip(rows, MONTHS, MONTHS[1:]):
        nps = [n for c, d, n, k in responses if s <= d < e and n is not None]
        cs = [k for c, d, n, k in responses if s <= d < e and k is not None]
        assert row["nps_responses"] == len(nps) and row["csat_responses"] == len(cs)
        if nps:
            p, d = sum(n >= 9 for n in nps) / len(nps), sum(n <= 6 for n in nps) / len(nps)
            assert close(row["nps"], 100 * (p - d))
            assert close(row["nps_margin_of_error"], 100 * 1.96 * math.sqrt((p + d - (p - d) ** 2) / len(nps)))
        else:
            assert row["nps"] is None
        assert close(row["csat"], sum(k >= 4 for k in cs) / len(cs) if cs else None)
        assert close(row["csat_mean"], sum(cs) / len(cs) if cs else None)
    check_invariants("satisfaction", rows)


@SLOW_OK
@given(complaints=st.lists(st.tuples(customers, days, st.one_of(st.none(), st.integers(0, 40))), max_size=20))
def test_complaints_equal_the_definitions(tmp_path_factory, complaints):
    cli = Cli.fresh(tmp_path_factory.mktemp("cmp"))
    rows_in = [(c, d, None if k is None else d + timedelta(days=k)) for c, d, k in complaints]
    lines = ["customer_id,opened_date,resolved_date,category"] + [
        f"{c},{d.isoformat()},{'' if z is None else z.isoformat()},delivery" for c, d, z in rows_in]
    (cli.cwd / "data.csv").write_text("\n".join(lines) + "\n")
    (cli.cwd / "retention.yaml").write_text(CONFIG.format(table="complaints", window=180))
    r = run(cli, "complaints", "--from", "2024-01", "--to", "2024-06", "--as-of", "2024-07-01")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    # a resolution dated on or after the data end (as_of) is not known yet (README)
    rows_in = [(c, d, z if z is not None and z < MONTHS[-1] else None) for c, d, z in rows_in]
    for row, s, e in zip(rows, MONTHS, MONTHS[1:]):
        mine = [(c, d, z) for c, d, z in rows_in if s <= d < e]
        assert row["complaints"] == len(mine)
        assert row["complaining_customers"] == len({c for c, _, _ in mine})
        assert row["open_backlog_end"] == sum(1 for c, d, z in rows_in if d < e and (z is None or z >= e))
        if mine:
            assert close(row["resolved_share"], sum(z is not None for _, _, z in mine) / len(mine))
            assert close(row["sla_attainment"], sum(z is not None and (z - d).days <= 2 for _, d, z in mine) / len(mine))
        else:
            assert row["resolved_share"] is None
    check_invariants("complaints", rows)

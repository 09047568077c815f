"""Customer facts made in the engine (``engines.facts``): the orders stay in DuckDB,
the process gets one row per customer and the facts asked of them; churn and
cohorts give the local numbers."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ibis")
pytest.importorskip("duckdb")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from retention_cli.model.customers import NEVER, active_matrix  # noqa: E402
from tests.engines.facts_lines import LINES_WITH_STRETCHES as LINES  # noqa: E402

EPOCH = dt.date(1970, 1, 1)


def day(text: str) -> int:
    return (dt.date.fromisoformat(text) - EPOCH).days


def read_facts(folder: Path, lines: str, engine: str = "duckdb", window: int = 30):
    from retention_cli.config import load_config
    from retention_cli.io.readers.tables import read_table
    from retention_cli.session import ORDER_COLUMNS

    (folder / "p.csv").write_text(lines)
    (folder / "retention.yaml").write_text(f"inputs:\n  purchases: {{path: p.csv}}\nchurn: {{inactivity_days: {window}}}\n")
    cfg = load_config(folder / "retention.yaml")
    return read_table("purchases", cfg.input("purchases"), cfg, columns=ORDER_COLUMNS,
                      engine=cfg.engine.model_copy(update={"name": engine}), orders=True, facts=True)


def test_the_engine_keeps_the_orders_and_hands_over_one_row_per_customer(tmp_path):
    t = read_facts(tmp_path, LINES)
    kept = t.facts
    assert kept is not None and t.row_lines.tolist() == [5, 1, 2]  # A, B, C: their lines
    assert t.df["customer_id"].astype(str).tolist() == ["A", "B", "C"]
    assert [str(d.date()) for d in t.df["order_date"]] == ["2024-01-01", "2024-02-01", "2024-02-27"]
    assert t.rows == t.rows_read == 8 and kept.n_orders == 7
    assert str(t.last_line.date()) == "2024-03-27"  # C's later line: the data end's event
    assert kept.first_buy.tolist() == [day("2024-01-01"), NEVER, day("2024-02-27")]  # B only returned
    kept.bind(np.array([10, 11, 12]))  # the run's codes of A, B, C
    cust, start, end = kept.intervals(30)
    got = sorted(zip(cust.tolist(), start.tolist(), end.tolist()))
    # [first + 1, last + 30 + 1) per stretch: A's 01-01 and 01-21 one, 03-15 another
    # (the return of 03-20 is no purchase); C's one order
    assert got == [(10, day("2024-01-02"), day("2024-02-21")), (10, day("2024-03-16"), day("2024-04-15")),
                   (12, day("2024-02-28"), day("2024-03-29"))]
    cust, start, end = kept.intervals(60)  # a wider window joins A's two stretches
    assert sorted(zip(cust.tolist(), start.tolist(), end.tolist())) == [
        (10, day("2024-01-02"), day("2024-05-15")), (12, day("2024-02-28"), day("2024-04-28"))]
    months = [("2024-01-01", "2024-02-01"), ("2024-02-01", "2024-03-01"), ("2024-03-01", "2024-04-01")]
    cust, k = kept.buyers(np.array([day(s) for s, _ in months]), np.array([day(e) for _, e in months]))
    # A bought in January (twice: once) and March; C in February (its order's date)
    assert sorted(zip(cust.tolist(), k.tolist())) == [(10, 0), (10, 2), (12, 1)]
    kept.close()


def test_lines_that_are_not_clean_come_over_as_lines(tmp_path):
    """A line the engine does not type as the readers would: no facts, the lines
    are read (and the bad one named) by the readers."""
    from retention_cli.errors import DataError

    with pytest.raises(DataError, match="1 bad row"):
        read_facts(tmp_path, LINES.replace("2024-01-21", "2024-01-32"))
    t = read_facts(tmp_path, LINES.replace("A,a2", " A,a2"))  # an id the readers trim
    assert t.facts is None and t.row_lines is None and t.rows == 8


@pytest.mark.parametrize("on_bounds", [False, True])
def test_churn_and_cohorts_ask_the_engine_and_equal_local(tmp_path, monkeypatch, on_bounds):
    """churn (by a customers attribute) and cohorts read the facts of the engine's
    orders, and their numbers are the local ones; cohorts --revenue and purchases
    read the engine's sums of them. The orders are dated into the periods by a
    table of the periods' days, or (``on_bounds``: periods of more days than that
    table holds) by the periods' bounds: the same numbers."""
    from retention_cli.engines import facts
    from tests.conftest import Cli
    from tests.engines.facts_lines import close_csv, local_then_engine, spy_on_orders

    if on_bounds:
        monkeypatch.setattr(facts, "_DAYS_JOINED", 0)

    (tmp_path / "p.csv").write_text(LINES)
    (tmp_path / "c.csv").write_text("customer_id,segment\nA,x\nB,y\nC,y\nD,x\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
                                             "churn: {inactivity_days: 30}\n")
    asked = spy_on_orders(monkeypatch)
    cli = Cli.fresh(tmp_path)
    for cmd, kind in ((("churn", "--by", "segment"), (True, True)), (("cohorts", "--by", "segment"), (True, True)),
                      (("cohorts",), (True, True)),
                      (("churn", "--freq", "week"), (True, True)), (("cohorts", "--revenue"), ("sums", True))):
        args = (*cmd, "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-05") if "week" not in cmd else \
            (*cmd, "-f", "csv", "-q", "--from", "2024-W01", "--to", "2024-W16")
        local, duck = local_then_engine(cli, args, asked)
        assert duck.stdout == local.stdout and local.stdout
        assert asked[0] == kind, cmd
    for cmd in (("purchases",), ("purchases", "--by", "segment")):
        local, duck = local_then_engine(cli, (*cmd, "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-05"), asked)
        assert asked[0] == ("sums", True)
        close_csv(local.stdout, duck.stdout)
    # each cohort's revenue summed by the engine, cumulated per member: A's January
    # cohort 10 + 5 in January, then March's 8 + 2 - 8 (the return counts): 15, 15,
    # 17; C's February cohort its one order of two lines (1 + 1), dated 02-27: 2, 2
    rev = cli("cohorts", "--revenue", "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-03", "--engine", "duckdb")
    assert [(r["cohort"], r["cumulative_revenue_per_member"]) for r in Cli.csv_rows(rev) if r["cohort_size"] != "0"] \
        == [("2024-01", "15.0"), ("2024-01", "15.0"), ("2024-01", "17.0"), ("2024-02", "2.0"), ("2024-02", "2.0")]
    # the cohort triangle counted by the engine (no segments): A's January cohort bought
    # in January and March; C's February cohort in February (its order's date); B only
    # returned (no cohort); March has no cohort
    tri = cli("cohorts", "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-03", "--engine", "duckdb")
    assert [line.split(",")[:4] for line in tri.stdout.splitlines()[1:]] == [
        ["2024-01", "0", "1", "1"], ["2024-01", "1", "1", "0"], ["2024-01", "2", "1", "1"],
        ["2024-02", "0", "1", "1"], ["2024-02", "1", "1", "0"], ["2024-03", "0", "0", "0"]]
    by_month = cli("churn", "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-03", "--engine", "duckdb")
    # by hand (30 days): active at 02-01 A (01-21); at 03-01 C (02-27); at 04-01 A (03-15), not C (its order
    # is dated by its first line, 02-27); March ends after the data end (03-28): incomplete
    rows = [line.split(",")[:8] for line in by_month.stdout.splitlines()[1:]]
    assert rows == [["2024-01", "true", "0", "1", "1", "0", "0", "0"],
                    ["2024-02", "true", "1", "1", "1", "1", "0", "0"],
                    ["2024-03", "false", "1", "1", "0", "1", "0", "1"]]


PURCHASES_BY_HAND = {  # SHOP_LINES, by month (see tests/engines/facts_lines.py)
    "orders": ["3", "2", "2"], "buyers": ["2", "2", "2"], "revenue": ["35.0", "20.0", "12.0"],
    "order_revenue": ["35.0", "40.0", "12.0"], "average_order_value": ["11.67", "20.0", "6.0"],
    "first_order_aov": ["15.0", "10.0", ""], "repeat_order_aov": ["5.0", "30.0", "6.0"],
    "repeat_to_first_aov_ratio": ["0.3333333333333333", "3.0", ""],
    "multi_product_share": ["0.5", "0.5", "0.0"], "multi_product_ratio": ["1.0", "1.0", "0.0"],
    "top_customer_revenue_share": ["0.5714285714285714", "0.75", "0.6666666666666666"],
    "previous_order_revenue": ["0.0", "35.0", "40.0"], "new_revenue": ["35.0", "10.0", "0.0"],
    "reactivation_revenue": ["0.0", "0.0", "8.0"], "expansion_revenue": ["0.0", "15.0", "0.0"],
    "contraction_revenue": ["0.0", "0.0", "6.0"], "churned_revenue": ["0.0", "20.0", "30.0"],
    "growing_customers_share": ["", "1.0", "0.0"], "net_revenue_retention": ["", "0.8571428571428571", "0.1"],
    "repurchase_rate": ["", "0.5", "0.6666666666666666"], "returning_buyer_share": ["0.0", "0.5", "1.0"],
}


SEGMENT_Y_BY_HAND = {  # SHOP_LINES, B and C (segment y), by month (see below)
    "orders": ["1", "1", "2"], "buyers": ["1", "1", "2"], "revenue": ["20.0", "-10.0", "12.0"],
    "order_revenue": ["20.0", "10.0", "12.0"], "previous_order_revenue": ["0.0", "20.0", "10.0"],
    "new_revenue": ["20.0", "10.0", "0.0"], "reactivation_revenue": ["0.0", "0.0", "8.0"],
    "contraction_revenue": ["0.0", "0.0", "6.0"], "churned_revenue": ["0.0", "20.0", "0.0"],
    "top_customer_revenue_share": ["1.0", "1.0", "0.6666666666666666"],
    "net_revenue_retention": ["", "0.0", "0.4"], "multi_product_share": ["0.0", "1.0", "0.0"],
    "returning_buyer_share": ["0.0", "0.0", "1.0"],
}
SHOP_CUSTOMERS = "customer_id,loyalty_member,segment\nA,true,x\nB,false,y\nC,false,y\n"


def test_purchases_sums_its_orders_in_the_engine(tmp_path, monkeypatch):
    """purchases without --by keeps the orders in DuckDB and asks it the sums per
    month; every figure is the one worked out by hand, and local's. By hand: January
    A (a1 10, a2 5: two products) and B (b1 20): first orders a1 and b1 (15), a
    repeat of 5, the top fifth (one buyer) B's 20 of 35; February A (a3 30: grown by
    15) and C (its first, 10 in two lines of two products), B's return -20 counts
    in revenue only, B's 20 churned; March B back (8, reactivation), C down to 4
    (contraction 6), A's 30 churned; the net revenue retention of March is C's 4 of
    February's 40."""
    from tests.conftest import Cli
    from tests.engines.facts_lines import SHOP_LINES, close_csv, local_then_engine, spy_on_orders

    (tmp_path / "p.csv").write_text(SHOP_LINES)
    (tmp_path / "c.csv").write_text(SHOP_CUSTOMERS)
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n")
    asked = spy_on_orders(monkeypatch)
    cli = Cli.fresh(tmp_path)
    args = ("purchases", "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-03")
    local, duck = local_then_engine(cli, args, asked)
    assert asked == [("sums", True)]  # the orders stayed in the engine
    for out in (local, duck):
        rows = Cli.csv_rows(out)
        got = {k: [r[k] for r in rows] for k in PURCHASES_BY_HAND}
        assert got == PURCHASES_BY_HAND
        # the loyalty members (A) among the customers active at each month's end (180
        # days): A and B at February's start, then A, B and C
        assert [r["loyalty_participation_rate"] for r in rows] == ["0.5", "0.3333333333333333", "0.3333333333333333"]
    close_csv(local.stdout, duck.stdout)
    # by a customers attribute, the engine sums per (month, segment) and the total: x
    # is A (January 10 + 5, February 30: grown by 15, March nothing: 30 churned); y is
    # B and C: January B's 20; February B's return (-20 of revenue) and C's first
    # order of 10 in two products, B's 20 churned, none of January's buyers back
    # (NRR 0); March B back (8, reactivation), C down to 4 (contraction 6), the top
    # fifth (one of two buyers) B's 8 of 12, and C's 4 of February's 10 (NRR 0.4)
    asked.clear()
    by = cli(*args, "--by", "segment", "--engine", "duckdb")
    assert by.exit_code == 0 and asked == [("sums", True)], by.stderr
    rows = Cli.csv_rows(by)
    assert [r["orders"] for r in rows if r["segment"] == "(all)"] == PURCHASES_BY_HAND["orders"]
    assert {k: [r[k] for r in rows if r["segment"] == "y"] for k in SEGMENT_Y_BY_HAND} == SEGMENT_Y_BY_HAND
    x = {k: [r[k] for r in rows if r["segment"] == "x"] for k in ("orders", "expansion_revenue", "churned_revenue")}
    assert x == {"orders": ["2", "1", "0"], "expansion_revenue": ["0.0", "15.0", "0.0"],
                 "churned_revenue": ["0.0", "0.0", "30.0"]}
    assert by.stdout == cli(*args, "--by", "segment").stdout  # local's, to the byte here


def test_a_buyer_s_spend_compared_on_sums_added_in_the_order_of_the_orders(tmp_path, monkeypatch):
    """Whether a buyer's spend grew compares two sums the process adds in the
    orders' order: 0.3 + 0.2 + 0.1 = 0.6 in February, 0.1 + 0.2 + 0.3 =
    0.6000000000000001 in March: grown (by 1.1e-16), as local says, whatever order
    the engine adds them in (those close sums are added again, in order)."""
    from tests.conftest import Cli

    feb = "".join(f"A,f{i},2024-02-0{i + 1},{a}\n" for i, a in enumerate(("0.3", "0.2", "0.1")))
    mar = "".join(f"A,m{i},2024-03-0{i + 1},{a}\n" for i, a in enumerate(("0.1", "0.2", "0.3")))
    (tmp_path / "p.csv").write_text("customer_id,order_id,order_date,amount\n" + feb + mar)
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n")
    from retention_cli.engines.facts import EngineOrders

    added_again = []
    real = EngineOrders._ties
    monkeypatch.setattr(EngineOrders, "_ties", lambda self, close, *more: (
        added_again.append(close.num_rows), real(self, close, *more))[1])
    cli = Cli.fresh(tmp_path)
    for engine in ("local", "duckdb"):
        out = cli("purchases", "-f", "csv", "-q", "--from", "2024-03", "--to", "2024-03", "--engine", engine)
        assert out.exit_code == 0, out.stderr
        row = Cli.csv_rows(out)[0]
        assert row["growing_customers_share"] == "1.0" and float(row["expansion_revenue"]) == 0.0, engine
    assert added_again == [1]  # A in March: whatever the engine's sums, added again in order


def test_single_orders_tiny_amounts_first_and_repeat_orders_as_local(tmp_path, monkeypatch):
    """Where exact sums and the process's float sums could part: one order each of
    19.99 and 19.990000000000002 (grown, by the amounts as they are); an amount of
    1e-11 (a purchase of more than nothing: B grows from it, not reactivated); a
    repeat revenue of about 25 beside a first order of 10,000,000.07 (its own sum,
    not a difference of two large ones: the ratio of the two within 1e-9); and a
    file of no order (the same columns)."""
    from tests.conftest import Cli
    from tests.engines.facts_lines import close_csv, spy_on_orders

    (tmp_path / "p.csv").write_text("customer_id,order_id,order_date,amount\n"
                                    "A,a1,2024-01-05,19.99\nA,a2,2024-02-05,19.990000000000002\n"
                                    "B,b1,2024-01-06,0.00000000001\nB,b2,2024-02-06,5\n"
                                    "C,c1,2024-02-07,10000000.07\nC,c2,2024-02-08,0.01\n")
    (tmp_path / "e.csv").write_text("customer_id,order_id,order_date,amount\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n")
    asked = spy_on_orders(monkeypatch)
    cli = Cli.fresh(tmp_path)
    args = ("purchases", "-f", "csv", "-q", "--from", "2024-02", "--to", "2024-02")
    outs = []
    for engine in ("local", "duckdb"):
        asked.clear()
        out = cli(*args, "--engine", engine)
        assert out.exit_code == 0, out.stderr
        row = Cli.csv_rows(out)[0]
        # February's buyers of January too: A (one order each, 19.99 -> 19.990000000000002)
        # and B (1e-11 -> 5) grew; the repeat orders a2, b2, c2: 25.000000000000002 / 3
        assert (row["growing_customers_share"], row["reactivation_revenue"]) == ("1.0", "0.0"), engine
        assert row["repeat_order_aov"] == "8.33", engine
        outs.append(out.stdout)
    assert asked == [("sums", True)]  # the duckdb run summed in the engine
    close_csv(*outs)
    empty = [cli("purchases", "-f", "csv", "-q", "--purchases", "e.csv", "--engine", engine)
             for engine in ("local", "duckdb")]
    assert [e.exit_code for e in empty] == [0, 0], empty[1].stderr
    assert empty[1].stdout.splitlines()[0] == empty[0].stdout.splitlines()[0]


def test_complaints_count_the_orders_and_returns_the_engine_keeps(tmp_path, monkeypatch):
    """complaints, wom and summary keep the orders in the engine too: the orders per
    month and the return after a complaint come from it. By hand (30 days, SLA 2
    days): January's complaints A (resolved in a day), B (in 15 days), C (open)
    among January's orders a1, b1, c1 (b2 a return): 100 per 100 orders; A bought
    again within 30 days (a2), B and C did not: return rates 1, 0, 0. February: D
    (resolved in a day, bought again: d2) among a2, d1, d2: 33.3 per 100 orders,
    complaint rate 1 of A, B, C active at the start and D new: 0.25; of A, B and C
    (active, silent) only A bought in the 30 days from the start: 1/3. March: A and
    D active at the start, neither bought by 03-30: 0 of 2. By segment (A, B x;
    C, D y; E no customer): February's y has D's complaint among d1, d2: 50."""
    from tests.conftest import Cli
    from tests.engines.facts_lines import local_then_engine, spy_on_orders

    (tmp_path / "p.csv").write_text(
        "customer_id,order_id,order_date,amount\nA,a1,2024-01-05,10\nA,a2,2024-02-10,20\nB,b1,2024-01-08,15\n"
        "B,b2,2024-01-25,-15\nC,c1,2024-01-12,30\nC,c2,2024-03-20,5\nD,d1,2024-02-01,40\nD,d2,2024-02-15,10\n"
        "E,e1,2024-05-01,1\n")
    (tmp_path / "k.csv").write_text("complaint_id,customer_id,opened_date,resolved_date,status\n"
                                    "K1,A,2024-01-20,2024-01-21,closed\nK2,B,2024-01-26,2024-02-10,closed\n"
                                    "K3,C,2024-01-15,,open\nK4,D,2024-02-05,2024-02-06,closed\n")
    # the customers in an order of their own, E (a buyer) not among them: the engine's
    # numbering of the customers is not the run's
    (tmp_path / "c.csv").write_text("customer_id,segment\nD,y\nC,y\nA,x\nB,x\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
                                             "  complaints: {path: k.csv}\nchurn: {inactivity_days: 30}\n")
    asked = spy_on_orders(monkeypatch)
    cli = Cli.fresh(tmp_path)
    args = ("complaints", "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-03")
    local, duck = local_then_engine(cli, args, asked)
    assert asked == [(True, True)]  # the orders stayed in the engine
    assert duck.stdout == local.stdout
    cols = ("complaints", "complaint_rate", "complaints_per_100_orders", "return_rate_resolved_fast",
            "return_rate_resolved_slow", "return_rate_unresolved", "customers_no_complaint",
            "return_rate_no_complaint")
    assert {c: [r[c] for r in Cli.csv_rows(duck)] for c in cols} == {
        "complaints": ["3", "1", "0"], "complaint_rate": ["1.0", "0.25", "0.0"],
        "complaints_per_100_orders": ["100.0", "33.333333333333336", "0.0"],
        "return_rate_resolved_fast": ["1.0", "1.0", ""], "return_rate_resolved_slow": ["0.0", "", ""],
        "return_rate_unresolved": ["0.0", "", ""], "customers_no_complaint": ["0", "3", "2"],
        "return_rate_no_complaint": ["", "0.3333333333333333", "0.0"]}
    by = cli(*args, "--by", "segment", "--engine", "duckdb")
    assert by.stdout == cli(*args, "--by", "segment").stdout
    assert [r["complaints_per_100_orders"] for r in Cli.csv_rows(by) if r["segment"] == "y"] == ["100.0", "50.0", "0.0"]
    # the word-of-mouth estimate and the summary read the same facts (and the purchase sums)
    for cmd in (("wom",), ("summary", "--period", "2024-02")):
        asked.clear()
        out = cli(*cmd, "-f", "csv", "-q", "--engine", "duckdb")
        assert out.exit_code == 0 and asked == [("sums", True)], out.stderr
        assert out.stdout == cli(*cmd, "-f", "csv", "-q").stdout, cmd


def test_only_the_engine_s_own_duckdb_rests(tmp_path):
    """The engine's connection rests at 64 MB and gets its limit back exactly; a
    connection the engine did not make (a DuckDB database input's, whose limit is
    its database's) is left as it is."""
    import ibis

    from retention_cli.config import EngineConfig
    from retention_cli.engines import sources

    con = sources.backend("duckdb", EngineConfig(name="duckdb", memory_limit="300MB",
                                                 temp_directory=str(tmp_path / "spill")))

    def limit(c) -> str:
        return c.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]

    before = limit(con)
    sources.rest(con)
    assert limit(con) != before and "MiB" in limit(con)
    sources.awake(con)
    assert limit(con) == before
    other = ibis.duckdb.connect(str(tmp_path / "shop.duckdb"))
    theirs = limit(other)
    sources.rest(other)
    assert limit(other) == theirs


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 100),
                          st.sampled_from(["p1", "p2"]), st.sampled_from(["5", "2.5", "0.1", "0.2", "-3", "0"])),
                min_size=1, max_size=25),
       st.sampled_from([("month", "2024-01", "2024-04"), ("quarter", "2024-Q1", "2024-Q2"), ("all", None, None)]),
       st.none() | st.lists(st.sampled_from(["s1", "s2", ""]), min_size=4, max_size=4))
def test_the_engine_s_purchase_sums_are_local_s(lines, freq, segments):
    """Invariant: on any order lines (several lines per order, returns, zero
    amounts, two products), purchases from the engine's sums equals local's:
    counts and text exactly, the rest within 1e-9; by a customers attribute too
    (any customers in any segments, one without: "(missing)")."""
    from unittest import mock

    from retention_cli.io.readers import tables
    from tests.conftest import Cli
    from tests.engines.facts_lines import close_csv

    text = "customer_id,order_id,order_date,product_id,amount\n" + "".join(
        f"K{c},o{c}-{o},{dt.date(2024, 1, 1) + dt.timedelta(days=d)},{p},{a}\n" for c, o, d, p, a in lines)
    name, start, end = freq
    args = ("purchases", "-f", "csv", "-q", *(("--period", "all") if name == "all" else
                                               ("--freq", name, "--from", start, "--to", end)))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "p.csv").write_text(text)
        config = "inputs:\n  purchases: {path: p.csv}\n"
        if segments is not None:  # in an order of their own, K0 (a buyer or not) not among them
            (Path(folder) / "c.csv").write_text("customer_id,segment\n" + "".join(
                f"K{c},{s}\n" for c, s in reversed(list(enumerate(segments))) if c))
            config += "  customers: {path: c.csv}\n"
            args += ("--by", "segment")
        (Path(folder) / "retention.yaml").write_text(config)
        cli = Cli.fresh(Path(folder))
        local = cli(*args)
        asked = []
        real = tables._orders_of
        with mock.patch.object(tables, "_orders_of", lambda *a, facts=False: (
                asked.append((facts, real(*a, facts=facts))), asked[-1][1])[1]):
            duck = cli(*args, "--engine", "duckdb")
        assert local.exit_code == duck.exit_code == 0, duck.stderr
        assert [(f, got is not None) for f, got in asked] == [("sums", True)]  # summed in the engine
        close_csv(local.stdout, duck.stdout)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 120), st.sampled_from([5.0, -3.0, 0.0])),
                min_size=1, max_size=30),
       st.integers(1, 60))
def test_the_engine_s_stretches_give_the_orders_active_states(orders, window):
    """Invariant: at every instant, who is active by the engine's stretches is who is
    active by the orders' own intervals [d + 1, d + W + 1) (returns left out)."""
    lines = "customer_id,order_id,order_date,amount\n" + "".join(
        f"K{c},o{i},{dt.date(2024, 1, 1) + dt.timedelta(days=d)},{a}\n" for i, (c, d, a) in enumerate(orders))
    with tempfile.TemporaryDirectory() as folder:
        t = read_facts(Path(folder), lines, window=window)
        kept = t.facts
        ids = t.df["customer_id"].astype(str).tolist()
        kept.bind(np.arange(len(ids)))
        code = {k: i for i, k in enumerate(ids)}
        buys = [(code[f"K{c}"], day("2024-01-01") + d) for c, d, a in orders if a >= 0]
        cust = np.array([c for c, _ in buys], dtype=np.int64)
        days = np.array([d for _, d in buys], dtype=np.int64)
        instants = np.arange(day("2024-01-01"), day("2024-01-01") + 200, dtype=np.int64)
        expected = active_matrix(len(ids), (cust, days + 1, days + window + 1), instants)
        assert (active_matrix(len(ids), kept.intervals(window), instants) == expected).all()
        first = np.full(len(ids), NEVER)
        np.minimum.at(first, cust, days)
        assert kept.first_buy.tolist() == first.tolist()
        # the cohort triangle: per (cohort of the first purchase, period), the buyers,
        # in 30-day periods from 2024-01-01
        bounds = day("2024-01-01") + 30 * np.arange(5)
        expected_cells: dict[tuple[int, int], set[int]] = {}
        for c, d in buys:
            k, ck = (d - bounds[0]) // 30, (first[c] - bounds[0]) // 30
            if k < 4 and ck < 4 and k >= ck:
                expected_cells.setdefault((int(ck), int(k)), set()).add(c)
        got = kept.cohort_buyers(bounds[:-1], bounds[1:])
        assert {(c, k): n for c, k, n in zip(*(a.tolist() for a in got))} == {
            key: len(who) for key, who in expected_cells.items()}
        # the complaint return rates' question, from the stretches: did a customer buy
        # in [a, a + W - 1]? Every customer, from every day of the span
        import pandas as pd

        from retention_cli.model.customers import Base, PurchaseDays

        base = Base(pd.Index(ids), None, first, None, None, None, engine=kept)
        q_cust = np.repeat(np.arange(len(ids), dtype=np.int64), 200)
        q_from = np.tile(instants - 30, len(ids))
        answer = [any(c == qc and qa <= d <= qa + window - 1 for c, d in buys) for qc, qa in zip(q_cust, q_from)]
        assert PurchaseDays(base).bought_within(q_cust, q_from, window).tolist() == answer
        kept.close()


def cdnow_with_orders(folder: Path) -> None:
    """The CDNOW sample as an orders export (``order_id``; one transaction in three
    in two lines, a cent apart) and a config with a clv section."""
    from tests.kpis.test_clv import CDNOW

    out = ["customer_id,order_id,order_date,amount"]
    for i, line in enumerate((CDNOW / "CDNOW_sample.txt").read_text().splitlines()):
        f = line.split()
        d, amount = f"{f[2][:4]}-{f[2][4:6]}-{f[2][6:]}", float(f[4])
        if i % 3 == 0 and amount > 0.01:
            half = round(amount / 2, 2)
            out += [f"{f[1]},o{i},{d},{half}", f"{f[1]},o{i},{d},{round(amount - half, 2)}"]
        else:
            out.append(f"{f[1]},o{i},{d},{amount}")
    (folder / "p.csv").write_text("\n".join(out) + "\n")
    (folder / "retention.yaml").write_text(
        "inputs:\n  purchases: {path: p.csv}\nclv: {calibration_end: 1997-09-30, holdout: true}\n"
        "report: {period: 1997-01..1998-06, sections: [churn, clv], formats: [csv, json]}\n")


def test_clv_sums_each_customer_s_purchases_in_the_engine(tmp_path, monkeypatch):
    """The customer-value models' summaries from the orders the engine keeps: the
    order lines worked out by hand (tests/kpis/test_clv.py), then CDNOW as orders:
    the command, its holdout and customers file, and the report's clv section, the
    bytes of local's, with the orders kept in the engine."""
    import types

    import pandas as pd

    from retention_cli.config import load_config
    from retention_cli.io.readers.tables import read_table
    from retention_cli.kpis import clv
    from retention_cli.session import ORDER_COLUMNS
    from tests.conftest import Cli
    from tests.engines.facts_lines import spy_on_orders
    from tests.kpis.test_clv import ORDER_LINES, ORDER_LINES_REPEATS, assert_order_lines_by_hand

    (tmp_path / "p.csv").write_text(ORDER_LINES)
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n")
    cfg = load_config(tmp_path / "retention.yaml")
    t = read_table("purchases", cfg.input("purchases"), cfg, columns=ORDER_COLUMNS,
                   engine=cfg.engine.model_copy(update={"name": "duckdb"}), orders=True, facts="sums")
    kept = t.facts
    assert kept is not None and kept.keeps_sums
    kept.bind(np.array([4, 3, 2, 1, 0]))  # the run's codes of A … E (the engine numbers them by id)
    base = types.SimpleNamespace(orders=None, engine=kept, ids=pd.Index(["E", "D", "C", "B", "A"]))
    assert_order_lines_by_hand(clv.summaries(base, dt.date(2024, 3, 31), "days", dt.date(2024, 6, 30)))
    days, counts, last = kept.clv_repeats(day("2024-03-31"), day("2024-06-30"))
    assert [str(EPOCH + dt.timedelta(days=int(d))) for d in days] == ORDER_LINES_REPEATS
    assert counts.tolist() == [1] * 7 and last == day("2024-06-30")
    kept.close()

    cdnow_with_orders(tmp_path)
    asked = spy_on_orders(monkeypatch)
    cli = Cli.fresh(tmp_path)
    args = ("clv", "-f", "json", "-q", "--customers-out", "scores-{}.csv")
    local = cli(*args[:-1], "scores-local.csv")
    asked.clear()
    duck = cli(*args[:-1], "scores-duckdb.csv", "--engine", "duckdb")
    assert local.exit_code == duck.exit_code == 0, duck.stderr
    assert asked == [("sums", True)]  # the orders stayed in the engine
    import json

    from tests.engines.differential import _without_engine

    assert _without_engine(json.loads(duck.stdout)) == _without_engine(json.loads(local.stdout))
    assert (tmp_path / "scores-duckdb.csv").read_bytes() == (tmp_path / "scores-local.csv").read_bytes()
    held = json.loads(local.stdout)["meta"]["holdout"]
    assert sum(r["customers"] for r in held) == 2357  # CDNOW's customers, each order a purchase
    assert cli("report", "-o", "r-local", "-q").exit_code == 0
    asked.clear()
    duck = cli("report", "-o", "r-duckdb", "-q", "--engine", "duckdb")
    assert duck.exit_code == 0 and asked == [("sums", True)], duck.stderr
    files = sorted(p.name for p in (tmp_path / "r-local").iterdir() if p.name.startswith("clv"))
    assert {"clv.csv", "clv_customers.csv", "clv_holdout.csv", "clv_tracking.csv"} <= set(files)
    for name in files:
        a, b = (tmp_path / "r-local" / name).read_text(), (tmp_path / "r-duckdb" / name).read_text()
        if name.endswith(".json"):  # less the engine's settings and the timings
            a, b = (_without_engine(json.loads(x)) for x in (a, b))
        assert a == b, name

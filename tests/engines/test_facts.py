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


def test_churn_and_cohorts_ask_the_engine_and_equal_local(tmp_path, monkeypatch):
    """churn (by a customers attribute) and cohorts read the facts of the engine's
    orders, and their numbers are the local ones; cohorts --revenue reads orders."""
    from tests.conftest import Cli
    from tests.engines.facts_lines import spy_on_orders

    (tmp_path / "p.csv").write_text(LINES)
    (tmp_path / "c.csv").write_text("customer_id,segment\nA,x\nB,y\nC,y\nD,x\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
                                             "churn: {inactivity_days: 30}\n")
    asked = spy_on_orders(monkeypatch)
    cli = Cli.fresh(tmp_path)
    for cmd, kind in ((("churn", "--by", "segment"), (True, True)), (("cohorts", "--by", "segment"), (True, True)),
                      (("churn", "--freq", "week"), (True, True)), (("cohorts", "--revenue"), (False, True))):
        args = (*cmd, "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-05") if "week" not in cmd else \
            (*cmd, "-f", "csv", "-q", "--from", "2024-W01", "--to", "2024-W16")
        local = cli(*args)
        asked.clear()
        duck = cli(*args, "--engine", "duckdb")
        assert local.exit_code == duck.exit_code == 0, duck.stderr
        assert duck.stdout == local.stdout and local.stdout
        assert asked[0] == kind, cmd
    by_month = cli("churn", "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-03", "--engine", "duckdb")
    # by hand (30 days): active at 02-01 A (01-21); at 03-01 C (02-27); at 04-01 A (03-15), not C (its order
    # is dated by its first line, 02-27); March ends after the data end (03-28): incomplete
    rows = [line.split(",")[:8] for line in by_month.stdout.splitlines()[1:]]
    assert rows == [["2024-01", "true", "0", "1", "1", "0", "0", "0"],
                    ["2024-02", "true", "1", "1", "1", "1", "0", "0"],
                    ["2024-03", "false", "1", "1", "0", "1", "0", "1"]]


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
        kept.close()

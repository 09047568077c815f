"""The duckdb engine gives the local engine's numbers, bad rows and messages."""

from __future__ import annotations

import pytest

pytest.importorskip("ibis")
pytest.importorskip("duckdb")

from retention_cli.errors import DataError  # noqa: E402
from tests.engines.differential import assert_same, inputs, outputs  # noqa: E402
from tests.engines.lines import (LINES, MORE_PLACES, MORE_PLACES_LINES, MORE_PLACES_SUMS,  # noqa: E402
                                 read_purchases, shop, typed_shop)


def test_every_command_equals_local(tmp_path):
    folder = inputs(tmp_path)
    local = outputs(folder, "local")
    assert local["report"] == 0 and local["churn --by segment"][0] == 0 and local["cohorts"][0] == 0
    assert_same(local, outputs(folder, "duckdb"))


def test_bad_rows_skipped_equal_local(tmp_path):
    folder = inputs(tmp_path, policy="skip", bad=True)
    local = outputs(folder, "local")
    assert local["report"] == 0
    assert local["validate"][0] == 65  # the bad rows are there, and found
    assert_same(local, outputs(folder, "duckdb"))


def test_the_engine_makes_the_orders_and_they_are_the_process_s(tmp_path):
    from tests.conftest import Cli

    shop(tmp_path)
    t = read_purchases(tmp_path, "duckdb")
    assert t.row_lines is not None and t.row_lines.tolist() == [3, 2, 1, 1, 1]  # O1..O5: by their first line
    assert t.rows == t.rows_read == 8 and "order_id" not in t.df
    # O1's lines added as the decimals they are (as floats, in the order of the lines, 0.6000000000000001)
    assert t.df["amount"].tolist() == [0.6, 6.0, 7.5, -7.5, 3.0] and 0.1 + 0.2 + 0.3 != 0.6
    assert [str(d.date()) for d in t.df["order_date"]] == ["2024-01-05", "2024-02-10", "2024-02-11", "2024-03-01",
                                                           "2024-02-20"]
    assert str(t.last_line.date()) == "2024-03-02"
    assert read_purchases(tmp_path, "local").row_lines is None  # the local readers hand over the lines
    cli = Cli.fresh(tmp_path)
    for cmd in (("churn", "-f", "json"), ("cohorts", "--revenue", "-f", "json", "--freq", "month")):
        local, duck = cli(*cmd), cli(*cmd, "--engine", "duckdb")
        assert local.exit_code == duck.exit_code == 0, duck.stderr
        strip = lambda out: [line for line in out.splitlines() if '"read_by"' not in line and '"name"' not in line
                             and '"seconds"' not in line and "generated" not in line]
        assert strip(duck.stdout) == strip(local.stdout)
        assert '"data_end": "2024-03-03"' in duck.stdout and '"rows": 8' in duck.stdout
        # the orphan C9: one line, as the local readers count it
        assert "p.csv: 1 rows (1 customer_id, e.g. 'C9') are not in the customers file" in duck.stderr


def test_lines_the_engine_would_not_read_as_the_readers_do_are_read_by_the_readers(tmp_path):
    from tests.conftest import Cli

    # an id with a space at its end (the readers trim it: one customer), a date in
    # another form, a missing amount: the engine hands the lines over as they are
    for spoiled, bad in ((LINES.replace("C2,O2,2024-03-02", "C2 ,O2,2024-03-02"), False),
                         (LINES.replace("2024-02-11", "2024-02-11T10:00:00+01:00"), False),
                         (LINES.replace("C9,O5,2024-02-20,3", "C9,O5,2024-02-20,"), True),
                         # DuckDB reads hour 24 as the next day; the readers call it no date
                         (LINES.replace("2024-02-11", "2024-02-11 24:00:00"), True)):
        shop(tmp_path, spoiled)
        if bad:
            with pytest.raises(DataError, match="1 bad row"):
                read_purchases(tmp_path, "duckdb")
        else:
            assert read_purchases(tmp_path, "duckdb").row_lines is None
        cli = Cli.fresh(tmp_path)
        local, duck = cli("churn", "-f", "csv", "-q"), cli("churn", "-f", "csv", "-q", "--engine", "duckdb")
        assert (local.exit_code, local.stdout) == (duck.exit_code, duck.stdout)


def test_the_engine_s_spaces_are_the_readers_spaces():
    """An id with one of the characters the readers trim at an end is sent over line
    by line (``_NOT_PLAIN_ID``): the engine's pattern matches exactly those."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    from retention_cli.engines.sources import _NOT_PLAIN_ID

    points = [c for c in range(0x3001) if not 0xD800 <= c <= 0xDFFF] + [0xFEFF, 0x1F600]
    trimmed = pc.utf8_trim_whitespace(pa.array([f"a{chr(c)}" for c in points])).to_pylist()
    con = duckdb.connect()
    flagged = {c for c, in con.execute(
        "SELECT c FROM (SELECT unnest(?) AS c) WHERE regexp_matches('a' || chr(c), ?) "
        "OR regexp_matches(chr(c) || 'a', ?)", [points, _NOT_PLAIN_ID, _NOT_PLAIN_ID]).fetchall()}
    assert flagged == {c for c, t in zip(points, trimmed) if t == "a"} | {0xFEFF}
    assert {c for c, t in zip(points, trimmed) if t == "a"} >= {0x1C, 0x1F, 0x85, 0xA0, 0x3000}


def _local_and_duckdb(tmp_path, purchases: str):
    """churn and cohorts --revenue by quarter, local and duckdb, with their rejects."""
    from tests.conftest import Cli

    shop(tmp_path, purchases)
    (tmp_path / "c.csv").write_text("customer_id\nA\nB\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv, on_bad_rows: skip}\n"
                                             "  customers: {path: c.csv}\nchurn: {inactivity_days: 30}\n")
    cli = Cli.fresh(tmp_path)
    for side in ("local", "duck"):
        (tmp_path / side).mkdir(exist_ok=True)
    errors = []
    for cmd in (("churn", "--freq", "quarter"), ("cohorts", "--revenue", "--freq", "quarter")):
        local = cli(*cmd, "-f", "csv", "-o", f"local/{cmd[0]}.csv")
        duck = cli(*cmd, "-f", "csv", "-o", f"duck/{cmd[0]}.csv", "--engine", "duckdb")
        assert local.exit_code == duck.exit_code == 0, duck.stderr
        assert (tmp_path / f"duck/{cmd[0]}.csv").read_text() == (tmp_path / f"local/{cmd[0]}.csv").read_text()
        errors.append(duck.stderr)
    return errors


def test_an_id_ending_in_a_separator_the_readers_trim_is_one_customer(tmp_path):
    # 'A\x1f' is 'A' to the readers (one customer, one order): the engine sends such
    # lines over as they are
    _local_and_duckdb(tmp_path, "customer_id,order_id,order_date,amount\nA,o1,2024-01-05,10\n"
                                "A\x1f,o1,2024-09-20,3\nB,o2,2024-12-01,1\n")


def test_a_refunded_order_is_an_order_of_zero_in_the_engine_as_in_the_process(tmp_path):
    # A's order o1 is refunded line by line (as floats: -1.8e-15, a return); its
    # lines 10.10 + 5.05 - 15.15 are 0 as decimals: an order, in both engines
    _local_and_duckdb(tmp_path, "customer_id,order_id,order_date,amount\nA,o1,2024-01-05,10.10\n"
                                "A,o1,2024-01-05,5.05\nA,o1,2024-01-06,-15.15\nB,o2,2024-02-01,1\n")
    rows = [line.split(",") for line in (tmp_path / "duck/cohorts.csv").read_text().splitlines()]
    first = dict(zip(rows[0], rows[1]))
    # A's order of 0 makes A a customer of 2024-Q1 beside B (a return would not)
    assert (first["cohort"], first["offset"], first["cohort_size"], first["active"]) == ("2024-Q1", "0", "2", "2")


def test_the_engine_adds_amounts_of_more_places_after_the_exact_sum_in_line_order(tmp_path):
    shop(tmp_path, MORE_PLACES)
    t = read_purchases(tmp_path, "duckdb")
    assert t.row_lines is not None and t.row_lines.tolist() == MORE_PLACES_LINES  # made by the engine
    assert t.df["amount"].tolist() == MORE_PLACES_SUMS
    _local_and_duckdb(tmp_path, MORE_PLACES)  # every figure local's


def test_an_order_of_2_to_the_53_ten_thousandths_is_added_by_the_process(tmp_path):
    # 0.0001 + 460000000000 - 460000000000: 9.2e15 ten-thousandths in all, past what a
    # float adds exactly: the lines come over, the process adds them in line order
    lines = ("customer_id,order_id,order_date,amount\nA,o1,2024-01-05,0.0001\nA,o1,2024-01-05,460000000000\n"
             "A,o1,2024-01-06,-460000000000\nB,o2,2024-02-01,1\n")
    shop(tmp_path, lines)
    assert read_purchases(tmp_path, "duckdb").row_lines is None
    assert read_purchases(tmp_path, "local").df["amount"].tolist() == [0.0001, 460000000000.0, -460000000000.0, 1.0]
    _local_and_duckdb(tmp_path, lines)


def test_a_bad_line_among_orders_the_engine_made_is_read_again_as_lines(tmp_path, monkeypatch):
    """Should the engine's checks miss a value the readers call bad, the input is
    read again line by line: the bad row is a line, named and rejected as one."""
    from retention_cli.engines import sources

    monkeypatch.setattr(sources, "_NOT_PLAIN_ID", "^$")  # sees no space at all
    errors = _local_and_duckdb(tmp_path, "customer_id,order_id,order_date,amount\nA,o1,2024-01-05,10\n"
                                         "B,o2,2024-12-01,1\nB,o2,2024-12-01,1\n\x1f,o9,2024-04-01,2\n"
                                         "Z,o7,2024-04-03,2\n")
    assert all("skipped 1 bad row" in e and "1 rows (1 customer_id, e.g. 'Z')" in e for e in errors)
    rejected = (tmp_path / "duck/rejects/purchases.csv").read_text()
    assert "o9" in rejected and "o2" not in rejected


def _january_on_both(tmp_path) -> dict[str, str]:
    """`purchases` of 2024-01 on local and on duckdb: the same output; its row."""
    from tests.conftest import Cli

    cli = Cli.fresh(tmp_path)
    local = cli("purchases", "--period", "2024-01", "-f", "csv")
    duck = cli("purchases", "--period", "2024-01", "-f", "csv", "--engine", "duckdb")
    assert local.exit_code == duck.exit_code == 0, duck.stderr
    assert duck.stdout == local.stdout
    return cli.csv_rows(duck)[0]


def test_the_engine_makes_the_orders_of_purchases_with_their_products(tmp_path):
    """Multi-product buyers from orders the engine made: each order brings its least
    and greatest product id. A buys one product per order but two in the month; B
    two in one order; C the same product in two orders (one product)."""
    from retention_cli.config import load_config
    from retention_cli.io.readers.tables import PRODUCT_LAST, read_table
    from retention_cli.session import ORDER_COLUMNS

    shop(tmp_path, "customer_id,order_id,order_date,amount,product_id\n"
                    "A,o1,2024-01-05,10,P1\nA,o1,2024-01-05,5,P1\nA,o2,2024-01-20,7,P2\n"
                    "B,o3,2024-01-08,3,P2\nB,o3,2024-01-08,4,P1\nC,o4,2024-01-09,2,P1\nC,o5,2024-01-29,2,P1\n")
    cfg = load_config(tmp_path / "retention.yaml")
    t = read_table("purchases", cfg.input("purchases"), cfg, columns=ORDER_COLUMNS | {"product_id", "cost"},
                   engine=cfg.engine.model_copy(update={"name": "duckdb"}), orders=True)
    assert t.row_lines.tolist() == [2, 1, 2, 1, 1]
    assert t.df["product_id"].astype(str).tolist() == ["P1", "P2", "P1", "P1", "P1"]
    assert t.df[PRODUCT_LAST].astype(str).tolist() == ["P1", "P2", "P2", "P1", "P1"]
    row = _january_on_both(tmp_path)
    assert row["multi_product_share"] == str(2 / 3) and row["orders"] == "5"


def test_the_engine_s_first_purchase_of_a_day_is_the_order_whose_first_line_comes_first(tmp_path):
    """C1's two orders of 2024-01-05: Z9's first line comes before A1's, so Z9 (7 + 1)
    is the first purchase, as the process numbers the orders (by their first line,
    not by id): first-order value (8 + 4) / 2 = 6, repeat 5. The engine numbers the
    lines by the table it keeps them in, and lets that table go once the orders are
    kept."""
    from retention_cli.engines.sources import _BACKENDS

    shop(tmp_path, "customer_id,order_id,order_date,amount\n"
                   "C1,Z9,2024-01-05,7\nC1,A1,2024-01-05,5\nC1,Z9,2024-01-05,1\nC2,B2,2024-01-06,4\n")
    row = _january_on_both(tmp_path)
    assert (row["first_order_aov"], row["repeat_order_aov"], row["orders"]) == ("6.0", "5.0", "3")
    kept = set()  # what the engine keeps: the orders (_e) and first purchases (_b), no lines (_d)
    for key, con in _BACKENDS.items():
        if key[0] == "duckdb":
            kept |= set(con.raw_sql("SELECT column_name FROM duckdb_columns() WHERE table_name LIKE '_retention%' "
                                    "AND column_name IN ('_b', '_d', '_e')").fetchall())
    assert sorted(kept) == [("_b",), ("_e",)]


# how each command asks for the orders, on local then on duckdb: (the facts asked
# for, whether the engine gave them); made: the engine makes the orders and hands
# them over; kept: it keeps them and answers the facts asked (``engines.facts``)
MADE = [(False, False), (False, True)]


def _kept(kind):
    return [(kind, False), (False, False), (kind, True)]


@pytest.mark.parametrize("cmd, asked", [
    (("summary", "--period", "2024-02"), _kept("sums")), (("complaints",), _kept(True)),
    (("complaints", "--reasons"), _kept(True)), (("wom",), _kept("sums")), (("suggest-window",), _kept(True)),
    (("satisfaction", "--by", "segment"), _kept(True)), (("satisfaction", "--link"), _kept(True)),
    (("report", "-o", "out", "--from", "2024-01", "--to", "2024-03"), _kept("sums")),
    # the clv section sums each customer's purchases in the engine too
    (("report", "-o", "out", "--from", "2024-01", "--to", "2024-03", "clv"), _kept("sums")),
])
def test_the_commands_that_read_purchases_through_the_base_have_the_engine_make_the_orders(tmp_path, monkeypatch,
                                                                                           cmd, asked):
    """summary, complaints (and --reasons), wom, suggest-window, satisfaction (and
    --link) and the report (with its clv section too) use the purchases through the
    customer base: on an engine, the engine keeps the orders and answers what they
    ask, and every number is the local run's."""
    from retention_cli.io.readers import tables
    from tests.conftest import Cli

    shop(tmp_path)
    (tmp_path / "k.csv").write_text("complaint_id,customer_id,opened_date,resolved_date,status\n"
                                    "K1,C1,2024-01-20,2024-01-22,resolved\nK2,C2,2024-02-15,,open\n")
    (tmp_path / "c.csv").write_text("customer_id,signup_date,churn_reason,segment\nC1,2024-01-01,price,a\n"
                                    "C2,2024-01-01,,b\nC3,2024-01-01,service,a\n")
    (tmp_path / "r.csv").write_text("customer_id,answered_date,nps_score\nC1,2024-01-21,9\nC2,2024-02-12,3\n"
                                    "C3,2024-02-20,10\n")
    (tmp_path / "retention.yaml").write_text(
        "inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n  complaints: {path: k.csv}\n"
        "  responses: {path: r.csv}\n"
        "churn: {inactivity_days: 30}\nreport: {formats: [csv, json]"
        + (", sections: [churn, clv]}\n" if cmd[-1] == "clv" else "}\n"))
    cmd = cmd[:-1] if cmd[-1] == "clv" else cmd
    calls = []
    real = tables._orders_of

    def spy(*a, facts=False):
        got = real(*a, facts=facts)
        calls.append((facts, got is not None))
        return got

    monkeypatch.setattr(tables, "_orders_of", spy)
    cli = Cli.fresh(tmp_path)
    outs = {}
    for engine in ("local", "duckdb"):
        args = [a.replace("out", f"out-{engine}") for a in cmd]
        r = cli(*args, "-f", "csv", "--engine", engine) if cmd[0] != "report" else cli(*args, "--engine", engine)
        assert r.exit_code == 0, r.stderr
        outs[engine] = r.stdout if cmd[0] != "report" else {
            f.name: f.read_text() for f in sorted((tmp_path / f"out-{engine}").glob("*.csv"))}
    assert outs["duckdb"] == outs["local"] and outs["local"]
    assert calls == asked  # local: asked, none given


def test_the_engine_makes_the_orders_of_a_parquet_input(tmp_path):
    """Typed lines (Parquet) are grouped and summed in the engine as they are: the
    orders and every number are the local readers'."""
    from tests.conftest import Cli

    typed_shop(tmp_path)
    t = read_purchases(tmp_path, "duckdb")
    assert t.row_lines is not None and t.row_lines.tolist() == [3, 2, 1, 1, 1]
    assert t.df["amount"].tolist() == [0.6, 6.0, 7.5, -7.5, 3.0]  # O1: 0.1 + 0.2 + 0.3 as decimals
    assert str(t.last_line.date()) == "2024-03-02"
    cli = Cli.fresh(tmp_path)
    for cmd in (("churn", "--freq", "month"), ("cohorts", "--revenue", "--freq", "month"), ("purchases",)):
        local, duck = cli(*cmd, "-f", "csv", "-q"), cli(*cmd, "-f", "csv", "-q", "--engine", "duckdb")
        assert local.exit_code == duck.exit_code == 0, duck.stderr
        assert duck.stdout == local.stdout


def test_typed_lines_of_a_type_the_engine_does_not_group_are_read_by_the_readers(tmp_path):
    import pyarrow as pa

    from tests.conftest import Cli

    # a decimal amount (its conversion to a double is the readers'), a zoned timestamp
    for amount, date in ((pa.decimal128(10, 2), None), (None, pa.timestamp("us", tz="Europe/Paris"))):
        typed_shop(tmp_path, amount, date)
        assert read_purchases(tmp_path, "duckdb").row_lines is None
        cli = Cli.fresh(tmp_path)
        local, duck = cli("churn", "-f", "csv", "-q"), cli("churn", "-f", "csv", "-q", "--engine", "duckdb")
        assert (local.exit_code, local.stdout) == (duck.exit_code, duck.stdout)


def test_a_duckdb_database_makes_the_orders_of_its_table(tmp_path):
    import duckdb

    from retention_cli.config import load_config
    from retention_cli.io.readers.tables import read_table
    from retention_cli.session import ORDER_COLUMNS
    from tests.conftest import Cli

    typed_shop(tmp_path)
    con = duckdb.connect(str(tmp_path / "shop.duckdb"))
    con.execute(f"CREATE TABLE lines AS SELECT * FROM read_parquet('{tmp_path / 'p.parquet'}')")
    con.close()
    text = (tmp_path / "retention.yaml").read_text()
    (tmp_path / "retention.yaml").write_text(
        text.replace("{path: p.parquet}", "{connection: 'duckdb:///shop.duckdb', table: lines}"))
    cfg = load_config(tmp_path / "retention.yaml")
    t = read_table("purchases", cfg.input("purchases"), cfg, columns=ORDER_COLUMNS, orders=True)
    assert t.row_lines is not None and t.row_lines.tolist() == [3, 2, 1, 1, 1]
    (tmp_path / "retention.yaml").write_text(text)  # the same lines from the Parquet file, read locally
    local = Cli.fresh(tmp_path)("churn", "-f", "csv", "-q")
    (tmp_path / "retention.yaml").write_text(
        text.replace("{path: p.parquet}", "{connection: 'duckdb:///shop.duckdb', table: lines}"))
    db = Cli.fresh(tmp_path)("churn", "-f", "csv", "-q")
    assert local.exit_code == db.exit_code == 0, db.stderr
    assert db.stdout == local.stdout


def test_a_duckdb_database_runs_its_queries_under_the_engine_s_settings(tmp_path):
    """The orders of a DuckDB database's table are made by that database's
    connection: it takes the engine's memory_limit and threads."""
    import duckdb

    from retention_cli.config import EngineConfig, InputConfig
    from retention_cli.engines.sources import _database

    con = duckdb.connect(str(tmp_path / "shop.duckdb"))
    con.execute("CREATE TABLE lines AS SELECT 'C1' AS customer_id")
    con.close()
    _, con, scheme = _database(InputConfig(connection="duckdb:///shop.duckdb", table="lines"),
                               lambda p: str(tmp_path / p), "shop",
                               EngineConfig(name="duckdb", memory_limit="300MB", threads=1))
    assert scheme == "duckdb"
    got = con.raw_sql("SELECT current_setting('memory_limit'), current_setting('threads')").fetchall()
    assert got == [("286.1 MiB", 1)]  # 300 MB, as DuckDB shows it


def test_the_purchases_an_engine_keeps_are_read_first_and_a_missing_customers_file_is_told_first(tmp_path, monkeypatch):
    """churn on duckdb keeps its orders in the engine: the purchases are read before
    the customers (the engine at its busiest while the process holds no customers),
    and the tables are told in their usual order; a customers file that is not there
    is told before the purchases' pass, and the orders kept are let go of when a
    later table cannot be read."""
    from retention_cli.engines import facts as engine_facts
    from retention_cli.io.readers import tables
    from tests.conftest import Cli

    shop(tmp_path)
    read, closed = [], []
    real_read, real_close = tables.read_table, engine_facts.EngineOrders.close
    monkeypatch.setattr(tables, "read_table", lambda name, *a, **k: (read.append(name), real_read(name, *a, **k))[1])
    monkeypatch.setattr(engine_facts.EngineOrders, "close", lambda self: (closed.append(1), real_close(self))[1])
    cli = Cli.fresh(tmp_path)
    r = cli("churn", "-f", "json", "--engine", "duckdb")
    assert r.exit_code == 0, r.stderr
    assert read == ["purchases", "customers"]
    assert r.stdout.index('"customers": {') < r.stdout.index('"purchases": {')  # meta: the usual order
    read.clear()
    assert cli("churn", "--engine", "local").exit_code == 0 and read == ["customers", "purchases"]
    read.clear()
    r = cli("churn", "--engine", "duckdb", "--customers", "nowhere.csv")
    assert r.exit_code == 66 and "nowhere.csv" in r.stderr and read == ["customers"]
    read.clear()
    (tmp_path / "dup.csv").write_text("customer_id,signup_date\nC1,2024-01-01\nC1,2024-01-02\n")
    r = cli("churn", "--engine", "duckdb", "--customers", "dup.csv")
    assert r.exit_code == 65 and read == ["purchases", "customers"] and closed == [1]


def test_the_engine_s_html_report_is_local_s_and_lays_out_in_chromium(tmp_path, monkeypatch):
    """The report as a manager opens it, made with the orders kept in DuckDB (the
    facts and purchase sums asked of it): the very page local makes, laid out in a
    real browser as the sample report is (no table, chart or text cut, on a desktop
    window and on a phone)."""
    from tests.conftest import Cli
    from tests.engines.facts_lines import spy_on_orders
    from tests.test_report_html import CHROMIUM, check_layout, measure

    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium; it could not be installed here)")
    folder = inputs(tmp_path)
    text = (folder / "retention.yaml").read_text()
    assert "formats: [csv, json]" in text
    (folder / "retention.yaml").write_text(text.replace("formats: [csv, json]", "formats: [html]"))
    asked = spy_on_orders(monkeypatch)
    cli = Cli.fresh(folder)
    pages = {}
    for engine in ("local", "duckdb"):
        asked.clear()
        r = cli("report", "-o", str(folder / engine), "-q", "--engine", engine)
        assert r.exit_code == 0, r.stderr
        pages[engine] = (folder / engine / "index.html").read_text()
    assert ("sums", True) in asked  # the duckdb run kept the orders, with their sums
    _same_page_but_half_cents(pages["local"], pages["duckdb"])
    for width in (1400, 390):
        check_layout(measure(folder / "duckdb" / "index.html", width, tmp_path), width)


def _same_page_but_half_cents(local: str, other: str) -> None:
    """Two pages the same but for the figures DuckDB's exact sums move (docs/engines.md):
    every text and tag alike, every number within a cent (an average of money on a
    half cent, 50.015, shows as 50.01 from one sum and 50.02 from the other) — and
    the ids matplotlib derives from a chart's drawing, which such a figure moves."""
    import re

    number = re.compile(r"-?\d[\d,]*(?:\.\d+)?")

    def parts(page: str):
        page = re.sub(r"#?p[0-9a-f]{10}\b", "p", page)  # clip-path ids
        return number.split(page), [float(x.replace(",", "")) for x in number.findall(page)]

    (text_a, nums_a), (text_b, nums_b) = parts(local), parts(other)
    assert text_a == text_b
    assert len(nums_a) == len(nums_b)
    far = [(a, b) for a, b in zip(nums_a, nums_b) if abs(a - b) > 0.01 + 1e-9 * abs(a)]
    assert not far, far[:5]
    assert sum(a != b for a, b in zip(nums_a, nums_b)) < len(nums_a) / 200  # a few (17 of 16,542), not the page

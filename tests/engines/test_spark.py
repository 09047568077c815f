"""The spark engine (a local[2] master) gives the local engine's numbers, bad
rows and messages: every command on the generated inputs. Needs PySpark and Java 17
(``.ci/run`` installs Java; elsewhere the test is skipped, saying why)."""

from __future__ import annotations

import pytest

pytest.importorskip("ibis")
pytest.importorskip("pyspark")

from tests.engines.differential import assert_same, inputs, outputs  # noqa: E402
from tests.servers import java_available, need  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def java():
    ok, reason = java_available()
    need(ok, reason)


def test_every_command_equals_local(tmp_path):
    folder = inputs(tmp_path, policy="skip", bad=True)
    (folder / "retention.yaml").write_text((folder / "retention.yaml").read_text()
                                           + "engine: {name: local, master: 'local[2]'}\n")
    local = outputs(folder, "local")
    assert local["report"] == 0 and local["churn --by segment"][0] == 0
    assert local["validate"][0] == 65
    assert_same(local, outputs(folder, "spark"))


def test_a_path_with_a_scheme_is_given_to_spark_as_written(tmp_path, monkeypatch):
    """file:// here, hdfs:// or s3a:// on a cluster: the path goes to Spark unread by
    us, and Spark makes and keeps the orders there (the customer facts and the
    purchase sums are asked of it), as of a file of this machine."""
    from tests.engines.gen import write_inputs

    paths = write_inputs(tmp_path)
    cli = _spark_makes_the_orders_as_local(tmp_path, monkeypatch, paths, f"file://{paths['purchases']}",
                                           (("churn", "--by", "segment"), ("purchases", "--by", "segment"),
                                            ("cohorts", "--revenue")))
    r = cli("churn", "-q")  # the local engine does not read such a path, and says which does
    assert r.exit_code == 2
    assert "a path with a scheme is read by the spark engine (--engine spark)" in r.stderr


def test_monthly_files_in_sorted_order_with_their_own_delimiter_and_order(tmp_path):
    """A glob on Spark: one read per file, in sorted order (Spark alone would order
    them by size), each with its own delimiter and column order; bad rows by file."""
    import csv

    from tests.conftest import Cli
    from tests.engines.gen import config, write_inputs

    paths = write_inputs(tmp_path, bad=True)
    with open(paths["purchases"], newline="") as f:
        header, *rows = list(csv.reader(f))
    (tmp_path / "exports").mkdir()
    halves = {"a.csv": rows[:30], "b.csv": rows[30:]}
    with open(tmp_path / "exports" / "a.csv", "w", newline="") as f:
        csv.writer(f, delimiter=";").writerows([header] + halves["a.csv"])
    with open(tmp_path / "exports" / "b.csv", "w", newline="") as f:
        order = [1, 0, 2, 3, 4, 5]
        csv.writer(f).writerows([[header[i] for i in order]] + [[r[i] for i in order] for r in halves["b.csv"]])
    config(tmp_path, {**paths, "purchases": "exports/*.csv"}, policy="skip")
    cli = Cli.fresh(tmp_path)
    local = cli("churn", "--by", "segment", "-f", "csv", "-q")
    spark = cli("churn", "--by", "segment", "-f", "csv", "-q", "--engine", "spark")
    assert local.exit_code == 0 and spark.exit_code == 0, spark.stderr
    assert spark.stdout == local.stdout
    config(tmp_path, {**paths, "purchases": "exports/*.csv"})
    r = cli("churn", "-q", "--engine", "spark")
    assert r.exit_code == 65
    # rows 5 and 17 of the generator are in a.csv (records 6 and 18), row 40 in b.csv (record 11)
    assert "exports/a.csv: record 6: column 'order_date'" in r.stderr
    assert "exports/b.csv: record 11: column 'customer_id'" in r.stderr


def test_quiet_prints_nothing_and_a_session_that_cannot_start_says_why(tmp_path):
    """The JVM's own start lines (Java's incubator-module warning, the shell's log
    level) never reach retention's stderr: with -q a run prints nothing there. When
    the JVM cannot start, the error is one line with Java's first word on it."""
    import os
    import subprocess
    import sys

    (tmp_path / "p.csv").write_text("customer_id,order_id,order_date,amount\nA,o1,2024-01-05,10\n"
                                    "B,o2,2024-02-05,20\nA,o3,2024-03-01,5\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\nengine: {name: spark, master: 'local[1]'}\n")
    env = {**os.environ, "RETENTION_CACHE": "off"}
    run = subprocess.run([sys.executable, "-m", "retention_cli", "churn", "-q", "--from", "2024-01", "--to", "2024-03",
                          "-f", "csv"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stderr == ""
    # by hand: A active from 01-05 and 03-01, B from 02-05 (180 days): at 04-01 both
    assert run.stdout.splitlines()[-1].startswith("2024-03,false,2,2,0,0,2,0,")
    broken = subprocess.run([sys.executable, "-m", "retention_cli", "churn", "-q"], cwd=tmp_path,
                            env={**env, "JAVA_HOME": str(tmp_path / "no-java")}, capture_output=True, text=True,
                            timeout=300)
    assert broken.returncode == 2 and len(broken.stderr.splitlines()) == 1, broken.stderr
    assert "engine spark: cannot start a session on local[1]" in broken.stderr
    assert "no-java/bin/java: No such file or directory" in broken.stderr


def test_spark_adds_amounts_of_more_places_after_the_exact_sum_in_line_order(tmp_path):
    """Spark's sums of an order's lines are the process's: exact for amounts of up
    to four places, the others added after them in the order of the lines."""
    from tests.engines.lines import MORE_PLACES, MORE_PLACES_LINES, MORE_PLACES_SUMS, read_purchases, shop

    shop(tmp_path, MORE_PLACES)
    (tmp_path / "retention.yaml").write_text((tmp_path / "retention.yaml").read_text()
                                             + "engine: {name: local, master: 'local[2]'}\n")
    t = read_purchases(tmp_path, "spark")
    assert t.row_lines is not None and t.row_lines.tolist() == MORE_PLACES_LINES
    assert t.df["amount"].tolist() == MORE_PLACES_SUMS


def test_spark_makes_the_orders_of_a_parquet_input(tmp_path):
    """Typed lines (Parquet) grouped and summed by Spark: its sum is the process's
    (0.1 + 0.2 + 0.3 added as decimals: 0.6), the numbers local's."""
    from tests.conftest import Cli
    from tests.engines.lines import read_purchases, typed_shop

    typed_shop(tmp_path)
    (tmp_path / "retention.yaml").write_text((tmp_path / "retention.yaml").read_text()
                                             + "engine: {name: local, master: 'local[2]'}\n")
    t = read_purchases(tmp_path, "spark")
    assert t.row_lines is not None and t.row_lines.tolist() == [3, 2, 1, 1, 1]
    assert t.df["amount"].tolist() == [0.6, 6.0, 7.5, -7.5, 3.0]
    from tests.engines.facts_lines import close_csv

    cli = Cli.fresh(tmp_path)
    for cmd in (("churn", "--freq", "month"), ("purchases",)):
        local, spark = cli(*cmd, "-f", "csv", "-q"), cli(*cmd, "-f", "csv", "-q", "--engine", "spark")
        assert local.exit_code == spark.exit_code == 0, spark.stderr
        if cmd == ("churn", "--freq", "month"):
            assert spark.stdout == local.stdout
        else:  # its sums per period made by Spark: counts exact, the rest within 1e-9
            close_csv(local.stdout, spark.stdout)


def test_spark_keeps_the_orders_for_churn_and_cohorts(tmp_path, monkeypatch):
    """churn and cohorts on Spark: the orders stay in Spark (a persisted frame), the
    stretches of activity and the buyers per period are asked of it, and every number
    is local's."""
    from tests.conftest import Cli
    from tests.engines.facts_lines import LINES_WITH_STRETCHES, spy_on_orders

    (tmp_path / "p.csv").write_text(LINES_WITH_STRETCHES)
    (tmp_path / "c.csv").write_text("customer_id,segment\nA,x\nB,y\nC,y\nD,x\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
                                             "churn: {inactivity_days: 30}\nengine: {name: local, master: 'local[2]'}\n")
    kept = spy_on_orders(monkeypatch)
    cli = Cli.fresh(tmp_path)
    for cmd in (("churn", "--by", "segment"), ("cohorts", "--by", "segment")):
        args = (*cmd, "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-04")
        local = cli(*args)
        kept.clear()
        spark = cli(*args, "--engine", "spark")
        assert local.exit_code == spark.exit_code == 0, spark.stderr
        assert spark.stdout == local.stdout and local.stdout
        assert kept == [(True, True)], cmd


def test_spark_sums_the_purchases_it_keeps(tmp_path, monkeypatch):
    """purchases without --by on Spark: the orders stay in Spark, the sums per month
    are its; the figures are the ones worked out by hand (tests/engines/test_facts)."""
    from tests.conftest import Cli
    from tests.engines.facts_lines import SHOP_LINES, spy_on_orders
    from tests.engines.test_facts import PURCHASES_BY_HAND, SEGMENT_Y_BY_HAND, SHOP_CUSTOMERS

    (tmp_path / "p.csv").write_text(SHOP_LINES)
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n"
                                             "engine: {name: local, master: 'local[2]'}\n")
    asked = spy_on_orders(monkeypatch)
    out = Cli.fresh(tmp_path)("purchases", "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-03",
                              "--engine", "spark")
    assert out.exit_code == 0, out.stderr
    assert asked == [("sums", True)]
    rows = Cli.csv_rows(out)
    assert {k: [r[k] for r in rows] for k in PURCHASES_BY_HAND} == PURCHASES_BY_HAND
    # by a customers attribute: summed per (month, segment) in Spark too
    (tmp_path / "c.csv").write_text(SHOP_CUSTOMERS)
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
                                             "engine: {name: local, master: 'local[2]'}\n")
    asked.clear()
    by = Cli.fresh(tmp_path)("purchases", "-f", "csv", "-q", "--from", "2024-01", "--to", "2024-03",
                             "--by", "segment", "--engine", "spark")
    assert by.exit_code == 0, by.stderr
    assert asked == [("sums", True)]
    rows = Cli.csv_rows(by)
    assert {k: [r[k] for r in rows if r["segment"] == "y"] for k in SEGMENT_Y_BY_HAND} == SEGMENT_Y_BY_HAND


def test_spark_numbers_the_lines_of_many_partitions_in_their_order_without_gathering_them():
    """``_spark_numbered``: each line's number is its place in the input (as a
    row_number over the input gives), across partitions of different sizes, some
    empty, and the plan moves no line into one partition (only the counts)."""
    from retention_cli.config import EngineConfig
    from retention_cli.engines.sources import _spark_numbered, backend

    session = backend("spark", EngineConfig(name="spark", master="local[2]"))._session
    # 1,000 lines in 7 partitions of uneven sizes (a filter empties some of them)
    session.range(0, 1400, 1, 7).filter("id % 200 < 143").createOrReplaceTempView("retention_test_lines")
    df = session.sql(_spark_numbered("SELECT id FROM retention_test_lines"))
    got = sorted((int(r["id"]), int(r["_record"])) for r in df.select("id", "_record").collect())
    ids = sorted(i for i in range(1400) if i % 200 < 143)
    assert got == [(i, k) for k, i in enumerate(ids)]
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert plan.count("SinglePartition") == 1 and "count" in plan  # the counts per partition, not the lines


def test_spark_makes_the_orders_of_monthly_files_in_their_order(tmp_path, monkeypatch):
    """A glob of clean monthly files on Spark: one partition per file at least, the
    orders made and kept by Spark, the lines numbered across the partitions in the
    files' sorted order: every number is local's (the sums within 1e-9)."""
    from tests.engines.gen import split_by_month, write_inputs

    paths = write_inputs(tmp_path)
    assert len(split_by_month(paths["purchases"], tmp_path / "exports")) > 20
    _spark_makes_the_orders_as_local(tmp_path, monkeypatch, paths, "exports/*.csv",
                                     (("churn", "--by", "segment"), ("purchases",), ("cohorts", "--revenue"),
                                      ("clv",)))


def _spark_makes_the_orders_as_local(folder, monkeypatch, paths: dict, purchases: str, commands: tuple):
    """Each command on the generated inputs (``paths``) read locally, then on Spark
    (local[2]) with the purchases at ``purchases`` (a path with a scheme, a glob):
    Spark makes the orders for each, and its output is local's — the very bytes, or
    within 1e-9 where Spark's exact sums are read (docs/engines.md). The runner,
    its config left reading ``purchases``."""
    from retention_cli.engines import sources
    from tests.conftest import Cli
    from tests.engines.facts_lines import close_csv
    from tests.engines.gen import config

    cli = Cli.fresh(folder)
    config(folder, {"customers": paths["customers"], "purchases": paths["purchases"]})
    local = [cli(*cmd, "-f", "csv", "-q") for cmd in commands]
    assert all(r.exit_code == 0 for r in local), [r.stderr for r in local]
    config(folder, {"customers": paths["customers"], "purchases": purchases},
           extra="engine: {name: local, master: 'local[2]'}\n")
    made = []
    real = sources._orders_sql
    monkeypatch.setattr(sources, "_orders_sql", lambda *a: made.append(a[0]) or real(*a))
    for cmd, here in zip(commands, local):
        r = cli(*cmd, "-f", "csv", "-q", "--engine", "spark")
        assert r.exit_code == 0, r.stderr
        if cmd[0] in ("churn", "clv"):
            assert r.stdout == here.stdout, cmd
        else:
            close_csv(here.stdout, r.stdout)
    assert made == ["spark"] * len(commands)
    return cli


def test_spark_numbers_the_customers_without_sorting_them_in_one_task(tmp_path):
    """The customers of the orders Spark keeps are numbered where they lie (no
    row_number over all of them), once: each number 0 … n - 1 names one customer,
    and the numbers stay those after the frames they were made from are let go of."""
    from retention_cli.config import EngineConfig
    from retention_cli.engines.facts import _drop, _kept, _numbered
    from retention_cli.engines.sources import backend

    con = backend("spark", EngineConfig(name="spark", master="local[2]"))
    rows = [f"C{i % 37:03d},{i}\n" for i in range(500)]
    (tmp_path / "l.csv").write_text("customer_id,k\n" + "".join(rows))
    lines = con.read_csv(str(tmp_path / "l.csv"), header=True)
    per = lines.group_by("customer_id").aggregate(n=lines.count())

    def fetch(expr):
        return expr.to_pyarrow()

    customers = _numbered(per, fetch)
    plan = con._session.table(customers.get_name())._jdf.queryExecution().executedPlan().toString()
    assert "RowNumber" not in plan and "row_number" not in plan
    first = sorted(zip(*(fetch(customers).column(c).to_pylist() for c in ("_n", "customer_id"))))
    assert [n for n, _ in first] == list(range(37)) and len({c for _, c in first}) == 37
    joined = _kept(lines.join(customers, "customer_id").select("customer_id", "_n"))
    _drop(customers)
    again = sorted(set(zip(*(fetch(joined).column(c).to_pylist() for c in ("_n", "customer_id")))))
    assert again == first
    _drop(joined)

"""Inputs only an engine reads (SPEC §1 "Sources"): globs, folders of CSV or
Parquet files (hive partitions), database tables and queries; ``engine: auto``; the
engine's settings; bad rows named by record or by key."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("ibis")
pytest.importorskip("duckdb")

from tests.conftest import Cli  # noqa: E402
from tests.engines.gen import config, split_by_month, write_inputs  # noqa: E402
from tests.servers import need, postgres_url  # noqa: E402


# the generated purchases' columns as a shop's database types them (money as numeric)
LINES_COLUMNS = ("order_id text, customer_id text, order_date date, amount numeric(12, 2), product_id text, "
                 "channel text")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def close(a: str, b: str, rel: float = 1e-9) -> bool:
    """Two CSV outputs equal: the same text cells, numbers within ``rel`` (a sum
    over rows in another order differs in its last bits; SPEC §10)."""
    ra, rb = list(csv.reader(a.splitlines())), list(csv.reader(b.splitlines()))
    if len(ra) != len(rb):
        return False
    for x, y in zip((c for r in ra for c in r), (c for r in rb for c in r)):
        if x == y:
            continue
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            return False
        if abs(fx - fy) > rel * max(abs(fx), abs(fy)):
            return False
    return True


def _churn(cli, *args):
    r = cli("churn", "--from", "2023-06", "--to", "2024-12", "-f", "csv", "-q", *args)
    assert r.exit_code == 0, r.stderr
    return r.stdout


def test_glob_of_monthly_files_equals_one_file(tmp_path):
    paths = write_inputs(tmp_path)
    months = split_by_month(paths["purchases"], tmp_path / "exports")
    assert len(months) > 20
    cli = Cli.fresh(tmp_path)
    config(tmp_path)
    whole = _churn(cli)
    config(tmp_path, {**paths, "purchases": "exports/20*.csv"})
    assert _churn(cli) == whole
    config(tmp_path, {**paths, "purchases": "exports"})  # the folder itself
    assert _churn(cli) == whole


def test_hive_partitioned_parquet_folder(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pcsv
    import pyarrow.dataset as ds

    paths = write_inputs(tmp_path)
    table = pcsv.read_csv(paths["purchases"], convert_options=pcsv.ConvertOptions(
        column_types={c: pa.string() for c in ("order_id", "customer_id", "order_date", "amount", "product_id", "channel")}))
    ds.write_dataset(table, tmp_path / "lake", format="parquet", partitioning=["channel"], partitioning_flavor="hive")
    assert (tmp_path / "lake" / "channel=web").is_dir()
    cli = Cli.fresh(tmp_path)
    config(tmp_path)
    whole = _churn(cli)
    by_channel = cli("purchases", "--period", "2024", "--by", "channel", "-f", "csv", "-q")
    config(tmp_path, {**paths, "purchases": "lake"})
    assert _churn(cli) == whole
    # the partition column is a column like any other: --by reads it
    lake = cli("purchases", "--period", "2024", "--by", "channel", "-f", "csv", "-q")
    assert lake.exit_code == 0, lake.stderr
    # rows grouped by partition are summed in another order: equal within 1e-9 relative
    assert close(lake.stdout, by_channel.stdout)


def test_glob_files_must_share_their_header(tmp_path):
    paths = write_inputs(tmp_path)
    split_by_month(paths["purchases"], tmp_path / "exports")
    odd = tmp_path / "exports" / "2024-03.csv"
    header, *rows = _rows(odd)
    with open(odd, "w", newline="") as f:
        csv.writer(f).writerows([["order_id", "client", *header[2:]], *rows])
    config(tmp_path, {**paths, "purchases": "exports/*.csv"})
    for engine in ("local", "duckdb"):
        r = Cli.fresh(tmp_path)("churn", "-q", "--engine", engine)
        assert r.exit_code == 65
        assert ("exports/2024-03.csv: has no column 'customer_id', which exports/2023-02.csv has: the files of one "
                "input need the same columns (in any order; more are fine)") in r.stderr, r.stderr


def test_a_month_with_its_columns_in_another_order_another_delimiter_or_one_more_column(tmp_path):
    """Exports change over the months: a column added, the columns reordered, one
    month saved with ';'. Each file is read by its own header and delimiter, on every
    engine, and the table is the one file's."""
    paths = write_inputs(tmp_path)
    months = split_by_month(paths["purchases"], tmp_path / "exports")
    cli = Cli.fresh(tmp_path)
    config(tmp_path)
    whole = _churn(cli, "--by", "segment")
    purchases = cli("purchases", "--from", "2023-06", "--to", "2024-12", "--by", "channel", "-f", "csv", "-q").stdout
    header, *rows = _rows(tmp_path / "exports" / f"{months[3]}.csv")
    with open(tmp_path / "exports" / f"{months[3]}.csv", "w", newline="") as f:  # reordered
        csv.writer(f).writerows([[header[i] for i in (2, 0, 1, 5, 3, 4)]] + [[r[i] for i in (2, 0, 1, 5, 3, 4)] for r in rows])
    header, *rows = _rows(tmp_path / "exports" / f"{months[5]}.csv")
    with open(tmp_path / "exports" / f"{months[5]}.csv", "w", newline="") as f:  # a column more
        csv.writer(f).writerows([header + ["discount_code"]] + [r + ["WELCOME"] for r in rows])
    header, *rows = _rows(tmp_path / "exports" / f"{months[7]}.csv")
    with open(tmp_path / "exports" / f"{months[7]}.csv", "w", newline="") as f:  # ';'
        csv.writer(f, delimiter=";").writerows([header] + rows)
    config(tmp_path, {**paths, "purchases": "exports/*.csv"})
    for engine in ("local", "duckdb"):
        assert _churn(cli, "--by", "segment", "--engine", engine) == whole, engine
        got = cli("purchases", "--from", "2023-06", "--to", "2024-12", "--by", "channel", "-f", "csv", "-q",
                  "--engine", engine)
        assert got.exit_code == 0, got.stderr
        assert close(got.stdout, purchases), engine


def test_glob_without_a_match_is_a_missing_input(tmp_path):
    paths = write_inputs(tmp_path)
    config(tmp_path, {**paths, "purchases": "exports/*.csv"})
    r = Cli.fresh(tmp_path)("churn", "-q")
    assert r.exit_code == 66
    assert r.stderr.strip() == "retention: error: exports/*.csv: no purchases file (CSV or Parquet) matches"


def test_bad_rows_are_named_by_record(tmp_path):
    write_inputs(tmp_path, bad=True)
    config(tmp_path)
    r = Cli.fresh(tmp_path)("churn", "-q", "--engine", "duckdb")
    assert r.exit_code == 65
    lines = r.stderr.splitlines()
    assert lines[0] == "retention: error: purchases.csv: 3 bad rows (set `on_bad_rows: skip` to leave them out)"
    # records counted from 1 after the header: the generator spoiled rows 5, 17 and 40 (0-based)
    assert lines[1].strip() == ("purchases.csv: record 6: column 'order_date': value '2024-02-30': "
                                "not an ISO date (YYYY-MM-DD); set `date_format:` for this input")
    assert lines[2].strip() == "purchases.csv: record 18: column 'amount': value '12,5x': not a number"
    assert lines[3].strip() == "purchases.csv: record 41: column 'customer_id': value '': missing"


def test_rejects_of_an_engine_are_the_records_as_csv(tmp_path):
    paths = write_inputs(tmp_path, bad=True)
    config(tmp_path, policy="skip")
    (tmp_path / "out").mkdir()
    r = Cli.fresh(tmp_path)("churn", "-q", "--engine", "duckdb", "-o", "out/churn.csv")
    assert r.exit_code == 0, r.stderr
    header, *rows = _rows(paths["purchases"])
    got = _rows(tmp_path / "out" / "rejects" / "purchases.csv")
    assert got == [header, rows[5], rows[17], rows[40]]


def _sqlite_shop(path, paths):
    """The generated tables in a SQLite file, dates as DATE text and amounts as REAL."""
    con = sqlite3.connect(path)
    for name in ("customers", "purchases"):
        header, *rows = _rows(paths[name])
        types = {"amount": "REAL"}
        columns = ", ".join(f"{h} {types.get(h, 'TEXT')}" for h in header)
        con.execute(f"create table {name} ({columns})")
        con.executemany(f"insert into {name} values ({', '.join('?' * len(header))})",
                        [[float(v) if h == "amount" and v else (v or None) for h, v in zip(header, r)] for r in rows])
    con.commit()
    con.close()


def _db_config(folder, url, purchases="table: purchases"):
    (folder / "retention.yaml").write_text(
        "inputs:\n"
        f"  customers: {{connection: '{url}', table: customers}}\n"
        f"  purchases: {{connection: '{url}', {purchases}}}\n"
        "churn: {inactivity_days: 90}\n")


def test_sqlite_tables_and_query(tmp_path):
    paths = write_inputs(tmp_path)
    config(tmp_path, {"customers": paths["customers"], "purchases": paths["purchases"]})
    cli = Cli.fresh(tmp_path)
    files = _churn(cli, "--by", "segment")
    _sqlite_shop(tmp_path / "shop.db", paths)
    _db_config(tmp_path, "sqlite:///shop.db")  # relative to the config's folder
    assert _churn(cli, "--by", "segment") == files
    # a query gives the table: the lines of one order, summed by the database
    _db_config(tmp_path, "sqlite:///shop.db",
               'query: "select customer_id, min(order_date) as order_date, sum(amount) as amount '
               'from purchases group by order_id, customer_id"')
    assert _churn(cli, "--by", "segment") == files


def test_duckdb_database_file(tmp_path):
    import duckdb

    paths = write_inputs(tmp_path)
    config(tmp_path, {"customers": paths["customers"], "purchases": paths["purchases"]})
    cli = Cli.fresh(tmp_path)
    files = _churn(cli)
    con = duckdb.connect(str(tmp_path / "shop.duckdb"))
    for name in ("customers", "purchases"):  # typed by DuckDB: DATE and DOUBLE columns
        con.execute(f"create table {name} as select * from read_csv('{paths[name]}', header=true)")
    assert con.execute("select typeof(order_date) from purchases limit 1").fetchone()[0] == "DATE"
    con.close()
    _db_config(tmp_path, "duckdb:///shop.duckdb")
    assert _churn(cli) == files
    # a query of a DuckDB file (read through a view: Ibis's own way asks DuckDB 2 for
    # a method it no longer has)
    _db_config(tmp_path, "duckdb:///shop.duckdb",
               'query: "select customer_id, min(order_date) as order_date, sum(amount) as amount '
               'from purchases group by order_id, customer_id"')
    assert _churn(cli) == files


def _spoiled_shop(tmp_path, where: str, value: str) -> None:
    """The generated shop in SQLite with a bad order_date in the orders ``where`` picks."""
    _sqlite_shop(tmp_path / "shop.db", write_inputs(tmp_path))
    con = sqlite3.connect(tmp_path / "shop.db")
    con.execute(f"update purchases set order_date = '{value}' where {where}")
    con.commit()
    con.close()
    _db_config(tmp_path, "sqlite:///shop.db")


def test_database_bad_value_is_named_by_its_key(tmp_path):
    _spoiled_shop(tmp_path, "order_id = 'O00003'", "31/02/2024")
    r = Cli.fresh(tmp_path)("churn", "-q")
    assert r.exit_code == 65
    assert "sqlite:///shop.db#purchases: row with order_id 'O00003': column 'order_date': value '31/02/2024'" \
        in r.stderr


def test_a_bad_line_of_an_order_with_several_is_named_by_its_row_too(tmp_path):
    """The lines of one order share its order_id: the row's number says which."""
    import re

    _spoiled_shop(tmp_path, "rowid = (select min(rowid) from purchases where order_id in "
                            "(select order_id from purchases group by order_id having count(*) > 1))", "31/02/2024")
    con = sqlite3.connect(tmp_path / "shop.db")
    (order, row), = con.execute("select order_id, (select count(*) from purchases p2 where p2.rowid <= p.rowid) "
                                "from purchases p where order_date = '31/02/2024'").fetchall()
    con.close()
    r = Cli.fresh(tmp_path)("churn", "-q")
    assert r.exit_code == 65
    assert re.search(rf"row with order_id '{order}' \(row {row}\): column 'order_date': value '31/02/2024'", r.stderr)


def test_missing_database_and_table(tmp_path):
    write_inputs(tmp_path)
    _db_config(tmp_path, "sqlite:///nowhere.db")
    # (survival reads the customers alone)
    r = Cli.fresh(tmp_path)("survival", "-q")
    assert r.exit_code == 66
    assert "sqlite:///nowhere.db#customers: database file not found" in r.stderr
    # churn keeps its orders in the engine: the purchases are read first (the
    # engine's busiest moment before the process holds the customers)
    r = Cli.fresh(tmp_path)("churn", "-q")
    assert r.exit_code == 66
    assert "sqlite:///nowhere.db#purchases: database file not found" in r.stderr
    _sqlite_shop(tmp_path / "shop.db", write_inputs(tmp_path))
    _db_config(tmp_path, "sqlite:///shop.db", "table: orders")
    r = Cli.fresh(tmp_path)("churn", "-q")
    assert r.exit_code == 66
    assert "retention: error: sqlite:///shop.db#orders: cannot read table 'orders' (" in r.stderr


@pytest.fixture(scope="module")
def pg_url():
    url, reason = postgres_url()
    need(url, reason)
    pytest.importorskip("psycopg")
    return url


def _pg_tables(pg_url: str, schema: str, tables: dict[str, tuple[str, Path]]) -> None:
    """A fresh ``schema`` on the server holding each table (name -> its columns as
    SQL, the CSV file of its rows; an empty cell is null)."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"drop schema if exists {schema} cascade")
        con.execute(f"create schema {schema}")
        for name, (columns, path) in tables.items():
            con.execute(f"create table {schema}.{name} ({columns})")
            header, *rows = _rows(path)
            with con.cursor().copy(f"copy {schema}.{name} ({', '.join(header)}) from stdin") as copy:
                for r in rows:
                    copy.write_row([v or None for v in r])


def test_postgresql_tables(tmp_path, pg_url):
    """A real PostgreSQL server (ci/postgres) serves the tables: typed columns
    (date, numeric) come as the database types them."""
    import psycopg

    paths = write_inputs(tmp_path)
    config(tmp_path, {"customers": paths["customers"], "purchases": paths["purchases"]})
    cli = Cli.fresh(tmp_path)
    files = _churn(cli, "--by", "segment")
    schema = f"t{tmp_path.name.replace('-', '_')[-20:]}".lower()
    _pg_tables(pg_url, schema, {
        "customers": ("customer_id text primary key, signup_date date, segment text, loyalty_member text, "
                      "churn_date date, churn_reason text", paths["customers"]),
        "purchases": (LINES_COLUMNS, paths["purchases"])})
    _db_config(tmp_path, pg_url, f"table: {schema}.purchases")
    text = (tmp_path / "retention.yaml").read_text().replace("table: customers", f"table: {schema}.customers")
    (tmp_path / "retention.yaml").write_text(text)
    try:
        assert _churn(cli, "--by", "segment") == files
    finally:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f"drop schema {schema} cascade")


def _read_only(url: str) -> str:
    """The URL of a connection on which PostgreSQL refuses every write (as a hot
    standby or a reporting role does): CREATE, even of a temporary view, fails."""
    return url + ("&" if "?" in url else "?") + "options=-c%20default_transaction_read_only%3Don"


def _without_inputs(out: dict, shown: str = "") -> dict:
    """Outputs less the report's metadata of its inputs (a file's name and SHA-256
    against a table's URL), the input ``shown`` named as the purchases file."""
    def strip(data):
        if isinstance(data, dict):
            return {k: strip(v) for k, v in data.items() if k != "inputs"}
        if isinstance(data, (list, tuple)):
            return type(data)(strip(v) for v in data)
        if isinstance(data, str) and shown:
            return data.replace(shown, "purchases.csv")
        return data

    return {k: strip(v) for k, v in out.items()}


def test_postgresql_makes_the_orders_on_a_read_only_connection_and_duckdb_keeps_them(tmp_path, pg_url,
                                                                                       monkeypatch):
    """The purchases' order lines in PostgreSQL (numeric amounts, as money is kept
    there), on a connection that may not write: under the duckdb engine the server
    makes the orders (one row per order comes over, not one per line) and they are
    streamed into DuckDB, which keeps them and answers the facts. Every command
    gives the numbers of the same lines read from the CSV file: the very bytes under
    local (the lines come over); under duckdb, the sums DuckDB makes within 1e-9 (as
    from files)."""
    import psycopg

    from retention_cli.engines import sources
    from tests.engines.differential import assert_same, inputs, outputs

    folder = inputs(tmp_path)
    files = _without_inputs(outputs(folder, "local"))
    assert files["report"] == 0 and files["purchases"][0] == 0
    schema = f"o{tmp_path.name.replace('-', '_')[-20:]}".lower()
    _pg_tables(pg_url, schema, {"lines": (LINES_COLUMNS, folder / "purchases.csv")})
    text = (folder / "retention.yaml").read_text()
    assert "  purchases: {path: 'purchases.csv'}" in text
    (folder / "retention.yaml").write_text(text.replace(
        "  purchases: {path: 'purchases.csv'}",
        f"  purchases: {{connection: '{_read_only(pg_url)}', table: {schema}.lines}}"))
    made, streamed = [], []
    real_sql, real_streamed = sources._orders_sql, sources._streamed
    monkeypatch.setattr(sources, "_orders_sql", lambda *a: made.append(a[0]) or real_sql(*a))
    monkeypatch.setattr(sources, "_streamed", lambda *a: streamed.append(1) or real_streamed(*a))
    shown = f"{_read_only(pg_url)}#{schema}.lines"
    try:
        assert _without_inputs(outputs(folder, "local"), shown) == files
        assert not made and not streamed  # under local the lines come over (faster, when they fit)
        assert_same(files, _without_inputs(outputs(folder, "duckdb"), shown))
        assert set(made) == {"postgres"} and streamed  # the facts asked of DuckDB, the orders made by the server
    finally:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f"drop schema {schema} cascade")


def test_postgresql_adds_amounts_of_more_places_after_the_exact_sum_in_line_order(tmp_path, pg_url,
                                                                                   monkeypatch):
    """The orders PostgreSQL makes (under duckdb) sum their lines as the process does:
    amounts of up to four places exactly, the others (float8 here) after them in
    the order of the lines."""
    import psycopg

    from retention_cli.engines import sources
    from tests.engines.lines import MORE_PLACES, MORE_PLACES_LINES, MORE_PLACES_SUMS, read_purchases

    (tmp_path / "p.csv").write_text(MORE_PLACES)
    schema = f"m{tmp_path.name.replace('-', '_')[-20:]}".lower()
    _pg_tables(pg_url, schema, {"p": ("customer_id text, order_id text, order_date date, amount float8",
                                      tmp_path / "p.csv")})
    made = []
    real_sql = sources._orders_sql
    monkeypatch.setattr(sources, "_orders_sql", lambda *a: made.append(a[0]) or real_sql(*a))
    (tmp_path / "retention.yaml").write_text(
        f"inputs:\n  purchases: {{connection: '{_read_only(pg_url)}', table: {schema}.p}}\n")
    try:
        t = read_purchases(tmp_path, "duckdb")
        assert made == ["postgres"] and t.row_lines.tolist() == MORE_PLACES_LINES
        assert t.df["amount"].tolist() == MORE_PLACES_SUMS
    finally:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f"drop schema {schema} cascade")


def test_a_postgresql_query_is_read_on_a_read_only_connection(tmp_path, pg_url):
    """A ``query:`` is described by the server without creating anything (Ibis
    would create a temporary view, which a read-only connection refuses); a query
    that names one column twice is told."""
    import psycopg

    paths = write_inputs(tmp_path)
    config(tmp_path, {"customers": paths["customers"], "purchases": paths["purchases"]})
    cli = Cli.fresh(tmp_path)
    files = _churn(cli)
    schema = f"q{tmp_path.name.replace('-', '_')[-20:]}".lower()
    _pg_tables(pg_url, schema, {"p": ("order_id text, customer_id text, order_date timestamp, amount float8, "
                                      "product_id text, channel text", paths["purchases"])})
    url = _read_only(pg_url)
    try:
        for query in (f"select * from {schema}.p;", f"with x as (select * from {schema}.p) select * from x",
                      f"select * from {schema}.p where customer_id not like ''%x'' ; -- every line\n;",
                      f"select * from {schema}.p /* all */;\n/* end */"):
            (tmp_path / "retention.yaml").write_text(
                f"inputs:\n  customers: {{path: '{paths['customers'].name}'}}\n"
                f"  purchases: {{connection: '{url}', query: '{query}'}}\nchurn: {{inactivity_days: 90}}\n")
            assert _churn(cli) == files
        (tmp_path / "retention.yaml").write_text(
            f"inputs:\n  purchases: {{connection: '{url}', query: 'select *, amount as amount from {schema}.p'}}\n")
        r = cli("churn", "-q")
        assert r.exit_code == 66
        assert "the query fails (ValueError: the query returns column 'amount' twice: name each column once)" \
            in r.stderr
        from retention_cli.config import InputConfig
        from retention_cli.engines.sources import _database

        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f"create type {schema}.kind as enum ('web', 'shop')")
        t, _, _ = _database(InputConfig(connection=url, query=f"select 'web'::{schema}.kind as channel, "
                                                              "1.5::numeric(4, 2) as amount, current_date as d"),
                            str, "q")
        assert [str(t.schema()[c]) for c in t.columns] == ["string", "decimal(4, 2)", "date"]
        assert t.to_pyarrow().column("channel").to_pylist() == ["web"]
    finally:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f"drop schema {schema} cascade")


def test_auto_reads_a_file_too_large_for_memory_through_duckdb(tmp_path, monkeypatch):
    from retention_cli.io.readers import source

    write_inputs(tmp_path)
    config(tmp_path)
    cli = Cli.fresh(tmp_path)
    plenty = _churn(cli)
    monkeypatch.setattr(source, "memory_available", lambda: 40_000)  # 40 KB: no input fits
    r = cli("churn", "--from", "2023-06", "--to", "2024-12", "-f", "csv", "-q")
    assert r.exit_code == 66 and "needs about" in r.stderr  # local refuses, as before
    assert _churn(cli, "--engine", "auto") == plenty
    meta = __import__("json").loads(cli("churn", "--engine", "auto", "-f", "json", "-q").stdout)["meta"]
    assert meta["inputs"]["purchases"]["read_by"] == "duckdb"  # the engine auto chose, said


def test_engine_settings_reach_duckdb(tmp_path):
    from retention_cli.config import EngineConfig
    from retention_cli.engines.sources import backend

    con = backend("duckdb", EngineConfig(name="duckdb", memory_limit="300MB", threads=1,
                                         temp_directory=str(tmp_path / "spill")))
    setting = con.raw_sql("select current_setting('memory_limit'), current_setting('threads'), "
                          "current_setting('temp_directory'), current_setting('enable_progress_bar')").fetchone()
    assert setting[0] in ("286.1 MiB", "300.0 MB", "286.1MiB")
    assert setting[1] == 1
    assert setting[2].startswith(str(tmp_path / "spill"))  # its own folder there, removed at exit
    assert setting[3] is False  # its progress bar would go to stdout, which carries only data


@pytest.mark.parametrize("inputs, message", [
    ("{path: a.csv, connection: 'sqlite:///x.db', table: t}", "give either path"),
    ("{connection: 'sqlite:///x.db'}", "with connection, give table or query"),
    ("{path: a.csv, table: t}", "table and query name a database's table: they need connection"),
])
def test_source_keys_are_checked(tmp_path, inputs, message):
    (tmp_path / "retention.yaml").write_text(f"inputs:\n  purchases: {inputs}\n")
    r = Cli.fresh(tmp_path)("churn", "-q")
    assert r.exit_code == 78
    assert message in r.stderr


def test_engine_name_alone_or_a_mapping(tmp_path):
    write_inputs(tmp_path)
    cli = Cli.fresh(tmp_path)
    config(tmp_path)
    local = _churn(cli)
    config(tmp_path, engine="duckdb")
    assert _churn(cli) == local
    config(tmp_path, engine="{name: duckdb, memory_limit: 1GB}")
    assert _churn(cli) == local
    config(tmp_path, engine="{name: duckdb, memory_limit: lots}")
    r = cli("churn", "-q")
    assert r.exit_code == 78 and "'lots' is not an amount of memory such as 2GB or 400MB" in r.stderr
    r = cli("churn", "-q", "--engine", "bigquery")
    assert r.exit_code == 2


def test_a_european_export_in_cp1252_equals_local(tmp_path):
    """cp1252 (transcoded in a streaming step: DuckDB reads UTF-8 and latin-1 only),
    ';', decimal comma and day-first dates: the engine reads the text, the readers'
    careful parsers type it, as for local."""
    paths = write_inputs(tmp_path)
    header, *rows = _rows(paths["purchases"])
    lines = [";".join(["N° client", "N° commande", "Date commande", "Montant TTC", "Réf. produit"])]
    for order_id, customer, day, amount, product, _ in rows:
        y, m, d = day.split("-")
        lines.append(";".join([customer, order_id, f"{d}/{m}/{y}", amount.replace(".", ","), f"é{product}"]))
    (tmp_path / "achats.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    (tmp_path / "retention.yaml").write_text(
        "inputs:\n"
        "  customers: {path: customers.csv}\n"
        "  purchases:\n"
        "    path: achats.csv\n"
        "    encoding: cp1252\n"
        "    decimal: ','\n"
        "    date_format: '%d/%m/%Y'\n"
        "    columns: {customer_id: 'N° client', order_id: 'N° commande', order_date: 'Date commande',\n"
        "              amount: 'Montant TTC', product_id: 'Réf. produit'}\n"
        "churn: {inactivity_days: 90}\n")
    cli = Cli.fresh(tmp_path)
    for cmd in (("churn", "--by", "segment"), ("purchases", "--period", "2024"), ("validate",)):
        local = cli(*cmd, "-f", "csv", "-q")
        duck = cli(*cmd, "-f", "csv", "-q", "--engine", "duckdb")
        assert local.exit_code == 0, local.stderr
        assert duck.stdout == local.stdout, cmd
    # the headers came through the transcoding with their accents
    assert "Réf. produit -> product_id" in duck.stdout


def test_brackets_in_a_folder_or_file_name_are_no_glob(tmp_path):
    """A config in `proj [acme]/` reads its files (local, no engine needed), and a
    file named `orders[1].csv` is that file, not `orders1.csv`."""
    folder = tmp_path / "proj [acme]"
    paths = write_inputs(folder)
    cli = Cli.fresh(folder)
    config(folder, {"customers": paths["customers"], "purchases": paths["purchases"]})
    plain = _churn(cli)
    (folder / "orders[1].csv").write_bytes(paths["purchases"].read_bytes())
    (folder / "orders1.csv").write_text("customer_id,order_date,amount\nZ,2024-01-01,1\n")
    config(folder, {"customers": paths["customers"], "purchases": "orders[1].csv"})
    assert _churn(cli) == plain
    # a real glob below such a folder: the folder is taken as written
    split_by_month(paths["purchases"], folder / "exports")
    config(folder, {"customers": paths["customers"], "purchases": "exports/20*.csv"})
    assert _churn(cli) == plain


def test_a_glob_read_locally_names_the_file_and_line_of_a_bad_row(tmp_path):
    paths = write_inputs(tmp_path, bad=True)
    months = split_by_month(paths["purchases"], tmp_path / "exports")
    config(tmp_path, {**paths, "purchases": "exports/*.csv"}, policy="skip")
    (tmp_path / "out").mkdir()
    cli = Cli.fresh(tmp_path)
    r = cli("churn", "-q", "-o", "out/churn.csv")
    assert r.exit_code == 0, r.stderr
    header, *rows = _rows(paths["purchases"])
    bad = [rows[5], rows[17], rows[40]]
    # the rejects: the header once, then each file's rejected records as they were, files in order
    got = _rows(tmp_path / "out" / "rejects" / "purchases.csv")
    assert got[0] == header and sorted(got[1:]) == sorted(bad) and len(got) == 4
    config(tmp_path, {**paths, "purchases": "exports/*.csv"})
    r = cli("churn", "-q")
    assert r.exit_code == 65
    # each bad row by its own file and line there (line 1 is the file's header)
    for row in bad:
        name = next(m for m in months if any(r2 == row for r2 in _rows(tmp_path / "exports" / f"{m}.csv")))
        line = [r2 for r2 in _rows(tmp_path / "exports" / f"{name}.csv")].index(row) + 1
        assert f"  exports/{name}.csv:{line}: column" in r.stderr, (name, line, r.stderr)


def test_passwords_and_secret_settings_are_never_shown(tmp_path):
    from retention_cli.engines.sources import redacted

    assert redacted("postgresql://analyst:s3/cr#et@db.internal/shop") == "postgresql://analyst:***@db.internal/shop"
    assert redacted("postgresql://analyst@db/shop?password=s3cret&sslmode=require") == \
        "postgresql://analyst@db/shop?password=***&sslmode=require"
    assert redacted("not a url: s3cret") == "not a url:…"
    paths = write_inputs(tmp_path)
    config(tmp_path, {"customers": paths["customers"], "purchases": paths["purchases"]}, extra=(
        "engine:\n  name: local\n  conf: {spark.hadoop.fs.s3a.secret.key: TOPSECRET, spark.executor.memory: 4g}\n"))
    r = Cli.fresh(tmp_path)("churn", "-f", "json", "-q")
    assert r.exit_code == 0, r.stderr
    assert "TOPSECRET" not in r.stdout
    conf = __import__("json").loads(r.stdout)["meta"]["settings"]["engine"]["conf"]
    assert conf == {"spark.hadoop.fs.s3a.secret.key": "***", "spark.executor.memory": "4g"}


def test_a_cp1252_folder_keeps_its_partitions_on_duckdb(tmp_path):
    paths = write_inputs(tmp_path)
    header, *rows = _rows(paths["purchases"])
    for year in ("2023", "2024"):
        part = tmp_path / "lake" / f"year={year}"
        part.mkdir(parents=True)
        text = "\r\n".join(";".join(r) for r in [header] + [r for r in rows if r[2].startswith(year)]) + "\r\n"
        (part / "achats é.csv").write_bytes(text.encode("cp1252"))
    (tmp_path / "retention.yaml").write_text(
        "inputs:\n  customers: {path: customers.csv}\n"
        "  purchases: {path: lake, encoding: cp1252}\nchurn: {inactivity_days: 90}\n")
    cli = Cli.fresh(tmp_path)
    local = cli("purchases", "--from", "2023-01", "--to", "2024-12", "--by", "year", "-f", "csv", "-q")
    assert local.exit_code == 0, local.stderr
    assert ",2023," in local.stdout and ",2024," in local.stdout
    duck = cli("purchases", "--from", "2023-01", "--to", "2024-12", "--by", "year", "-f", "csv", "-q",
               "--engine", "duckdb")
    assert duck.exit_code == 0, duck.stderr
    assert close(duck.stdout, local.stdout)


def test_a_temp_directory_that_does_not_exist_is_made(tmp_path):
    paths = write_inputs(tmp_path)
    config(tmp_path, {"customers": paths["customers"], "purchases": paths["purchases"]}, extra=(
        f"engine: {{name: duckdb, temp_directory: '{tmp_path / 'new' / 'spill'}'}}\n"))
    r = Cli.fresh(tmp_path)("churn", "-f", "csv", "-q")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "new" / "spill").is_dir()


def test_database_rejects_are_the_rows_reported(tmp_path):
    import pyarrow.parquet as pq

    _spoiled_shop(tmp_path, "order_id in ('O00003', 'O00042')", "soon")
    (tmp_path / "retention.yaml").write_text((tmp_path / "retention.yaml").read_text() + "on_bad_rows: skip\n")
    (tmp_path / "out").mkdir()
    r = Cli.fresh(tmp_path)("churn", "-q", "-o", "out/churn.csv")
    assert r.exit_code == 0, r.stderr
    rejects = pq.read_table(tmp_path / "out" / "rejects" / "purchases.parquet").to_pydict()
    assert sorted(set(rejects["order_id"])) == ["O00003", "O00042"]
    assert set(rejects["order_date"]) == {"soon"}
    problems = (tmp_path / "out" / "rejects" / "purchases.problems.csv").read_text().splitlines()
    assert problems[0] == "place,column,value,reason" and len(problems) == 1 + len(rejects["order_id"])
    assert all(",order_date,soon," in p for p in problems[1:])
    assert any("O00003" in p for p in problems) and any("O00042" in p for p in problems)


@pytest.mark.parametrize("query", [
    "delete from purchases",
    "select 1; delete from purchases",
    "with gone as (delete from purchases returning *) select * from gone",
    "drop table purchases",
])
def test_a_query_that_writes_is_refused_and_the_database_untouched(tmp_path, query):
    paths = write_inputs(tmp_path)
    _sqlite_shop(tmp_path / "shop.db", paths)
    _db_config(tmp_path, "sqlite:///shop.db", f'query: "{query}"')
    r = Cli.fresh(tmp_path)("churn", "-q")
    assert r.exit_code == 2
    assert "query: one SELECT (or WITH … SELECT) is read, and nothing else" in r.stderr
    con = sqlite3.connect(tmp_path / "shop.db")
    assert con.execute("select count(*) from purchases").fetchone()[0] == len(_rows(paths["purchases"])) - 1
    con.close()


def test_a_sqlite_database_is_opened_read_only(tmp_path):
    from retention_cli.config import InputConfig
    from retention_cli.engines.sources import _database

    _sqlite_shop(tmp_path / "shop.db", write_inputs(tmp_path))
    t, con, scheme = _database(InputConfig(connection="sqlite:///shop.db", table="purchases"),
                               lambda p: str(tmp_path / p), "shop")
    assert scheme == "sqlite" and t._find_backend() is con
    with pytest.raises(Exception, match="readonly"):
        con.raw_sql("delete from purchases")


def test_postgresql_url_forms_of_a_socket_and_a_server_that_is_not_there(tmp_path, pg_url):
    """libpq's URL forms: the socket folder as ?host=… or percent-encoded as the host."""
    from urllib.parse import quote

    import psycopg

    paths = write_inputs(tmp_path)
    config(tmp_path, {"customers": paths["customers"], "purchases": paths["purchases"]})
    cli = Cli.fresh(tmp_path)
    files = _churn(cli)
    schema = f"u{tmp_path.name.replace('-', '_')[-20:]}".lower()
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"drop schema if exists {schema} cascade")
        con.execute(f"create schema {schema}")
        for name in ("customers", "purchases"):
            header, *rows = _rows(paths[name])
            con.execute(f"create table {schema}.{name} ({', '.join(f'{h} text' for h in header)})")
            with con.cursor().copy(f"copy {schema}.{name} from stdin") as copy:
                for r in rows:
                    copy.write_row([v or None for v in r])
    socket = pg_url.split("host=", 1)[1]
    encoded = f"postgresql://postgres@{quote(socket, safe='')}/retention_test"
    try:
        for url in (pg_url, encoded):
            _db_config(tmp_path, url, f"table: {schema}.purchases")
            text = (tmp_path / "retention.yaml").read_text().replace("table: customers", f"table: {schema}.customers")
            (tmp_path / "retention.yaml").write_text(text)
            assert _churn(cli) == files, url
    finally:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f"drop schema {schema} cascade")
    _db_config(tmp_path, "postgresql://analyst:S3cret@%2Ftmp%2Fno-such-socket-dir/shop")
    r = cli("churn", "-q")
    assert r.exit_code == 66
    assert "cannot connect" in r.stderr and "is the server running" in r.stderr
    assert "S3cret" not in r.stderr and "postgresql://analyst:***@" in r.stderr


def test_parquet_months_with_another_column_order_and_type(tmp_path):
    """One month's amounts whole (int64), another's decimal, columns in another order,
    a bad row in each: local and duckdb read the same, and the rejects hold both rows
    in the first file's columns and the wider type."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "g").mkdir()
    pq.write_table(pa.table({"customer_id": ["c1", "c2"], "order_date": ["2024-01-05", "bad"],
                             "amount": [10.5, 20.0]}), tmp_path / "g" / "a.parquet")
    pq.write_table(pa.table({"amount": [30, 40], "order_date": ["2024-01-06", "bad"],
                             "customer_id": ["c3", "c4"], "note": ["x", "y"]}), tmp_path / "g" / "b.parquet")
    (tmp_path / "retention.yaml").write_text('inputs:\n  purchases: {path: "g/*.parquet"}\non_bad_rows: skip\n')
    cli = Cli.fresh(tmp_path)
    for engine in ("local", "duckdb"):
        (tmp_path / engine).mkdir()
        r = cli("purchases", "--period", "2024-01", "-f", "csv", "-q", "--engine", engine, "-o", f"{engine}/p.csv")
        assert r.exit_code == 0, r.stderr
        rows = list(csv.DictReader(open(tmp_path / engine / "p.csv")))
        assert (rows[0]["orders"], rows[0]["revenue"]) == ("2", "40.5")  # 10.5 + 30
        rejects = pq.read_table(tmp_path / engine / "rejects" / "purchases.parquet")
        assert rejects.column_names == ["customer_id", "order_date", "amount"]
        assert rejects.to_pydict()["amount"] == [20.0, 40.0]


def test_a_folder_input_never_reads_the_tools_own_rejects(tmp_path):
    paths = write_inputs(tmp_path, bad=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "purchases.csv").write_bytes(paths["purchases"].read_bytes())
    config(tmp_path, {**paths, "purchases": "data"}, policy="skip")
    cli = Cli.fresh(tmp_path)
    for _ in range(2):  # each run writes data/rejects/purchases.csv beside its output
        r = cli("churn", "-q", "-o", "data/churn.json")
        assert r.exit_code == 0, r.stderr
    assert (tmp_path / "data" / "rejects" / "purchases.csv").exists()
    meta = __import__("json").loads(cli("churn", "-q", "-f", "json").stdout)["meta"]["inputs"]["purchases"]
    assert meta["rejected_rows"] == 3 and meta["rows"] == len(_rows(paths["purchases"])) - 1


def test_a_select_may_end_with_a_semicolon_and_a_comment_and_name_a_column_delete(tmp_path):
    from retention_cli.engines.sources import _only_select

    for query in ("select * from orders;\n-- last month", "select delete_flag, \"delete\" from t",
                  "with x as (select 1 as a) select a from x union all select 2"):
        _only_select(query, "sqlite", "shop")  # no error


def test_an_empty_file_in_a_glob_is_left_out_and_said(tmp_path):
    paths = write_inputs(tmp_path)
    split_by_month(paths["purchases"], tmp_path / "exports")
    (tmp_path / "exports" / "2025-01.csv").write_bytes(b"")  # an export that failed halfway
    cli = Cli.fresh(tmp_path)
    config(tmp_path)
    whole = _churn(cli)
    config(tmp_path, {**paths, "purchases": "exports/*.csv"})
    for engine in ("local", "duckdb"):
        r = cli("churn", "--from", "2023-06", "--to", "2024-12", "-f", "csv", "--engine", engine)
        assert r.exit_code == 0, r.stderr
        assert r.stdout == whole
        assert "exports/2025-01.csv: empty file (0 bytes) left out" in r.stderr


def test_what_duckdb_cannot_do_is_said_in_a_line(tmp_path):
    """DuckDB's parser stops on line ends that change within a file without naming a
    line: the message says so and what reads it; running out of the engine's memory
    is exit 66 with what to change, not a bad-data 65."""
    cli = Cli.fresh(tmp_path)
    lines = [f"C{i % 50},o{i},2024-01-05,10" for i in range(6000)]
    (tmp_path / "p.csv").write_bytes(("customer_id,order_id,order_date,amount\n" + "\n".join(lines[:3000]) + "\n"
                                      + "\r\n".join(lines[3000:]) + "\r\n").encode())
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n")
    r = cli("churn", "-q", "-f", "csv", "--engine", "duckdb")
    assert r.exit_code == 65 and r.stdout == ""
    assert ("p.csv: DuckDB cannot read it as CSV (its parser names no line: a file whose line ends change from one "
            "line to the next, or a record that is not RFC 4180 CSV); the local engine reads such files") in r.stderr
    assert cli("churn", "-q", "-f", "csv").exit_code == 0
    (tmp_path / "p.csv").write_text("customer_id,order_id,order_date,amount\n" + "\n".join(lines * 40) + "\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n"
                                             "engine: {name: duckdb, memory_limit: 1MB}\n")
    r = cli("churn", "-q", "-f", "csv")
    assert r.exit_code == 66 and r.stdout == "", r.stderr
    assert "p.csv: the engine ran out of memory reading it" in r.stderr
    assert "raise engine.memory_limit, or set engine.temp_directory" in r.stderr


@pytest.mark.parametrize("more, message", [
    ("connection: 'mysql://u@h/shop'\n    table: orders\n",
     "retention.yaml:2: inputs.purchases: connection mysql:: use sqlite:///…, duckdb:///… or postgresql://…"),
    ("connection: 'sqlite:///shop.db'\n    table: orders\n    delimiter: ';'\n    encoding: cp1252\n",
     "retention.yaml:2: inputs.purchases: delimiter, encoding: a file's layout, which a database input does not "
     "have (its rows come as the database holds them): leave them out"),
])
def test_a_database_input_s_config_is_checked_with_the_config(tmp_path, more, message):
    """An unknown scheme, or a file's layout option on a database input (which
    would be ignored), is a config error naming the config's line (78)."""
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases:\n    " + more)
    r = Cli.fresh(tmp_path)("churn", "-q")
    assert r.exit_code == 78 and message in r.stderr

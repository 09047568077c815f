"""An input read by an engine, behind the readers' one interface (``Source``):
a file, a glob or a folder of CSV or Parquet files through DuckDB or Spark, or a
table or query of a database (SQLite, DuckDB, PostgreSQL) through that database.
Written once with Ibis (one expression, compiled for each backend).

The engine reads; the readers' conversion path types what it hands over, so the
values, bad rows and reasons are those of the local readers. What differs: a CSV
record is named by its number ("record 12": engines number records, not physical
lines), a database row by its key; the rejects of a CSV input are the rejected
records written again as CSV (all columns, as text), not their original bytes.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import csv
import gzip
import io
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from retention_cli.config import URL, EngineConfig, InputConfig
from retention_cli.errors import DataError, InputMissingError, UsageError
from retention_cli.io.readers.convert import typed_values
from retention_cli.io.readers.formats import Source, aligned, typed_column
from retention_cli.io.readers import source
from retention_cli.io.readers.text import check_header, sniff_delimiter

HEAD_BYTES = 1 << 16  # what the delimiter is sniffed from (as the local reader)


def redacted(url: str) -> str:
    """A connection URL as messages and metadata show it: no password, whether in the
    user part (``user:secret@``) or a ``password=`` parameter; a URL that cannot be
    parsed shows its scheme only."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.split(":", 1)[0] + ":…" if ":" in url else url
    at = rest.rfind("@")
    if at >= 0:  # everything before the last '@' is the user part: a password may hold '/', '#', '@'
        user = rest[:at]
        rest = (user.split(":", 1)[0] + (":***" if ":" in user else "")) + rest[at:]
    rest = re.sub(r"(?i)((?:^|[?&;])(?:password|pwd|pass|secret|token)=)[^&;]*", r"\1***", rest)
    return f"{scheme}://{rest}"


# --- the engines' connections (one per engine and settings, for the process) ----------

_BACKENDS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def _missing(extra: str, what: str) -> UsageError:
    return UsageError(f"{what} needs the {extra} extra: pip install 'retention-cli[{extra}]'")


def backend(name: str, engine: EngineConfig):
    """The Ibis backend of an engine ("duckdb" or "spark"), made once per process."""
    key = (name, engine.model_dump_json())
    with _LOCK:
        if key not in _BACKENDS:
            with _quiet():
                _BACKENDS[key] = _duckdb(engine) if name == "duckdb" else _spark(engine)
        return _BACKENDS[key]


@contextlib.contextmanager
def _quiet():
    """PySpark warns, when imported and when it converts, that it does not yet
    support pandas 3: not the user's business (our tests check its results)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\.")
        yield


def _duckdb(engine: EngineConfig):
    try:
        import ibis
        import ibis.backends.duckdb  # noqa: F401  (the backend's own dependency: duckdb)
    except ImportError:
        raise _missing("duckdb", "the duckdb engine") from None
    try:
        con = _no_progress_bar(ibis.duckdb.connect(**_duckdb_settings(engine)))
    except Exception as e:  # noqa: BLE001 — duckdb's errors for a bad setting
        raise UsageError(f"engine duckdb: {_first_line(e)}") from None
    # the engine's own connection (a database of its own, in memory) may rest; its
    # limit as configured comes back (DuckDB's default: RESET)
    _CONFIGURED[id(con)] = engine.memory_limit.replace(" ", "") if engine.memory_limit else None
    return con


# A DuckDB connection at rest (``rest``): while the process computes between the
# questions asked of the orders DuckDB keeps (``engines.facts``), DuckDB holds
# little memory: its temporary tables go to its temporary folder and the memory
# back to the system (allocator_flush_threshold), instead of DuckDB and the process
# each holding their most at once. Its limit comes back with its next question.
REST_LIMIT = "64MB"
_CONFIGURED: dict[int, str | None] = {}  # id(engine connection) -> its memory_limit (None: DuckDB's default)
_RESTING: set[int] = set()               # id(engine connection) at rest


def rest(con) -> None:
    """Put the duckdb engine's connection at rest (any other connection: nothing; a
    DuckDB database input's is the user's database, whose limit every connection
    to it shares). Best effort: when DuckDB cannot write what it keeps out (no room
    in its temporary folder), it keeps it, as before."""
    if getattr(con, "name", None) != "duckdb" or id(con) not in _CONFIGURED or id(con) in _RESTING:
        return
    try:
        con.raw_sql(f"SET memory_limit = '{REST_LIMIT}'")
    except Exception:  # noqa: BLE001 — DuckDB could not free enough: it keeps its limit
        return
    _RESTING.add(id(con))


def awake(con) -> None:
    """Give a connection at rest its memory limit back (before a question)."""
    if id(con) in _RESTING:
        _RESTING.discard(id(con))
        limit = _CONFIGURED[id(con)]
        con.raw_sql(f"SET memory_limit = '{limit}'" if limit else "RESET memory_limit")


def _duckdb_settings(engine: EngineConfig) -> dict[str, object]:
    """The settings of a DuckDB connection of the engine's (and of a DuckDB database
    input's, whose queries run in that database: the orders among them)."""
    config: dict[str, object] = {}
    if engine.memory_limit:
        config["memory_limit"] = engine.memory_limit.replace(" ", "")
    # where DuckDB spills what does not fit (its default, ./.tmp, would write into the
    # folder the command runs in)
    config["temp_directory"] = os.path.join(_temp_dir(engine), "duckdb")
    if engine.threads:
        config["threads"] = engine.threads
    # a file is read in its order: record N is the file's Nth (and "the first line of an order" means it)
    config["preserve_insertion_order"] = True
    # memory a query freed goes back to the system when it ends (DuckDB keeps up to
    # 128 MB by default, up to the memory limit in practice): the command goes on
    # computing in the same process (10M order lines under 400MB: 780 -> 400 MB held
    # after the orders query; the time is the same). A setting of this connection.
    config["allocator_flush_threshold"] = "0MB"
    return config


def _no_progress_bar(con):
    """DuckDB draws a progress bar on stdout for a query longer than two seconds:
    stdout carries only data (a setting of the connection, not of the process)."""
    con.raw_sql("SET enable_progress_bar = false")
    return con


def _spark(engine: EngineConfig):
    try:
        import ibis
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway
        from pyspark.sql import SparkSession
    except ImportError:
        raise _missing("spark", "the spark engine") from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise UsageError("the spark engine needs Java 17 or later (java on PATH, or JAVA_HOME)")
    from importlib.resources import files as package_files

    # the driver's web UI and its port are of no use to a command that ends; its JVM
    # logs errors only; a local master listens on the loopback interface only
    log4j = package_files("retention_cli.engines").joinpath("log4j2.properties")
    defaults = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.session.timeZone": "UTC",
                "spark.sql.shuffle.partitions": "8",
                "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}"}
    if engine.master.startswith("local"):
        defaults |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    conf = SparkConf().setMaster(engine.master).setAppName("retention")
    for k, v in {**defaults, **engine.conf}.items():
        conf.set(k, str(v))
    # The JVM writes to its own standard error what no option turns off (Java's
    # "Using incubator modules" warning, the shell's "Setting default log level"
    # lines): a run with -q must print nothing, and stderr is retention's. It is
    # given a file of its own instead (anonymous, gone at exit), read back only to say
    # why a session did not start.
    jvm_err = tempfile.TemporaryFile()
    try:
        if SparkContext._active_spark_context is None:  # the process's first session: our JVM
            SparkContext(conf=conf, gateway=launch_gateway(conf, popen_kwargs={"stderr": jvm_err}))
        session = SparkSession.builder.config(conf=conf).getOrCreate()
    except Exception as e:  # noqa: BLE001 — py4j and Spark raise many types
        raise UsageError(f"engine spark: cannot start a session on {engine.master}: {_first_line(e)}"
                         + _jvm_said(jvm_err)) from None
    session.sparkContext.setLogLevel("OFF")  # what went wrong is said by retention, in a line
    return ibis.pyspark.connect(session)


def _jvm_said(err) -> str:
    """The first line the JVM wrote to its standard error (``_spark``), for a message."""
    try:
        err.seek(0)
        lines = [ln.strip() for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    lines = [re.sub(r"^\S*spark-class: line \d+: ", "", ln) for ln in lines
             if not ln.startswith("WARNING: Using incubator modules")]
    return f" (Java: {lines[0][:300]})" if lines else ""  # the first: the cause, before what followed from it


def _first_line(e: BaseException, n: int = 300) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:n]


# --- temporary files (transcoded inputs) live as long as the process ------------------

_TEMP: dict[str | None, str] = {}


def _temp_dir(engine: EngineConfig) -> str:
    """This process's folder in ``engine.temp_directory`` (default: the system's),
    removed when the process ends."""
    base = os.path.expanduser(os.path.expandvars(engine.temp_directory)) if engine.temp_directory else None
    if base not in _TEMP:
        try:
            if base:
                os.makedirs(base, exist_ok=True)
            _TEMP[base] = tempfile.mkdtemp(prefix="retention-", dir=base)
        except OSError as e:
            raise UsageError(f"engine.temp_directory {base}: cannot make a folder there ({e.strerror})") from None
        atexit.register(shutil.rmtree, _TEMP[base], True)
    return _TEMP[base]


# --- files ----------------------------------------------------------------------------

def _kind(files: list[str], display: str) -> str:
    kinds = set()
    for f in files:
        low = f.lower()
        if low.endswith(".zip"):
            raise UsageError(f"{f}: a .zip is read by the local engine only; unzip it to read it with an engine")
        if low.endswith(source.PARQUET_SUFFIXES):
            kinds.add("parquet")
        else:
            with open(f, "rb") as fh:
                kinds.add("parquet" if fh.read(4) == b"PAR1" else "csv")
    if len(kinds) > 1:
        raise DataError(f"{display}: CSV and Parquet files mixed: one input is one format")
    return kinds.pop()


def _head(path: str, n: int = HEAD_BYTES) -> bytes:
    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read(n)
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read: {_first_line(e)}") from None


_DUCKDB_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "latin-1": "latin-1", "iso8859-1": "latin-1",
                     "utf-16": "utf-16"}


def _codec(name: str) -> str:
    return {"iso8859-1": "latin-1", "utf-8-sig": "utf-8"}.get(codecs.lookup(name).name, codecs.lookup(name).name)


def _transcoded(files: list[str], encoding: str, engine: EngineConfig) -> list[str]:
    """Files in another encoding than the engine reads, written again as UTF-8 in
    the temporary folder, a block at a time (never whole in memory)."""
    out = []
    folder = tempfile.mkdtemp(dir=_temp_dir(engine))  # one folder per input
    for i, f in enumerate(files):
        target = os.path.join(folder, f"{i:06d}-{os.path.basename(f).removesuffix('.gz')}")
        decoder = codecs.getincrementaldecoder(encoding)()
        opener = gzip.open if f.lower().endswith(".gz") else open
        offset = 0
        with opener(f, "rb") as src, open(target, "wb") as dst:
            while block := src.read(1 << 22):
                try:
                    dst.write(decoder.decode(block).encode("utf-8"))
                except UnicodeDecodeError as e:
                    raise DataError(f"{f}: byte offset {offset + e.start}: not valid {encoding}") from None
                offset += len(block)
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
        out.append(target)
        _ORIGINAL[target] = f
    return out


def _headers(head: bytes, encoding: str, inp: InputConfig, delimiter: str, display: str) -> list[str]:
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    lines = text.splitlines(keepends=True)[inp.header_row - 1:]
    rows = csv.reader(io.StringIO("".join(lines), newline=""), delimiter=delimiter)
    first = next((r for r in rows if r), [])
    if not first:
        raise DataError(f"{display}: empty file: no header" if inp.header else f"{display}: empty file")
    if inp.header:
        headers = [h.strip() for h in first]
        check_header(headers, display)
        return headers
    return [f"column {i + 1}" for i in range(len(first))]


def _csv_table(con, name: str, files: list[str], inp: InputConfig, display: str, engine: EngineConfig,
               partitions: list[dict[str, str]], name_of: Callable[[str], str] = str):
    """An engine's table of CSV files, every column as text, named f0, f1, … by
    position, hive partition columns after them, and the file's headers."""
    if inp.delimiter == "whitespace":
        raise UsageError(f"{display}: `delimiter: whitespace` is read by the local engine only")
    if inp.skip_rows:
        raise UsageError(f"{display}: `skip_rows` is read by the local engine only")
    if name == "spark" and inp.header_row != 1:
        raise UsageError(f"{display}: `header_row` is read by the local and duckdb engines only")
    encoding = _codec(inp.encoding)
    # each file its own delimiter (a month exported with ';'), and its own order of the
    # first file's columns (by name; more columns are fine), as the local readers take them
    delimiters, file_headers = [], []
    for f in files:
        head = _head(f)
        delimiters.append(inp.delimiter or sniff_delimiter(head.decode(encoding, errors="ignore")))
        file_headers.append(_headers(head, encoding, inp, delimiters[-1], name_of(f)))
    headers = file_headers[0]
    where_in = [aligned(files[0], headers, f, h, name_of) for f, h in zip(files, file_headers)]
    originals = files
    if name == "duckdb" and encoding not in _DUCKDB_ENCODINGS or name == "spark" and encoding not in ("utf-8",):
        files, encoding = _transcoded(files, encoding, engine), "utf-8"
    names = [f"f{i}" for i in range(len(headers))]
    by_file = dict(zip(files, zip(delimiters, file_headers, where_in)))
    uniform = len(set(delimiters)) == 1 and all(h == headers for h in file_headers)

    def read(paths, **more):
        delimiter, own, at = by_file[paths[0] if isinstance(paths, list) else paths]
        cols = [f"f{i}" for i in range(len(own))]
        if name == "duckdb":
            t = con.read_csv(paths, header=inp.header, delim=delimiter, quote='"', escape='"',
                             skip=inp.header_row - 1, columns={n: "VARCHAR" for n in cols},
                             encoding=_DUCKDB_ENCODINGS[encoding], null_padding=False, strict_mode=True,
                             auto_detect=False, ignore_errors=False, parallel=True, **more)
        else:
            t = con.read_csv(paths, header=inp.header, sep=delimiter, quote='"', escape='"',
                             multiLine=True, mode="FAILFAST", inferSchema=False, encoding="UTF-8")
            t = t.rename({n: c for n, c in zip(cols, t.columns)})
        if own == headers:
            return t
        # this file's columns in the first file's order, under its names
        return t.select(*[t[f"f{at[j]}"].name(names[j]) for j in range(len(names))],
                        *[c for c in t.columns if c == "filename"])

    try:
        t = _files_table(read, files, partitions, one_read=name == "duckdb" and uniform, originals=originals)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 — the engines' parse errors
        raise _read_error(e, display, name_of, "cannot parse the file as CSV: ") from None
    keys = [k for k in partitions[0] if k not in headers]
    return t, headers + keys, names + keys


def _files_table(read, files: list[str], partitions: list[dict[str, str]], one_read: bool,
                 originals: list[str] | None = None):
    """One table of the files in their (sorted) order, with their hive partitions as
    text columns and, for several files, each row's file in ``_file`` (as the user
    named it: ``originals``): one read of all of them (DuckDB keeps the order of the
    list), or a union of one read per file (Spark would order a read of several
    files by size)."""
    import ibis

    originals = originals or files
    if len(files) > 1 and one_read and not any(partitions):
        t = read(files, filename=True)
        back = dict(zip(files, originals))
        return t.mutate(_file=t.filename.substitute(back)).drop("filename") if back != {f: f for f in files} \
            else t.rename(_file="filename")
    tables = [read(f) for f in files]
    tables = [t.mutate(**{k: ibis.literal(v, "string") for k, v in parts.items() if k not in t.columns},
                       **({"_file": ibis.literal(o, "string")} if len(files) > 1 else {}))
              for t, parts, o in zip(tables, partitions, originals)]
    return tables[0] if len(tables) == 1 else ibis.union(*tables, distinct=False)


_ORIGINAL: dict[str, str] = {}  # a transcoded copy -> the file it was made from


def _csv_error(text: str, display: str, name_of: Callable[[str], str]) -> str | None:
    """DuckDB's error for a record it cannot read, worded as the local reader words
    it: the file, the line, and what is wrong; None for any other error."""
    line = re.search(r"CSV Error on Line: (\d+)", text)
    if not line:
        return None
    file = re.search(r"^\s*file = (.+)$", text, re.MULTILINE)
    where = name_of(_ORIGINAL.get(file.group(1).strip(), file.group(1).strip())) if file else display
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if counts:
        return (f"{where}:{line.group(1)}: {counts.group(2)} fields where the header has {counts.group(1)} "
                "(an unquoted delimiter in a value, or the wrong `delimiter:`?)")
    if re.search(r"unterminated quote", text, re.IGNORECASE):
        return f"{where}:{line.group(1)}: a quoted field that never closes (a stray '\"'?)"
    reason = next((x.strip() for x in text.splitlines()[1:] if x.strip() and not re.match(
        r"^\s*(Original Line|Possible|\*|file =|\w+ = )", x)), "")
    return f"{where}:{line.group(1)}: cannot be read as CSV" + (f" ({reason})" if reason else "")


def _read_error(e: BaseException, display: str, name_of: Callable[[str], str] = str, what: str = ""):
    """The error to raise for an engine's error while it reads an input: out of
    memory (66: the input does not fit in the engine's memory_limit, and what to do);
    a record it cannot read (``_csv_error``: the line); DuckDB's parser in a state it
    cannot leave (it names no line); else the engine's message in a line (65)."""
    text = str(e)
    if "Out of Memory Error" in text:
        said = re.search(r"Out of Memory Error: ([^\n(]*)", text)
        return InputMissingError(f"{display}: the engine ran out of memory reading it"
                                 + (f" ({said.group(1).strip()})" if said and said.group(1).strip() else "")
                                 + ": raise engine.memory_limit, or set engine.temp_directory to a disk with room "
                                 "for what does not fit")
    csv_error = _csv_error(text, display, name_of)
    if csv_error:
        return DataError(csv_error)
    if "state machine reached an invalid state" in text:
        return DataError(f"{display}: DuckDB cannot read it as CSV (its parser names no line: a file whose line ends "
                         "change from one line to the next, or a record that is not RFC 4180 CSV); the local engine "
                         "reads such files (--engine local)")
    return DataError(f"{display}: {what}{_engine_message(e)}")


def _engine_message(e: BaseException) -> str:
    """What an engine's error says, in a line: a Java exception's own message (Spark's
    Py4J errors start with a line about the call), or DuckDB's first line and the
    line that says why."""
    text = str(e).strip().splitlines()
    java = [m.group(2) for line in text
            if (m := re.match(r"^\s*(?::\s*|Caused by:\s*)?([\w.$]+(?:Exception|Error)): (.+)", line))]
    if java:  # the root cause (the last "Caused by"), without Spark's [ERROR_CLASS] and SQLSTATE
        cause = re.sub(r"^\[[A-Z_.]+\]\s*", "", java[-1])
        return re.sub(r"\s*SQLSTATE: \w+\s*$", "", cause).strip()[:300]
    reason = next((line.strip() for line in text[1:] if re.match(r"^\s*(Expected|Found|Possible|Original)", line)
                   and not re.match(r"^\s*Possible (fixes|solutions):?\s*$", line)), "")
    first = text[0] if text else type(e).__name__
    return (f"{first} ({reason})" if reason else first)[:300]


# --- databases ------------------------------------------------------------------------

def _database(inp: InputConfig, resolve: Callable[[str], str], display: str, engine: EngineConfig | None = None):
    """The table of a database input, typed by the database; its connection and the
    connection's scheme (postgres, sqlite, duckdb)."""
    try:
        import ibis
    except ImportError:
        raise _missing("duckdb", "a database input") from None
    url = os.path.expandvars(inp.connection)
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("sqlite", "duckdb"):
        # sqlite:///shop.db: a path relative to the config's folder, as a file's
        path = url.split(":///", 1)[1] if ":///" in url else url.split("://", 1)[-1]
        if path and path != ":memory:":
            path = resolve(path)
            if not os.path.exists(path):
                raise InputMissingError(f"{display}: database file not found")
            url = f"{scheme}:///{path}" if not path.startswith("/") else f"{scheme}://{path}"
    elif scheme in ("postgres", "postgresql"):
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:  # Ibis's PostgreSQL backend drives it
            raise _missing("postgres", "a PostgreSQL input")
        url = "postgres" + url[len(scheme):]
    else:
        raise UsageError(f"{display}: connection {scheme!r}: use sqlite:///…, duckdb:///… or postgresql://…")
    if inp.query is not None:
        _only_select(inp.query, "postgres" if scheme.startswith("postgres") else scheme, display)
    try:
        if scheme.startswith("postgres"):  # libpq reads the URL: a socket folder as host, PGPORT, a service
            import psycopg

            con = ibis.postgres.from_connection(psycopg.connect("postgresql" + url[len("postgres"):],
                                                                autocommit=True))
        elif scheme == "sqlite" and path not in ("", ":memory:"):  # read-only: reading never writes the database
            import sqlite3

            from pathlib import Path

            con = ibis.sqlite.from_connection(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True))
        else:
            # a DuckDB database runs the queries itself (the orders among them): under
            # the engine's memory_limit, threads and temporary folder
            con = ibis.connect(url, **({"read_only": True, **_duckdb_settings(engine or EngineConfig())}
                                       if scheme == "duckdb" else {}))
        if scheme == "duckdb":
            _no_progress_bar(con)
    except Exception as e:  # noqa: BLE001 — each driver's own errors
        hint = " (is the server running, and are its host or socket folder, port and database right?)" \
            if scheme.startswith("postgres") else ""
        raise InputMissingError(f"{display}: cannot connect: {_first_line(e)}{hint}") from None
    try:
        if inp.query is not None:  # DuckDB's through a view (``_view``: Ibis's sql() fails on DuckDB 2)
            if scheme == "duckdb":
                return _view(con, inp.query), con, scheme
            if scheme.startswith("postgres"):
                body = _query_body(inp.query, "postgres")
                return con.sql(body, schema=_pg_schema(con, body)), con, scheme
            return con.sql(inp.query), con, scheme
        schema, _, name = inp.table.rpartition(".")  # schema.table: the table of that schema
        return (con.table(name, database=schema) if schema else con.table(name)), con, scheme
    except Exception as e:  # noqa: BLE001
        what = f"cannot read table {inp.table!r}" if inp.table is not None else "the query fails"
        raise InputMissingError(f"{display}: {what} ({type(e).__name__}: {_first_line(e)})") from None


def _query_body(query: str, dialect: str) -> str:
    """A ``query:`` without what follows its last word: the semicolons and comments
    after it (``select …; -- the March export``), which would end the query early
    where it is put inside another (a subquery)."""
    import sqlglot
    from sqlglot.tokens import TokenType

    words = [t for t in sqlglot.tokenize(query, read=dialect) if t.token_type != TokenType.SEMICOLON]
    return query[:words[-1].end + 1] if words else query


def _pg_schema(con, query: str):
    """The columns of a PostgreSQL query and their types, asked of the server
    without creating anything: Ibis asks by creating a temporary view, which a
    read-only connection (a hot standby, ``default_transaction_read_only``) refuses.
    The query is run with no rows (``LIMIT 0``); each column's type is the server's
    own name of it (``format_type``), which Ibis reads as it reads a table's."""
    import ibis

    from ibis.backends.sql.datatypes import PostgresType

    with con.con.cursor() as cur:
        # with parameters (none): one statement only, whatever the text holds
        cur.execute(f"SELECT * FROM ({query.replace('%', '%%')}\n) AS retention_query LIMIT 0", ())
        names = [c.name for c in cur.description]
        oids = [c.type_code for c in cur.description]
        mods = [cur.pgresult.fmod(i) for i in range(len(names))]
        # an enum's values are text (as Ibis reads a table's enum column)
        cur.execute("SELECT CASE WHEN t.typtype = 'e' THEN 'enum' ELSE format_type(x.o, x.m) END "
                    "FROM unnest(%s::oid[], %s::int[]) WITH ORDINALITY AS x(o, m, i) "
                    "JOIN pg_catalog.pg_type AS t ON t.oid = x.o ORDER BY x.i", (oids, mods))
        types = [row[0] for row in cur.fetchall()]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"the query returns column {twice[0]!r} twice: name each column once")
    return ibis.schema({n: PostgresType.from_string(t) for n, t in zip(names, types)})


def _only_select(query: str, dialect: str, display: str) -> None:
    """A ``query:`` reads: one SELECT (or WITH … SELECT, a UNION), nothing that
    writes or changes the database (INSERT, UPDATE, DELETE, CREATE, DROP, …)."""
    import sqlglot
    from sqlglot import exp

    wrong = UsageError(f"{display}: query: one SELECT (or WITH … SELECT) is read, and nothing else: the tool never "
                       "writes to a database")
    import logging

    log = logging.getLogger("sqlglot")
    quiet, log.disabled = log.disabled, True  # its warnings of syntax it falls back on: the message below says
    try:
        statements = [st for st in sqlglot.parse(query, read=dialect)
                      if st is not None and not isinstance(st, getattr(exp, "Semicolon", ()))]
    except sqlglot.errors.ParseError as e:
        raise UsageError(f"{display}: query: not SQL the tool can read ({_first_line(e)})") from None
    finally:
        log.disabled = quiet
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise wrong
    writes = tuple(getattr(exp, name) for name in ("Insert", "Update", "Delete", "Create", "Drop", "Alter", "Merge",
                                                   "Command", "TruncateTable") if hasattr(exp, name))
    if any(isinstance(node, writes) for node in statements[0].walk()):
        raise wrong


# --- the Source -----------------------------------------------------------------------

def open_engine_source(name: str, table: str, inp: InputConfig, path: str, display: str, engine: EngineConfig,
                       resolve: Callable[[str], str], name_of: Callable[[str], str] = str
                       ) -> tuple[Source, str, Callable[[], str]]:
    """The input as a ``Source`` of the readers, its format ("csv": columns come
    as text; "parquet": typed, as a Parquet file's) and its SHA-256 (files; "" for
    a database)."""
    if inp.connection is not None:
        t, con, scheme = _database(inp, resolve, display, engine)
        headers = [str(c) for c in t.columns]
        check_header(headers, display, line=False)
        # a DuckDB database makes the orders itself, in its own SQL (``_orders_sql``);
        # under the duckdb engine a PostgreSQL server makes them (a query: the connection
        # may be read-only), which DuckDB then keeps, streamed into it (``_source.facts``).
        # Under local the lines come over, which is faster when they fit: the server's
        # grouping costs more than sending the lines (docs/engines.md)
        on_pg = scheme.startswith("postgres") and engine.name == "duckdb"
        return _source(t, headers, list(t.columns), "parquet", display, "key",
                       engine_name="duckdb" if scheme == "duckdb" else "postgres" if on_pg else None, con=con,
                       keep_in=(lambda: backend("duckdb", engine)) if on_pg else None), "parquet", lambda: ""
    if URL.match(path):  # a filesystem of Spark's (hdfs://, s3a://, file://): given to it as written
        if name != "spark":
            raise UsageError(f"{display}: a path with a scheme is read by the spark engine (--engine spark)")
        return _remote(table, inp, path, display, engine)
    if not os.path.exists(path) and not source.is_many(path):
        raise InputMissingError(f"{display}: {table} file not found")
    files, notes = source.without_empty(source.files_of(path, display, table), name_of)
    kind = _kind(files, display)
    con = backend(name, engine)
    root = path if os.path.isdir(path) else source.folder_of(path) if source.is_pattern(path) else None
    partitions = source.partitions_of(files, root) if root else [{} for _ in files]
    if any(list(p) != list(partitions[0]) for p in partitions):
        raise DataError(f"{display}: its files' folders name different partitions")
    if kind == "parquet":
        import pyarrow.parquet as pq

        import pyarrow as pa

        try:  # each file's columns, by name: another order or more columns are fine, one missing is said
            arrow_schemas = [pq.read_schema(f) for f in files]
        except Exception as e:  # noqa: BLE001 — pyarrow's errors for a file that is no Parquet
            raise DataError(f"{display}: not a readable Parquet file ({_engine_message(e)})") from None
        schemas = [sch.names for sch in arrow_schemas]
        for f, names_of in zip(files, schemas):
            aligned(files[0], schemas[0], f, names_of, name_of)
        first = schemas[0]
        uniform = all(sch.equals(arrow_schemas[0]) for sch in arrow_schemas)
        try:  # a column whole in one file and decimal in another: the wider type for all
            wide = pa.unify_schemas([sch.select(first) if hasattr(sch, "select") else
                                     pa.schema([sch.field(n) for n in first]) for sch in arrow_schemas],
                                    promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            wide = None

        def read_parquet(paths, **more):
            import ibis

            t = con.read_parquet(paths, **more)
            if isinstance(paths, list):
                return t
            target = ibis.schema(wide) if wide is not None else None
            return t.select(*[t[c].cast(target[c]).name(c) if target is not None else t[c] for c in first],
                            *[c for c in t.columns if c == "filename"])

        try:
            t = _files_table(read_parquet, files, partitions, one_read=name == "duckdb" and uniform)
        except Exception as e:  # noqa: BLE001
            raise DataError(f"{display}: not a readable Parquet file ({_engine_message(e)})") from None
        columns = [c for c in t.columns if c != "_file"]
        headers = [str(c) for c in columns]
        check_header(headers, display, line=False)
        out = _source(t, headers, columns, "parquet", display, "record", name_of, engine_name=name, con=con)
        out.notes = notes
        return out, "parquet", source.hash_files(files)
    t, headers, names = _csv_table(con, name, files, inp, display, engine, partitions, name_of)
    out = _source(t, headers, names, "csv", display, "record", name_of, engine_name=name, con=con)
    out.notes = notes
    return out, "csv", source.hash_files(files)


def _remote(table: str, inp: InputConfig, path: str, display: str, engine: EngineConfig):
    """A path on a filesystem only Spark reads: CSV when it ends so (.csv, .csv.gz,
    a glob of them), Parquet otherwise (files, a folder, hive partitions). The
    header is Spark's reading of the first line; no SHA-256 (the bytes are not here)."""
    con = backend("spark", engine)
    plain = path.rstrip("/").lower()
    try:
        if plain.endswith(source.CSV_SUFFIXES):
            if inp.delimiter == "whitespace" or inp.skip_rows or inp.header_row != 1:
                raise UsageError(f"{display}: delimiter: whitespace, header_row and skip_rows are read by the "
                                 "local engine only")
            t = con.read_csv(path, header=inp.header, sep=inp.delimiter or ",", quote='"', escape='"',
                             multiLine=True, mode="FAILFAST", inferSchema=False, encoding=inp.encoding)
            headers = [str(c).strip() for c in t.columns] if inp.header else \
                [f"column {i + 1}" for i in range(len(t.columns))]
            fmt = "csv"
        else:
            t = con.read_parquet(path)
            headers, fmt = [str(c) for c in t.columns], "parquet"
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 — Spark's errors for a path it cannot read
        raise InputMissingError(f"{display}: cannot read: {_first_line(e)}") from None
    check_header(headers, display, line=False)
    # the orders made and kept by Spark, on its cluster, as of a local file's
    return _source(t, headers, list(t.columns), fmt, display, "record", engine_name="spark", con=con), fmt, \
        lambda: ""


# What the engine types itself, and only in the form the readers' typed read takes
# as it is (``convert.typed_plan``): an ISO date (or date and time), a plain number.
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):\d{2}:\d{2}$"  # DuckDB reads 24:00:00 as the next day
_PLAIN_NUMBER = r"^-?\d+(\.\d+)?$"


def _typed_kind(plan) -> str | None:
    import pyarrow as pa

    if plan is None or pa.types.is_dictionary(plan):
        return None  # ids come as text: the readers encode them
    return "date" if pa.types.is_timestamp(plan) else "number" if pa.types.is_floating(plan) else None


def _typed(c, kind: str):
    """The engine's typed value of a text column, null where the text is not in the
    one form it types (the readers then read the column as text)."""
    import ibis

    if kind == "date":
        return ibis.cases((c.re_search(_ISO_DATE), c.try_cast("date")),
                          (c.re_search(_ISO_DATETIME), c.try_cast("timestamp").date()),
                          else_=ibis.null("date"))
    return ibis.ifelse(c.re_search(_PLAIN_NUMBER), c.try_cast("float64"), ibis.null("float64"))


def give_back() -> None:
    """Arrow's memory pool keeps what an engine's result and its conversion freed
    (100 MB and more for a million customers); an engine is chosen to keep memory
    low, so what it freed goes back to the system before the next input is read.
    (An action on the pool, like a garbage collection: no setting of the process.)"""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _source(t, headers: list[str], names: list[str], fmt: str, display: str, numbering: str,
            name_of: Callable[[str], str] = str, engine_name: str | None = None, con=None,
            keep_in: Callable[[], object] | None = None) -> Source:
    import ibis
    import pyarrow as pa
    import pyarrow.compute as pc

    def where(rows: np.ndarray) -> list[str]:
        """Each row by its file and its record there (several files: ``_file``)."""
        numbered = t.mutate(_record=ibis.row_number())
        per = numbered.mutate(_in_file=ibis.row_number().over(group_by=numbered._file, order_by=numbered._record))
        got = fetch(per.filter(per._record.isin([int(r) for r in rows])).select("_record", "_file", "_in_file"))
        at = {r: (f, i) for r, f, i in zip(*(got.column(c).to_pylist() for c in ("_record", "_file", "_in_file")))}
        return [f"{name_of(at[int(r)][0])}: record {at[int(r)][1] + 1}" for r in rows]

    def fetch(expr) -> pa.Table:
        if _RESTING:
            awake(expr._find_backend())
        try:
            with _quiet():
                return expr.to_pyarrow()
        except Exception as e:  # noqa: BLE001 — the engine's errors while it reads (a broken record)
            raise _read_error(e, display, name_of) from None

    def read(positions: list[int], kinds: dict | None = None) -> pd.DataFrame:
        """The columns at ``positions``. Of a CSV input, the columns the conversion
        plan types (``typed_plan``: ISO dates, plain numbers) are typed by the engine
        when every value of the column is clean; a column with one value that is not
        comes as text, for the readers' careful parser to say what is wrong (as the
        local reader does)."""
        kinds = kinds or {}
        if numbering == "key":  # a database: every column in one query, the rejects taken from it
            whole.append(fetch(t))
            return pd.DataFrame({p: typed_column(whole[-1].column(names[p]), kinds.get(p), display, headers[p])
                                 for p in positions}, index=pd.RangeIndex(whole[-1].num_rows), copy=False)
        typed = {p: k for p, k in ((p, _typed_kind(kinds.get(p))) for p in positions) if k} if fmt == "csv" else {}
        exprs = []
        for p in positions:
            c = t[names[p]]
            if p in typed:
                v = _typed(c, typed[p])
                exprs += [v.name(f"v{p}"), (c.notnull() & (c != "") & v.isnull()).name(f"x{p}")]
            else:
                exprs.append(c.name(f"v{p}"))
        got = fetch(t.select(*exprs)) if positions else None
        rows = got.num_rows if got is not None else _count()
        out: dict[int, pd.Series] = {}
        as_text = []
        for p in positions:
            col = got.column(f"v{p}")
            if p in typed:
                series = None if pc.any(got.column(f"x{p}")).as_py() else \
                    typed_values(col.cast(pa.timestamp("s")) if typed[p] == "date" else col)
                if series is None:
                    as_text.append(p)
                else:
                    out[p] = series
            elif fmt == "csv":
                out[p] = _text(col)
            else:
                out[p] = typed_column(col, kinds.get(p), display, headers[p])
        del got
        if as_text:  # not clean: as text, as written
            again = fetch(t.select(*[t[names[p]].name(f"v{p}") for p in as_text]))
            for p in as_text:
                out[p] = _text(again.column(f"v{p}"))
        rest(t._find_backend())  # what DuckDB holds after a read (a third of a GiB for 10 M customers)
        return pd.DataFrame({p: out[p] for p in positions}, index=pd.RangeIndex(rows), copy=False)

    def _text(col) -> pd.Series:
        col = pc.fill_null(col.cast(pa.large_string()), "")  # an engine reads an empty field as null
        return col.to_pandas(types_mapper=pd.ArrowDtype).astype("str")

    def _count() -> int:
        return int(fetch(t.count().as_table()).column(0)[0].as_py())

    whole: list = []  # a database's rows as fetched (read)

    def rejects(rows: np.ndarray) -> bytes:
        if whole:  # the rows as they were read: a second query could return them in another order
            got = whole[-1].take(pa.array(np.asarray(rows, dtype=np.int64)))
        else:
            numbered = t.mutate(_record=ibis.row_number())
            got = fetch(numbered.filter(numbered._record.isin([int(r) for r in rows])).order_by("_record")
                        .drop("_record", *(["_file"] if "_file" in t.columns else [])))
        got = got.rename_columns(headers)
        buf = pa.BufferOutputStream()
        if fmt == "csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(got, buf, pcsv.WriteOptions(quoting_style="needed"))
        else:
            import pyarrow.parquet as pq

            pq.write_table(got, buf)
        return buf.getvalue().to_pybytes()

    def made_orders(cust: int, order: int, day: int, amount: int, product: int | None = None):
        """The engine's table of the orders of the lines (``_orders_sql``) and the
        table of the lines it reads, kept by DuckDB (None elsewhere), which the caller
        drops once the orders are made or fetched (``_drop``); None when a typed
        input's column types are not ones the readers take as they are."""
        import ibis

        from retention_cli.io.readers.convert import MAX_DATE, MAX_NUMBER, MIN_DATE

        if fmt == "csv":
            c, o, p = t[names[cust]], t[names[order]], t[names[product]] if product is not None else None
            d, a = _typed(t[names[day]], "date"), _typed(t[names[amount]], "number")
        else:  # typed columns (Parquet, a DuckDB database): only types the readers take as they are
            parts = _typed_parts(t, [names[cust], names[order], names[day], names[amount]]
                                 + ([names[product]] if product is not None else []),
                                 decimals=engine_name == "postgres")
            if parts is None:
                return None
            c, o, d, a, p = parts if product is not None else (*parts, None)
        # the ids are looked at once per order (group keys), below; the values once per line
        unclean = d.isnull() | a.isnull() | (d < MIN_DATE.date()) | (d > MAX_DATE.date()) | (a.abs() >= MAX_NUMBER)
        if fmt != "csv":
            unclean = unclean | a.isnan()  # NaN is no value, as null is (``typed_column``)
        more = {"_p": p} if product is not None else {}
        held = None
        if engine_name == "spark":  # numbered where they are, not gathered into one partition
            try:
                with _quiet():
                    kept = _spark_checkpoint(con, str(con.compile(t.select(_c=c, _o=o, _d=d, _a=a, _x=unclean,
                                                                           **more))))
            except Exception as e:  # noqa: BLE001 — Spark's errors while it reads the lines (a broken record)
                raise _read_error(e, display, name_of) from None
            body = _spark_numbered(f"SELECT * FROM {kept}")
        elif engine_name == "duckdb":
            # the typed lines kept first, in the order of the input (preserve_insertion_order):
            # the table's rowid numbers its records, and the lines are read and typed on
            # every core (a row_number over the read makes the whole read one thread's:
            # 100M lines' orders 170 -> 143 s)
            from retention_cli.engines.facts import _kept

            try:
                with _quiet():
                    held = _kept(t.select(_c=c, _o=o, _d=d, _a=a, _x=unclean, **more))
            except Exception as e:  # noqa: BLE001 — the engine's errors while it reads (a broken record)
                raise _read_error(e, display, name_of) from None
            body = f"SELECT rowid AS _record, * FROM {held.get_name()}"
        else:
            body = str(con.compile(t.mutate(_record=ibis.row_number())
                                   .select("_record", _c=c, _o=o, _d=d, _a=a, _x=unclean, **more)))
        sql = _orders_sql(engine_name, product is not None).replace("{lines}", body)
        if engine_name == "postgres":  # a query, not a view: the connection may be read-only (``_pg_schema``)
            return con.sql(sql, schema=_orders_schema(product is not None)), None
        try:
            return _view(con, sql), held
        except BaseException:
            if held is not None:
                from retention_cli.engines.facts import _drop

                _drop(held)
            raise

    def orders(cust: int, order: int, day: int, amount: int, product: int | None = None):
        """The orders of a purchases input made in the engine from its lines (SPEC §1
        order lines): per (customer, order), the earliest line's date, the sum of the
        lines' amounts as decimals, rounded once (the sum the process makes,
        ``customers.line_sums``), the number of lines; the orders in the order of
        their first line (the order the process numbers them in). As cells of the readers (customer ids
        dictionary-encoded, dates, amounts), the lines per order and the latest line's
        date (an order is dated by its earliest: the data end is the latest); with
        ``product``, each order's least and greatest product id (in one dictionary:
        the order has several products when they differ, and its customer bought
        several in a period when the ids of their orders there differ); None when a line
        is not one the engine types exactly as the readers would (a missing or
        unparsed value, a date outside 1900-2199, a number of 1e15 or more, an
        order of 2**53 units of its amounts or more (``customers.line_sums``), an id
        with spaces at its ends or a BOM): then the lines are read as they are, for
        the readers to say what is wrong."""
        from retention_cli.engines.facts import _drop

        made = made_orders(cust, order, day, amount, product)
        if made is None:
            return None
        made, held = made
        try:
            got = fetch(made.order_by("_first").select("_c", "_day", "_amount", "_last", "_lines", "_x",
                                                       *(["_plo", "_phi"] if product is not None else [])))
        finally:
            if held is not None:
                _drop(held)
        if pc.any(got.column("_x")).as_py():
            return None
        ids = pc.dictionary_encode(got.column("_c").combine_chunks())
        days = typed_values(got.column("_day").cast(pa.timestamp("s")))
        if days is None:
            return None
        amounts = got.column("_amount").to_numpy() + 0.0  # -0.0 as the process's sum gives it
        lines_per_order = got.column("_lines").to_numpy().astype(np.int64)
        last = pc.max(got.column("_last")).as_py()
        columns = {cust: pd.Series(pd.arrays.ArrowExtensionArray(ids)), day: days, amount: pd.Series(amounts)}
        product_last = None
        if product is not None:  # least and greatest in one dictionary (their codes compare)
            both = pc.dictionary_encode(pa.concat_arrays([got.column("_plo").combine_chunks(),
                                                          got.column("_phi").combine_chunks()]))
            n = got.num_rows
            columns[product] = pd.Series(pd.arrays.ArrowExtensionArray(both.slice(0, n)))
            product_last = pd.Series(pd.arrays.ArrowExtensionArray(both.slice(n, n)))
        del got
        cells = pd.DataFrame(columns, copy=False)
        give_back()
        return cells, lines_per_order, None if last is None else pd.Timestamp(last), product_last

    def facts(cust: int, order: int, day: int, amount: int, product: int | None = None, sums: bool = False):
        """The orders of the lines kept in the engine, for the customer facts the
        churn and cohort KPIs ask of them (``engines.facts.EngineOrders``): the
        process gets one row per customer (their id, first line's date, lines) and
        the facts asked later, never the orders. ``sums``: the orders kept whole (with
        ``product``, their products), for the purchase sums per period too. None as
        ``orders`` says."""
        from retention_cli.engines.facts import EngineOrders

        made = made_orders(cust, order, day, amount, product if sums else None)
        if made is None:
            return None
        made, held = made
        staged = None
        try:
            if keep_in is not None:  # the database's orders, streamed into the engine that keeps them
                made = staged = _streamed(made, keep_in())
            with _quiet():
                kept = EngineOrders.make(made, fetch, sums=sums, products=sums and product is not None)
        except (DataError, InputMissingError):  # said by ``fetch`` already
            raise
        except Exception as e:  # noqa: BLE001 — the engine's errors while it keeps the orders (a broken record)
            raise _read_error(e, display, name_of) from None
        finally:
            from retention_cli.engines.facts import _drop

            for table in (staged, held):  # the lines and a database's orders: the orders kept now
                if table is not None:
                    _drop(table)
        if kept is None:
            return None
        # one row per customer: the ids are their own dictionary (no hash)
        customer_ids, first_line = kept.hand_over()
        ids = pa.DictionaryArray.from_arrays(pa.array(np.arange(len(customer_ids), dtype=np.int32)), customer_ids)
        days = typed_values(first_line.cast(pa.timestamp("s")))
        del customer_ids, first_line
        if days is None:  # not a date the readers take (the checks above keep such lines out)
            kept.close()
            return None
        cells = pd.DataFrame({cust: pd.Series(pd.arrays.ArrowExtensionArray(ids)), day: days}, copy=False)
        give_back()
        return cells, kept

    return Source(headers, None, read, rejects, "csv" if fmt == "csv" else "parquet", numbering=numbering,
                  where=where if "_file" in t.columns else None,
                  orders=orders if engine_name in ORDERS_ENGINES + ("postgres",) and con is not None else None,
                  facts=facts if (engine_name in ORDERS_ENGINES or keep_in is not None) and con is not None else None)


def _streamed(made, duck):
    """The rows of ``made`` (a query of another database's) as a temporary table of
    the DuckDB connection ``duck``, streamed: the database's cursor is read a block
    of rows at a time (a server-side cursor of PostgreSQL's, Ibis's
    ``to_pyarrow_batches``) and DuckDB writes what does not fit its memory_limit to
    its temporary folder: the process holds one block at a time."""
    name = f"_retention_{os.getpid()}_{next(_VIEWS)}"
    batches = made.to_pyarrow_batches(chunk_size=65_536)
    awake(duck)
    raw = duck.con
    raw.register(f"{name}_in", batches)
    try:
        raw.execute(f"CREATE TEMPORARY TABLE {name} AS SELECT * FROM {name}_in")
    finally:
        raw.unregister(f"{name}_in")
        batches.close()
    return duck.table(name)


def _typed_parts(t, columns: list[str], decimals: bool = False):
    """Of typed inputs (Parquet, a DuckDB database), the ids, date and amount of the
    lines as the engine groups and sums them, when their types are ones the readers
    take as they are (``typed_column``): ids as text or whole numbers (whole numbers
    written as text, as the readers write them), a date or a timestamp without a
    zone (its day), an amount as a floating or whole number. None for any other type
    (decimals, zoned timestamps, …): the lines are then read by the readers.
    ``decimals``: a decimal amount too, cast by the engine to the nearest float, as
    the readers convert it (``formats.decimal_floats``): PostgreSQL's cast of a
    numeric is (through its exact text); DuckDB's is not for every value."""
    schema = t.schema()
    out = []
    for i, name in enumerate(columns):
        dt, col = schema[name], t[name]
        if i == 2:  # the date
            if dt.is_date():
                out.append(col)
            elif dt.is_timestamp() and dt.timezone is None:
                out.append(col.date())
            else:
                return None
        elif i == 3:  # the amount
            if not (dt.is_floating() or dt.is_integer() or (decimals and dt.is_decimal())):
                return None
            out.append(col.cast("float64"))
        elif dt.is_string():
            out.append(col)
        elif dt.is_integer():
            out.append(col.cast("string"))
        else:
            return None
    return tuple(out)


# The orders of the lines (``_source.orders``): per (customer, order), its first
# record, its date (the earliest line's), its lines' latest date, the exact sum of
# its amounts, its number of lines, its least and greatest product id, and whether
# a line is not clean. One query, with each engine's way of saying an id's spaces.
def _orders_sql(engine_name: str, product: bool) -> str:
    """The query of ``_source.orders`` in the engine's SQL, over ``{lines}``."""
    from retention_cli.model.customers import PLACES

    def plain(column: str) -> str:  # an id the engine may group or compare as written
        if engine_name == "duckdb":
            return f"regexp_matches({column}, '{_NOT_PLAIN_ID}')"
        if engine_name == "postgres":  # its regular expressions write a code point \\uXXXX
            return f"{column} ~ '{_NOT_PLAIN_ID_PG}'"
        return f"{column} RLIKE '{_NOT_PLAIN_ID.replace(chr(92), chr(92) * 2)}'"  # Spark's literals take escapes

    # the amounts added as ``customers.line_sums`` adds them: those of at most PLACES
    # places exactly, as whole units of 10**-PLACES (``_u``: the whole number toward
    # zero, else the next away from zero, that gives the amount back; no rounding
    # rule, as each engine rounds a half its way). A float adds them exactly in any
    # order, in parallel too, while an order's units stay under 2**53 (beyond, the
    # order is not clean: the process adds its lines). Then the others (``_u`` null),
    # as floats in the order of the lines: an ordered aggregate over those lines only.
    dbl = "DOUBLE PRECISION" if engine_name == "postgres" else "DOUBLE"
    scale = f"CAST({10 ** PLACES} AS {dbl})"
    x = f"(_a * {scale})"
    toward = f"({x} - {x} % 1)" if engine_name == "spark" else f"trunc({x})"  # Spark's floor is a long
    sign = "signum(_a)" if engine_name == "spark" else f"CAST(sign(_a) AS {dbl})"
    units = (f"CASE WHEN {toward} / {scale} = _a THEN {toward} "
             f"WHEN ({toward} + {sign}) / {scale} = _a THEN {toward} + {sign} END")
    if engine_name == "postgres":
        rest = "sum(_a ORDER BY _record) FILTER (WHERE _u IS NULL)"
    elif engine_name == "duckdb":  # only the few lines of more places are sorted
        rest = ("list_reduce(list_transform(list_sort(list({'r': _record, 'a': _a}) FILTER (WHERE _u IS NULL)), "
                "lambda x: x.a), lambda acc, x: acc + x)")
    else:
        rest = ("aggregate(array_sort(collect_list(CASE WHEN _u IS NULL THEN struct(_record, _a) END)), "
                "CAST(0 AS DOUBLE), (acc, x) -> acc + x._a)")
    amount = f"coalesce(sum(_u), 0) / {scale} + coalesce({rest}, 0)"
    products = ", min(_p) AS _plo, max(_p) AS _phi" if product else ""
    unclean_product = f" OR bool_or(_p IS NULL OR {plain('_p')})" if product else ""
    return (f"SELECT _c, min(_record) AS _first, min(_d) AS _day, max(_d) AS _last, {amount} AS _amount, "
            f"CAST(count(*) AS INT) AS _lines{products}, "
            f"bool_or(_x) OR coalesce(sum(abs(_u)), 0) >= CAST({2 ** 53} AS {dbl}) "
            f"OR _c IS NULL OR _o IS NULL OR {plain('_c')} OR {plain('_o')}{unclean_product} AS _x "
            f"FROM (SELECT *, {units} AS _u FROM ({{lines}}) AS retention_typed) AS retention_lines "
            "GROUP BY _c, _o")


_SPARK_KEPT: dict[str, object] = {}  # name -> a frame Spark keeps as a local checkpoint (``_spark_checkpoint``)


def _spark_checkpoint(con, sql: str) -> str:
    """The rows of ``sql`` kept by Spark as a local checkpoint (on the executors, in
    memory and on disk; its plan cut), under a temporary view's name. What is read
    from it twice is then read the same: a query of the files may be split into
    other partitions at its next run (Spark sizes the splits by the cores it has
    then), and a frame kept as a cache is computed again from its plan when what it
    read is let go of. Held until the session ends (a process of the tool's: one run).
    An executor lost with its blocks fails the run, saying so, rather than number
    the lines again."""
    name = f"_retention_{os.getpid()}_{next(_VIEWS)}"
    frame = con._session.sql(sql).localCheckpoint(eager=True)
    frame.createOrReplaceTempView(name)
    _SPARK_KEPT[name] = frame
    return name


def _spark_numbered(lines: str) -> str:
    """Spark's query of ``lines`` with each line's number in the order of the input
    (``_record``: 0, 1, … as a row_number gives), made where the lines are. A
    row_number over the whole input is one window of one partition: Spark gathers
    every line into one task (``Exchange SinglePartition``), which on a cluster is
    one executor's memory and one core, and whose gathering need not keep the
    input's order. Instead each line takes Spark's monotonically increasing id (its
    partition's index in the high bits, its place in the partition in the low 33),
    the lines are counted per partition (a few hundred rows, numbered by a window of
    their own), and a line's number is the lines of the partitions before its own
    plus its place: the same numbers, with no line moved. ``lines`` is read twice
    (counted, then numbered): it must give the same partitions each time — a frame
    Spark keeps whole (``_spark_checkpoint``), not a query of the files."""
    low = (1 << 33) - 1
    return (f"SELECT l.*, coalesce(n._off, 0) + (l._mid & {low}) AS _record "
            f"FROM (SELECT q.*, monotonically_increasing_id() AS _mid FROM ({lines}) AS q) AS l "
            "JOIN (SELECT _pt, sum(_pn) OVER (ORDER BY _pt ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _off "
            "FROM (SELECT _pt, count(*) AS _pn FROM (SELECT shiftright(monotonically_increasing_id(), 33) AS _pt "
            f"FROM ({lines}) AS q2) AS p GROUP BY _pt) AS c) AS n ON shiftright(l._mid, 33) = n._pt")


# An id the engine groups by as it is: not empty, no space at either end, no byte
# order mark; any other is read by the readers, which trim them. The spaces are those
# the readers trim (Arrow's utf8_trim_whitespace, Python's str.strip): ASCII's, the
# information separators U+001C-U+001F, U+0085 and Unicode's spaces — written out,
# as RE2 (DuckDB) and Java (Spark) read \s differently.
_SPACE = r"[\x{09}-\x{0D}\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]"
_NOT_PLAIN_ID = rf"^$|^{_SPACE}|{_SPACE}$|\x{{FEFF}}"
_NOT_PLAIN_ID_PG = re.sub(r"\\x\{([0-9A-F]+)\}", lambda m: f"\\u{int(m[1], 16):04X}", _NOT_PLAIN_ID)
ORDERS_ENGINES = ("duckdb", "spark")
_VIEWS = iter(range(1 << 62))  # names of this process's views


def _orders_schema(product: bool):
    """The columns of ``_orders_sql``'s query (a PostgreSQL query is given its schema:
    Ibis would ask the server by creating a view)."""
    import ibis

    return ibis.schema({"_c": "string", "_first": "int64", "_day": "date", "_last": "date", "_amount": "float64",
                        "_lines": "int32", **({"_plo": "string", "_phi": "string"} if product else {}),
                        "_x": "boolean"})


def _view(con, sql: str):
    """The table of a query written in the engine's SQL, on the connection ``con``,
    as a temporary view (Ibis's ``sql()`` asks DuckDB 2 for a method it no longer
    has, ``fetch_arrow_table``: a view is read as a table is)."""
    name = f"_retention_{os.getpid()}_{next(_VIEWS)}"
    con.raw_sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {sql}")
    return con.table(name)



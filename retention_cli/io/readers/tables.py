"""One input table read, mapped and validated (``read_table``), and all the inputs
of a command (``load_inputs``): bad rows collected and reported by physical line,
rejects kept byte for byte, references between tables checked."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from retention_cli.config import Config, EngineConfig, InputConfig
from retention_cli.engines import uses_engine
from retention_cli.errors import DataError, InputMissingError, UsageError
from retention_cli.io.writers import shown
from retention_cli.io.schemas import NPS_RANGE, SCHEMAS
from retention_cli.io.readers import source
from retention_cli.io.readers.cells import as_arrow
from retention_cli.io.readers.convert import convert_column, position_kinds, typed_plan
from retention_cli.io.readers.formats import combined, open_source
from retention_cli.io.readers.ids import empty_ids, encode_ids, is_dictionary, lower_ids
from retention_cli.io.readers.mapping import resolve_mapping
from retention_cli.io.readers.semantics import (apply_meaning, exclude, inherit, needed_by_options, option_columns,
                                                parse_option_columns, uses_options)
from retention_cli.io.readers.source import read_bytes, sha256_beside, unpack
from retention_cli.io.readers.text import with_lines


MAX_LISTED = 20  # bad rows printed with on_bad_rows: error


@dataclass
class Table:
    """One input table, read and validated."""

    name: str
    path: str                 # as resolved from the config, or "-"
    display: str              # the name used in messages
    df: pd.DataFrame          # canonical columns parsed + extra columns as text; index = data row
    rows_read: int            # data rows in the file (blank lines not counted)
    sha256: str
    mapping: dict[str, str]   # canonical name -> the file's header (or "column N")
    extras: list[str] = field(default_factory=list)
    bad: pd.DataFrame | None = None   # line, column, value, reason (every bad value found)
    rejected_rows: int = 0
    excluded_rows: int = 0             # left out by the input's `exclude` (and never-paying trials)
    reject_bytes: bytes | None = None  # header + rejected records, byte for byte (Parquet: those rows)
    reject_ext: str = "csv"            # the rejects file's extension: csv, or parquet for a Parquet input
    warnings: list[str] = field(default_factory=list)
    # a subscriptions export read as the customers: one row per paying subscription
    # (customer_id, start, end, mrr) beside the customers it made (semantics.py)
    subscriptions: pd.DataFrame | None = None
    read_by: str = "local"            # the engine that read it (``engine: auto`` picks one per input)
    # purchases whose orders an engine made from the lines (``read_table(orders=True)``):
    # a row of ``df`` is an order, and this its number of lines; None: a row is a line
    row_lines: np.ndarray | None = None
    last_line: pd.Timestamp | None = None  # then: the latest line's date (an order is dated by its earliest)
    # purchases whose orders an engine keeps (``engines.facts.EngineOrders``): a row of
    # ``df`` is a customer (its id, its first line's date), ``row_lines`` its lines
    facts: object = None
    # customers: every customer_id differs from the others (none empty twice either)
    unique_ids: bool = False

    @property
    def rows(self) -> int:
        """The rows used: lines of the input (of orders an engine made, their lines)."""
        return int(self.row_lines.sum()) if self.row_lines is not None else len(self.df)

    def problems(self) -> pd.DataFrame | None:
        """Every bad value of the rows left out (``on_bad_rows: skip``), in the order
        of the rows: where (file:line; of several files, the file it is in; of an
        engine or a database, the record or the row's key), the column, the value as
        written and why. None when no row was left out."""
        if not self.rejected_rows or self.bad is None or not len(self.bad):
            return None
        bad = self.bad.sort_values("row", kind="stable")
        return pd.DataFrame({"place": places(bad, self.display), "column": bad["column"].to_numpy(),
                             "value": bad["value"].astype(str).to_numpy(), "reason": bad["reason"].to_numpy()},
                            dtype="str")


def read_table(
    table: str,
    inp: InputConfig,
    cfg: Config,
    path: str | None = None,
    extra: tuple[str, ...] = (),
    policy: str | None = None,
    columns: frozenset[str] | None = None,
    engine: EngineConfig | None = None,
    orders: bool = False,
    facts: bool | str = False,
) -> Table:
    """Read, map and validate one input table.

    ``extra`` are further columns of an event table wanted as text (``--by``); of
    the customers file every column that is not canonical is kept (attributes),
    or with ``columns`` those of ``extra``.
    ``columns``: the canonical columns the command uses (None: all); the others are
    neither read nor checked (the mapping still is). ``amount`` brings
    ``quantity`` and ``unit_price`` when the file has no amount. ``orders``: the
    command uses the purchases only through the orders (the customer base): an
    engine may hand over the orders it made from the lines (one row per order, no
    order_id; ``Table.row_lines`` holds each one's lines) when every line is clean.
    ``facts``: the command uses the orders only through the customer facts of the
    inactivity model (first purchase, activity, buyers per period): an engine may
    keep the orders and hand over one row per customer (its id and first line's
    date; ``Table.facts`` answers the rest, ``Table.row_lines`` holds its lines).
    ``facts="sums"``: the same, with the orders kept whole (amounts, products) for
    the purchase sums per period (``EngineOrders.purchase_sums``).
    """
    given = (inp, path)  # as the caller gave them (a second read, below)
    # Messages name the file as the user wrote it (config or command line).
    written = path or inp.path
    display = inp.where if inp.connection is not None and path is None else \
        "<stdin>" if written == "-" else shown(written)
    inp, path = _read_from(inp, path, cfg)
    policy = policy or cfg.bad_rows_policy(table)
    reader_engine = uses_engine(engine or cfg.engine, inp, path)
    # the files of a glob or a folder named as the user wrote the path: relative to the
    # config's folder when it was
    base = path[:len(path) - len(written)] if inp.connection is None and written != "-" \
        and not os.path.isabs(written) and path.endswith(written) else ""
    def name_of(f: str) -> str:
        if base and os.path.isabs(f):
            return shown(os.path.relpath(f, base))
        if os.path.isabs(f) and written and not os.path.isabs(written):  # an engine made it absolute
            return shown(os.path.relpath(f))
        return shown(f)
    if reader_engine is not None:  # read by an engine (engines/), handed over as the local readers' cells
        from retention_cli.engines.sources import open_engine_source

        reader, fmt, sha = open_engine_source(reader_engine, table, inp, path, display, engine or cfg.engine,
                                              cfg.resolve_path, name_of)
    elif source.is_many(path):  # a glob or a folder: each file by the local readers, as one table
        reader, fmt, sha = _open_local_many(table, inp, path, display, name_of)
    else:
        reader, fmt, sha = _open_local(table, inp, path, display)
    headers, span_bytes = reader.headers, reader.span_bytes
    wanted_extra = tuple(h for h in headers if h) if table == "customers" else extra
    found, extras = resolve_mapping(table, inp, headers, display, wanted_extra)
    # the columns the input's options name (exclude, inherit, refunds, subscriptions): {} when none is set
    aux = option_columns(table, inp, headers, found, display) if uses_options(inp) else {}
    if columns is not None:
        use = set(columns) | ({"quantity", "unit_price"} if "amount" in columns and "amount" not in found else set())
        if table == "customers":  # the ids (checked unique), a canonical column grouped by (--by loyalty_member)
            use |= {"customer_id"} | set(extra)
        if "cost" in columns:  # the orders' cost (the margin, and clv_simple): cost, or unit_cost × quantity
            use |= {"cost"} if "cost" in found else {"unit_cost", "quantity"} if "unit_cost" in found else set()
        if aux or inp.amount_scope == "order" or inp.subscriptions:
            use |= needed_by_options(inp, use)
        found = {c: p for c, p in found.items() if c in use}
        if table == "customers":  # of the attributes, those the command groups by
            extras = {k: v for k, v in extras.items() if k in extra}
    extras = {k: v for k, v in extras.items() if v not in found.values()}
    plan = typed_plan(table, found, inp, fmt) if fmt == "csv" else position_kinds(table, found)
    if aux:  # the cells options compare or fill are read as text
        plan = {p: t for p, t in plan.items() if p not in aux.values()}
    kept = _orders_of(reader, table, inp, found, extras, aux, plan, fmt, facts=facts) if facts else None
    made = _orders_of(reader, table, inp, found, extras, aux, plan, fmt) if orders and kept is None else None
    if kept is not None:  # the engine keeps the orders: a row per customer, its lines counted
        cells, kept = kept
        row_lines, last_line, product_last = kept.lines, kept.last_line, None
        found = {c: p for c, p in found.items() if c in ("customer_id", "order_date")}
    elif made is not None:  # the engine made the orders: a row per order, its lines counted
        cells, row_lines, last_line, product_last = made
        found = {c: p for c, p in found.items() if c != "order_id"}
    else:
        row_lines = last_line = None
        cells = reader.read(sorted(set(found.values()) | set(extras.values()) | set(aux.values())), plan)

    # Rows with no value in any column read (Excel's trailing ",,,") are not
    # data: left out, and counted in a warning. Empty lines are skipped by the parser.
    empty_rows = 0
    if fmt == "csv" and len(cells) and cells.shape[1]:
        blank = np.ones(len(cells), dtype=bool)
        for c in sorted(cells.columns, key=lambda c: not is_dictionary(cells[c])):  # ids first: cheapest
            blank &= _blank(cells[c])
            if not blank.any():
                break
        empty_rows = int(blank.sum())
        if empty_rows:
            cells = cells[~blank]
    na = set(inp.na_values)
    excluded, exclude_note = 0, None
    if inp.inherit:
        cells = inherit(cells, [aux[n] for n in inp.inherit], found["order_id"])
    if inp.exclude:
        cells, excluded, exclude_note = exclude(cells, inp.exclude, aux, display)
    out: dict[str, pd.Series] = {}
    bad_parts: list[pd.DataFrame] = []

    def flag(col: str, mask: pd.Series, reasons: pd.Series, values: pd.Series) -> None:
        if mask.any():
            idx = mask.index[mask.to_numpy()]
            bad_parts.append(pd.DataFrame({
                "row": idx, "column": col, "value": values.loc[idx].astype(str).to_numpy(),
                "reason": reasons.reindex(idx).fillna("bad value").to_numpy(),
            }))

    lo, hi = cfg.satisfaction.csat_scale
    for col in SCHEMAS[table]:
        if col.name not in found:
            continue
        v, problems = convert_column(cells[found[col.name]], col.kind, fmt, inp, na, cfg.timezone,
                                     missing_is_bad=col.required or col.name == "amount",
                                     scale=NPS_RANGE if col.name == "nps_score" else (lo, hi))
        for mask, reasons, values in problems:
            flag(col.name, mask, reasons, values)
        out[col.name] = v
    for name, pos in extras.items():
        s = cells[pos]
        out[name] = s.astype(str).str.strip() if fmt == "csv" else s

    if aux:  # the further columns options read: refunds, trial and period ends
        parsed = parse_option_columns(table, inp, cells, aux, na, cfg.timezone, flag)
    if inp.lower_ids and "customer_id" in out:
        out["customer_id"] = lower_ids(out["customer_id"])

    if table == "responses":
        scores = [c for c in ("nps_score", "csat_score") if c in out]
        none = pd.concat([out[c].isna() for c in scores], axis=1).all(axis=1)
        already = set(pd.concat(bad_parts)["row"]) if bad_parts else set()
        none &= ~none.index.isin(list(already))
        flag(scores[0], none, pd.Series("no score in the row", index=none.index[none]), out[scores[0]].astype(str))

    # dates that contradict each other: the later one is the wrong one to trust
    for early, late, reason in (("opened_date", "resolved_date", "resolved_date before opened_date"),
                                ("signup_date", "churn_date", "churn_date before signup_date"),
                                ("invoice_date", "due_date", "due_date before invoice_date")):
        if early in out and late in out:
            wrong = (out[late] < out[early]).fillna(False).astype(bool)
            flag(late, wrong, pd.Series(reason, index=wrong.index[wrong.to_numpy()]), cells[found[late]])
    df = pd.DataFrame(out, index=cells.index, copy=False)
    if made is not None and product_last is not None:  # orders an engine made: their greatest product too
        df[PRODUCT_LAST] = product_last.set_axis(df.index)
    if "amount" not in df and {"quantity", "unit_price"} <= set(df.columns):
        df["amount"] = df["quantity"] * df["unit_price"]
    rows_read = (int(row_lines.sum()) if row_lines is not None else len(df)) + excluded

    bad = pd.concat(bad_parts, ignore_index=True) if bad_parts else None
    if bad is not None and row_lines is not None:
        # orders the engine made, yet a value the readers call bad (the engine's checks
        # should have sent the lines over): read again line by line, so that the bad
        # rows are lines, named and rejected as such
        if kept is not None:
            kept.close()
        return read_table(table, given[0], cfg, path=given[1], extra=extra, policy=policy, columns=columns,
                          engine=engine)
    result = Table(table, path, display, df, rows_read, sha(),
                   {c: headers[p] for c, p in found.items()}, list(extras),
                   read_by="database" if inp.connection is not None else reader_engine or "local",
                   row_lines=row_lines, last_line=last_line, facts=kept)
    result.warnings.extend(reader.notes or [])
    if empty_rows:
        result.warnings.append(f"{display}: {empty_rows} empty row{'s' if empty_rows != 1 else ''} (no value in any column) ignored")
    if bad is not None:
        bad = with_lines(bad, span_bytes, inp.header, fmt)
        if reader.where is not None:  # several files: the file and its line (the whole place)
            bad["place"] = reader.where(bad["row"].to_numpy())
        elif reader.numbering != "line":
            bad["at"] = _row_names(bad["row"].to_numpy(), reader.numbering, table, found, headers, cells)
        result.bad = bad
        bad_rows = np.unique(bad["row"].to_numpy())
        if policy == "error":
            raise DataError(
                f"{display}: {len(bad_rows)} bad row{'s' if len(bad_rows) != 1 else ''} "
                f"(set `on_bad_rows: skip` to leave them out)",
                format_bad(bad, display),
            )
        result.df = df.drop(index=bad_rows)
        result.rejected_rows = len(bad_rows)
        result.reject_bytes = reader.rejects(bad_rows)
        result.reject_ext = reader.reject_ext
        result.warnings.append(f"{display}: skipped {len(bad_rows)} bad row{'s' if len(bad_rows) != 1 else ''} (on_bad_rows: skip)")
    result.excluded_rows = excluded
    if exclude_note:
        result.warnings.insert(0, exclude_note)
    if inp.amount_scope == "order" or inp.refund_amount or inp.subscriptions:
        result.df = apply_meaning(result, inp, parsed if aux else {})
    if table == "customers":
        result.unique_ids = _check_unique_customers(result, span_bytes, inp.header, fmt, reader)
    if reader_engine is not None:  # what the engine's result and its conversion freed, back to the system
        from retention_cli.engines.sources import give_back

        give_back()
    return result


ORDER_PARTS = ("customer_id", "order_id", "order_date", "amount")
# of orders an engine made (``Table.row_lines``): each order's greatest product id
# beside its least (in product_id), coded in one dictionary with it
PRODUCT_LAST = "product_id (last)"


def _orders_of(reader, table: str, inp: InputConfig, found: dict[str, int], extras: dict, aux: dict, plan: dict,
               fmt: str, facts: bool | str = False):
    """The orders an engine makes from a purchases input's lines (``Source.orders``),
    when the command reads exactly what makes them and the input's options change
    nothing in the lines: no other column, no option that reads or fills cells, ids
    compared as written, dates and amounts in the forms the engine types (of a CSV
    input: ISO dates, plain numbers: ``typed_plan``; of a typed input, the engine
    looks at the columns' types). None otherwise, or when a line is not clean.
    ``facts``: the orders kept in the engine instead (``Source.facts``), under the
    same conditions, when the command reads no product."""
    import pyarrow as pa

    parts = ORDER_PARTS + (("product_id",) if "product_id" in found else ())
    make = reader.facts if facts else reader.orders
    if table != "purchases" or make is None or extras or aux or uses_options(inp) \
            or (facts is True and "product_id" in found) \
            or inp.lower_ids or inp.na_values or set(found) != set(parts) or len(set(found.values())) != len(parts):
        return None
    if fmt == "csv":  # typed columns: the engine checks their types (``engines.sources._typed_parts``)
        day, amount = plan.get(found["order_date"]), plan.get(found["amount"])
        if day is None or not pa.types.is_timestamp(day) or amount is None or not pa.types.is_floating(amount):
            return None
        if "product_id" in found and not pa.types.is_dictionary(plan.get(found["product_id"], pa.null())):
            return None
    args = [found[c] for c in ORDER_PARTS]
    if facts:
        return make(*args, product=found.get("product_id"), sums=True) if facts == "sums" else make(*args)
    return make(*args, product=found.get("product_id"))


def _open_local(table: str, inp: InputConfig, path: str, display: str):
    """The local readers' source of a file, its format and its SHA-256 (a thread's)."""
    limit = source.text_limit()  # looked up when called (tests replace it)
    try:
        original = read_bytes(path, display, table, limit)
        sha = sha256_beside(original)  # hashed on the other core while the file is parsed
        raw, fmt = unpack(original, path, display, limit)
        del original
        return open_source(raw, fmt, inp, display), fmt, sha
    except MemoryError:  # the admission check guessed short (other processes took the memory meanwhile)
        raise InputMissingError(f"{display}: not enough memory to read this file: "
                                "export fewer years or columns, or run on a machine with more memory") from None


def _open_local_many(table: str, inp: InputConfig, path: str, display: str, name_of=shown):
    """A glob or a folder read by the local readers, file by file, as one table
    (``formats.combined``): the files together are admitted to memory first.
    ``name_of``: a file as messages name it."""
    files, notes = source.without_empty(source.files_of(path, display, table), name_of)
    source.admit(sum(source.text_size(Path(f)) or 0 for f in files), display)  # text: a gzip's unpacked
    parts, formats = [], set()
    for f in files:
        reader, fmt, _ = _open_local(table, inp, f, name_of(f))
        parts.append((f, reader))
        formats.add(fmt)
    if len(formats) > 1:
        raise DataError(f"{display}: CSV and Parquet files mixed: one input is one format")
    root = path if os.path.isdir(path) else source.folder_of(path)
    combined_reader = combined(parts, display, source.partitions_of(files, root), inp.header, name_of)
    combined_reader.notes = notes
    return combined_reader, formats.pop(), source.hash_files(files)


def _blank(s: pd.Series) -> np.ndarray:
    """Cells with no value: empty or spaces (a typed column: null)."""
    if is_dictionary(s):
        return empty_ids(s)
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_float_dtype(s):
        return s.isna().to_numpy()
    return (s.str.strip() == "").to_numpy(dtype=bool)


KEYS = {"purchases": ("order_id",), "complaints": ("complaint_id",), "invoices": ("invoice_id",),
        "customers": ("customer_id",), "responses": ()}


def _row_names(rows: np.ndarray, numbering: str, table: str, found: dict[str, int], headers: list[str],
               cells: pd.DataFrame) -> list[str]:
    """How messages name the bad rows an engine read: "record 12" (engines number
    records, not physical lines), or a database row by its key ("order_id 'A17'"),
    by its number in the query's order when the table has none."""
    key = next((k for k in KEYS[table] if k in found), None) if numbering == "key" else None
    if key is None:
        return [f"record {r + 1}" for r in rows]
    values = cells[found[key]]
    bad_values = values.loc[rows]
    # a key several rows share (the lines of one order): the row's number too, in the
    # order the database returned the rows
    shared = values[values.isin(bad_values.unique())].value_counts()
    return [f"row with {headers[found[key]]} '{_clip(str(v))}'" + (f" (row {r + 1})" if shared.get(v, 1) > 1 else "")
            for r, v in zip(rows, bad_values)]


def places(bad: pd.DataFrame, display: str) -> list[str]:
    """Where each bad value is: the file and line; a place an engine names; the whole
    place of one of several files."""
    if "place" in bad:
        return [str(p) for p in bad["place"]]
    if "at" in bad:
        return [f"{display}: {a}" for a in bad["at"]]
    return [f"{display}:{line}" for line in bad["line"]]


def format_bad(bad: pd.DataFrame, display: str, limit: int = MAX_LISTED) -> list[str]:
    head = bad.head(limit)
    lines = [f"{where}: column '{r.column}': value '{_clip(r.value)}': {r.reason}"
             for where, r in zip(places(head, display), head.itertuples())]
    if len(bad) > limit:
        lines.append(f"… and {len(bad) - limit} more bad values")
    return lines


def _clip(v: str, n: int = 60) -> str:
    v = str(v).replace("\n", "\\n").replace("\r", "\\r")
    return v if len(v) <= n else v[: n - 1] + "…"


def _check_unique_customers(t: Table, span_bytes: bytes | None, header: bool, fmt: str, reader=None) -> bool:
    """Duplicate customer ids are an error (65, each named); True when every id
    differs from the others, False when only empty ids repeat (rows of no customer)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = t.df["customer_id"]
    # as many distinct values as rows: no duplicate (Arrow's set of the distinct
    # values takes about half the memory of pandas' duplicated, which numbers every row)
    if len(pc.unique(pa.array(ids.array))) == len(ids):
        return True
    dup = ids.duplicated(keep=False) & (ids != "")
    if not dup.any():
        return False
    rows = pd.DataFrame({"row": ids.index[dup], "column": "customer_id",
                         "value": ids[dup].to_numpy(), "reason": "duplicate customer_id"})
    rows = with_lines(rows, span_bytes, header, fmt)
    numbering = reader.numbering if reader is not None else "line"
    if reader is not None and reader.where is not None:  # several files: the file and its line
        rows["place"] = reader.where(rows["row"].to_numpy())
    elif numbering != "line":  # read by an engine: records (a database's rows) by number
        rows["at"] = [f"{'row' if numbering == 'key' else 'record'} {r + 1}" for r in rows["row"]]
    n = ids[dup].nunique()
    raise DataError(
        f"{t.display}: {n} customer_id{'s' if n != 1 else ''} appear more than once in the customers file",
        format_bad(rows, t.display),
    )


@dataclass
class Inputs:
    tables: dict[str, Table]
    warnings: list[str]
    # the distinct customer ids of customers and purchases, and each one's codes
    # (``encode_ids``): hashed once, for the orphan check and the model
    encoded: tuple[pd.Index, list[np.ndarray | None]] | None = None

    def get(self, name: str) -> Table | None:
        return self.tables.get(name)

    @property
    def data_start(self):
        return _event_bound(self.tables, min)

    @property
    def data_last(self):
        return _event_bound(self.tables, max)


EVENT_DATES = {
    "purchases": ("order_date",),
    "complaints": ("opened_date", "resolved_date"),
    "responses": ("answered_date",),
    # a due date is a promise, not an event: only issue and payment move the data end
    "invoices": ("invoice_date", "paid_date"),
    # churn_date is left out: contract businesses record cancellations that take
    # effect in the future, which must not move the data end (README: data end).
    "customers": ("signup_date",),
}


def _event_bound(tables: dict[str, Table], pick):
    values = []
    for name, t in tables.items():
        for col in EVENT_DATES[name]:
            if col == "order_date" and pick is max and t.last_line is not None:
                values.append(t.last_line)  # orders an engine made: their lines' latest date
            elif col in t.df and t.df[col].notna().any():
                values.append((t.df[col].min() if pick is min else t.df[col].max()))
        # a subscriptions export: every subscription's paying start is an event (a
        # customer's return after a gap too, not only their first start)
        if t.subscriptions is not None and len(t.subscriptions) and t.subscriptions["start"].notna().any():
            starts = t.subscriptions["start"]
            values.append(starts.min() if pick is min else starts.max())
    return pick(values).date() if values else None


def load_inputs(
    cfg: Config,
    needed: tuple[str, ...],
    overrides: dict[str, str | None] | None = None,
    by: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    on_table=None,
    columns: dict[str, frozenset[str]] | None = None,
    orders: bool = False,
    facts: bool | str = False,
) -> Inputs:
    """Read the ``needed`` tables (a missing one is an error, 66) and the
    ``optional`` ones that are configured; check references between them.
    ``columns``: per table, the canonical columns to read; ``orders``: the purchases
    serve the orders only; ``facts``: the customer facts only (see ``read_table``)."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    if sum(1 for v in overrides.values() if v == "-") + sum(
        1 for t in TABLE_ORDER if t not in overrides and cfg.input(t) and cfg.input(t).path == "-"
    ) > 1:
        raise UsageError("standard input ('-') can feed only one input table")
    tables: dict[str, Table] = {}

    def input_of(name: str) -> InputConfig | None:
        inp = cfg.input(name)
        if name in overrides:
            inp = inp.model_copy(update={"path": overrides[name]}) if inp else InputConfig(path=overrides[name])
        return inp

    try:
        for name in _reading_order(cfg, input_of("purchases"), overrides.get("purchases"), input_of("customers"),
                                   overrides.get("customers"), facts):
            if name not in needed and name not in optional:
                continue
            inp = input_of(name)
            if inp is None:
                if name in needed:
                    raise InputMissingError(
                        f"no {name} input: add `inputs: {name}: {{path: …}}` to the config or pass --{name} FILE"
                    )
                continue
            if on_table is not None:
                on_table(name, shown(overrides[name]) if name in overrides else inp.where if inp.connection else shown(inp.path))
            tables[name] = read_table(
                name, inp, cfg, path=overrides.get(name),
                extra=tuple(by) if name != "customers" or (columns or {}).get(name) is not None else (),
                columns=(columns or {}).get(name),
                orders=orders and name == "purchases", facts=facts if name == "purchases" else False,
            )
    except BaseException:  # orders an engine keeps for this run are let go of with it
        kept = tables["purchases"].facts if "purchases" in tables else None
        if kept is not None:
            with contextlib.suppress(Exception):
                kept.close()
        raise
    tables = {name: tables[name] for name in TABLE_ORDER if name in tables}  # as read in TABLE_ORDER, told so
    customers, purchases = tables.get("customers"), tables.get("purchases")
    encoded = encode_ids(customers and customers.df["customer_id"], purchases and purchases.df["customer_id"],
                         unique_first=customers is not None and customers.unique_ids) \
        if customers or purchases else None
    warnings = _reference_warnings(tables, encoded)
    if purchases is not None and purchases.facts is not None and encoded is not None:
        # orders an engine keeps: their customers are known by their codes from here
        # on (the facts are asked by code); the ids, a dictionary of up to every
        # customer's, are let go of (10 M customers: about 80 MB)
        tables["purchases"] = replace(purchases, df=purchases.df.drop(columns=["customer_id"]))
        del purchases
    if encoded is not None:  # the hash of every id (a GiB for 10 M customers), given back to the system
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    return Inputs(tables, warnings, encoded)


TABLE_ORDER = ("customers", "purchases", "complaints", "responses", "invoices")


def _reading_order(cfg: Config, purchases: InputConfig | None, path: str | None, customers: InputConfig | None,
                   customers_path: str | None, facts: bool | str) -> tuple[str, ...]:
    """The tables in the order they are read: ``TABLE_ORDER``, but purchases first
    when an engine keeps their orders (``facts``). The engine works at its
    memory_limit while it makes the orders, and rests once they are kept
    (``engines.sources.rest``): reading the customers after that, rather than before,
    keeps the process's customers out of the engine's busiest moment (10 M
    customers: about 0.6 GiB less at the peak of `churn` on 100 M lines). A
    customers file that is not there is told at once, before the purchases' pass."""
    if not facts or purchases is None:
        return TABLE_ORDER
    if uses_engine(cfg.engine, *_read_from(purchases, path, cfg)) is None:
        return TABLE_ORDER
    inp, where = _read_from(customers, customers_path, cfg) if customers is not None else (None, None)
    if where and inp.connection is None and where != "-" and "://" not in where and not source.is_many(where) \
            and not os.path.exists(where):
        return TABLE_ORDER
    return ("purchases",) + tuple(t for t in TABLE_ORDER if t != "purchases")


def _read_from(inp: InputConfig, path: str | None, cfg: Config) -> tuple[InputConfig, str | None]:
    """The input as it is read and the path it is read from (``path``: the command's
    --TABLE FILE): a database input's table or query (no path), else a file — a
    --TABLE FILE over a database input is that file, the connection left aside."""
    if inp.connection is not None and path is None:
        return inp, None
    path = path or cfg.resolve_path(inp.path)
    if inp.connection is not None:
        inp = inp.model_copy(update={"connection": None, "table": None, "query": None})
    return inp, path


def orphan_counts(tables: dict[str, Table], encoded=None) -> dict[str, tuple[int, int, str]]:
    """Per event table: rows and distinct ids whose customer_id is not in the
    customers file, and one example id (SPEC §1: kept, and counted in a warning).
    Purchases use the codes of ``encoded`` (no second hash of their ids)."""
    customers = tables.get("customers")
    out: dict[str, tuple[int, int, str]] = {}
    if customers is None:
        return out
    import pyarrow as pa
    import pyarrow.compute as pc

    known = as_arrow(customers.df["customer_id"])
    for name in ("purchases", "complaints", "responses", "invoices"):
        t = tables.get(name)
        if t is None or "customer_id" not in t.df:
            continue
        if name == "purchases" and encoded is not None:
            ids, (cust_codes, codes) = encoded
            inside = np.zeros(len(ids), dtype=bool)
            inside[cust_codes] = True
            # found by Arrow: the Index's own lookup would build pandas' hash table of
            # every id as Python strings (700 MB for 10 M customers), kept with the Index
            missing = pc.index(pa.array(ids.array), "").as_py()
            if missing >= 0:
                inside[missing] = True  # a missing id is a bad row, not an orphan
            out_of = ~inside[codes]
            lost = codes[out_of]
            if len(lost):  # rows are lines; of orders an engine made, each counts its lines
                rows = int(t.row_lines[out_of].sum()) if t.row_lines is not None else len(lost)
                out[name] = (rows, len(np.unique(lost)), str(ids[lost[0]]))
            continue
        ids = t.df["customer_id"]
        ids = ids[ids.notna() & (ids != "")]
        # the table's distinct ids are hashed (a few thousand), and the customers' ids
        # looked up among them, not the other way round (a million hashed per table)
        enc = pc.dictionary_encode(as_arrow(ids))
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        seen = pc.drop_null(pc.index_in(known, value_set=enc.dictionary)).to_numpy(zero_copy_only=False)
        found = np.zeros(len(enc.dictionary), dtype=bool)
        found[seen] = True
        inside = found[enc.indices.to_numpy(zero_copy_only=False)] if len(ids) else np.zeros(0, dtype=bool)
        orphans = ids[~inside]
        if len(orphans):
            out[name] = (len(orphans), orphans.nunique(), str(orphans.iloc[0]))
    return out


def _reference_warnings(tables: dict[str, Table], encoded=None) -> list[str]:
    warnings = [w for t in tables.values() for w in t.warnings]
    for name, (rows, ids, example) in orphan_counts(tables, encoded).items():
        warnings.append(
            f"{tables[name].display}: {rows} rows ({ids} customer_id{'s' if ids != 1 else ''}, "
            f"e.g. '{example}') are not in the customers file; they are kept"
        )
    return warnings

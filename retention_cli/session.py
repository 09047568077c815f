"""One run of a command: the options after precedence (option > environment >
config > default, SPEC §5), the config, the loaded inputs, the periods, the meta.

Commands in ``cli.py`` build a ``Run`` and hand its pieces to the KPI functions;
nothing here computes a KPI.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from retention_cli import __version__
from retention_cli.config import Config, find_config, load_config
from retention_cli.io import writers
from retention_cli.io.readers import Inputs, load_inputs
from retention_cli.io.readers.tables import ORDER_PARTS
from retention_cli.options import Options
from retention_cli.periods import Period, PeriodRequest, resolve

def _labels(labels: list[str]) -> str:
    """A list of period labels for a message: all of them, or the first and last."""
    return ", ".join(labels) if len(labels) <= 6 else f"{labels[0]} to {labels[-1]} ({len(labels):,})"


# The purchases columns that make the orders of the customer-base model.
ORDER_COLUMNS = frozenset(ORDER_PARTS)
CUSTOMER_FACTS = frozenset({"customer_id", "signup_date", "churn_date"})
# the customers' columns the purchasing KPIs read (loyalty_participation_rate, sales_cycle_days)
PURCHASE_ATTRIBUTES = frozenset({"loyalty_member", "first_contact_date"})


@contextmanager
def progress(opts: Options):
    """A progress bar on stderr while the inputs are read, only when stderr is a
    terminal (nothing in a pipe, a cron job or with --quiet). Per table: the bytes of
    its file read so far against the file's size, when both are known (the size of a
    regular file; the bytes from the process's own read counter, /proc/self/io on
    Linux), else a spinner and the time. --no-color and NO_COLOR: no colour and no
    style at all."""
    if opts.quiet:
        yield lambda name, display: None
        return
    if not sys.stderr.isatty():
        with _verbose_reads(opts) as on_table:
            yield on_table
        return
    import threading

    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn)

    plain = opts.no_color or bool(os.environ.get("NO_COLOR"))
    con = Console(stderr=True, highlight=False, emoji=False,
                  **({"no_color": True, "color_system": None} if plain else {}))
    style = {"style": "none", "complete_style": "none", "finished_style": "none", "pulse_style": "none"} \
        if plain else {}

    def bytes_read() -> int | None:
        try:
            with open("/proc/self/io", "rb") as f:
                for line in f:
                    if line.startswith(b"rchar:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            return None
        return None

    bar = Progress(SpinnerColumn(style="none" if plain else "progress.spinner"),
                   TextColumn("{task.description}", markup=False), BarColumn(**style),
                   DownloadColumn(), TimeElapsedColumn(), console=con, transient=True)
    state: dict[str, Any] = {"task": None, "start": None, "size": None}
    stop = threading.Event()

    def finish() -> None:  # one line at a time: the table read before makes way
        if state["task"] is not None:
            bar.update(state["task"], completed=state["size"] or 0, visible=False)

    def on_table(name: str, display: str) -> None:
        finish()
        tell(name, display)
        try:
            size = os.path.getsize(display) if os.path.isfile(display) else None
        except OSError:
            size = None
        start = bytes_read()
        state.update(size=size if start is not None else None, start=start)
        state["task"] = bar.add_task(f"reading {name}: {display}", total=state["size"])

    def poll() -> None:
        while not stop.wait(0.1):
            task, size, start = state["task"], state["size"], state["start"]
            now = bytes_read() if size else None
            if task is not None and now is not None:
                bar.update(task, completed=min(size, max(0, now - start)))

    watcher = threading.Thread(target=poll, name="retention-progress", daemon=True)
    with _verbose_reads(opts, con) as tell, bar:
        watcher.start()
        try:
            yield on_table
            finish()
        finally:
            stop.set()
            watcher.join(1)


@contextmanager
def activity(opts: Options, total: int | None = None):
    """A progress line on stderr for the work after reading (the report's sections,
    a model's fit): yields ``update(description, advance=0)``. A bar with a count
    when ``total`` is given, else a spinner; the description says what runs (the
    section, the model, its start and iteration). Only when stderr is a terminal and
    not --quiet; --no-color and NO_COLOR: no colour and no style."""
    if opts.quiet or not sys.stderr.isatty():
        yield lambda description, advance=0: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    plain = opts.no_color or bool(os.environ.get("NO_COLOR"))
    con = Console(stderr=True, highlight=False, emoji=False,
                  **({"no_color": True, "color_system": None} if plain else {}))
    style = {"style": "none", "complete_style": "none", "finished_style": "none", "pulse_style": "none"} \
        if plain else {}
    columns = [SpinnerColumn(style="none" if plain else "progress.spinner"),
               TextColumn("{task.description}", markup=False)]
    if total:
        columns += [BarColumn(**style), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=con, transient=True) as bar:
        task = bar.add_task("", total=total)

        def update(description: str, advance: int = 0) -> None:
            bar.update(task, description=description, advance=advance)

        yield update


@contextmanager
def _verbose_reads(opts: Options, con=None):
    """--verbose: a line on stderr per input read, with its size and the time it took."""
    if not opts.verbose:
        yield lambda name, display: None
        return
    import time

    if con is None:
        from rich.console import Console

        con = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True, no_color=True, color_system=None)
    current: list[Any] = []

    def done() -> None:
        if current:
            name, display, size, started = current.pop()
            what = f"{size / 1e6:,.1f} MB" if size and size >= 1e5 else f"{size:,} bytes" if size is not None else "not a file"
            con.print(f"retention: read {name}: {display} ({what}) in {time.perf_counter() - started:.2f} s",
                      markup=False)

    def on_table(name: str, display: str) -> None:
        done()
        try:
            size = os.path.getsize(display) if os.path.isfile(display) else None
        except OSError:
            size = None
        current.append((name, display, size, time.perf_counter()))

    try:
        yield on_table
    finally:
        done()


class Run:
    def __init__(self, opts: Options, today: date | None = None, env: dict[str, str] | None = None):
        self.opts = opts
        self.today = today or date.today()
        path = find_config(opts.config, env)
        self.cfg: Config = load_config(path) if path else Config()
        if opts.engine:  # --engine over the config's engine: one place, every read of the run takes it
            from retention_cli.engines import settings

            self.cfg = self.cfg.model_copy(update={"engine": settings(self.cfg, opts.engine)})
        self.warnings: list[str] = []
        self.inputs: Inputs | None = None

    # --- settings after precedence -------------------------------------------------
    @property
    def freq(self) -> str:
        return self.opts.freq or self.cfg.periods.freq

    @property
    def as_of(self) -> date | None:
        return self.opts.as_of or self.cfg.as_of

    @property
    def by(self) -> list[str]:
        return list(self.opts.by)

    def output_format(self, stdout_is_terminal: bool | None = None) -> str:
        if self.opts.format:
            return self.opts.format
        from_ext = writers.format_from_path(self.opts.output)
        if from_ext:
            return from_ext
        if self.cfg.format:
            return self.cfg.format
        tty = sys.stdout.isatty() if stdout_is_terminal is None else stdout_is_terminal
        return "table" if tty and not self.opts.output else "csv"

    # --- data ------------------------------------------------------------------------
    def load(self, needed: tuple[str, ...], optional: tuple[str, ...] = (), *, orders_only: bool = False,
             products: bool = False, costs: bool = False, base_only: bool = False,
             facts: bool | str = False, attributes: bool = False) -> Inputs:
        """Read the tables. ``orders_only``: of purchases, only what makes the
        orders (customer, order, date, amount), for commands that use nothing else;
        with ``products``, product_id too; with ``costs``, the cost columns (cost, or
        unit_cost and quantity: the margin and clv_simple). A column not read is not
        checked: a bad cost does not drop a row of `churn`. ``base_only``: the
        command uses the purchases through the customer base alone (its orders), so
        an engine may make the orders from the lines itself (``read_table``).
        ``facts``: the command uses the purchases through the customer facts of the
        inactivity model alone (churn flows, cohorts, complaint outcomes), so that an
        engine may keep the orders and hand over one row per customer (issue #19);
        such a run is not kept for the warm path (the engine holds its orders); of
        the customers it reads the ids and the dates only (without ``--by``), their
        other columns neither read nor checked. ``facts="sums"``: the command uses
        the purchases through the customer facts and the purchase sums per period
        (``EngineOrders.purchase_sums``: `purchases`, also by customers
        attributes; by a column of the purchases, the lines are read, as the engine
        keeps no column of theirs but those of the orders); of the customers, the ids
        and dates and the attributes its KPIs read (loyalty membership, first
        contact), with ``--by`` every column. ``attributes``: with ``facts``, every
        column of the customers all the same (the complaint and word-of-mouth KPIs
        read the churn reasons)."""
        overrides = {t: getattr(self.opts, t) for t in ("customers", "purchases", "complaints", "responses", "invoices")}
        columns = {"purchases": ORDER_COLUMNS | ({"product_id"} if products else set())
                   | ({"cost"} if costs else set())} if orders_only else None
        base_only = base_only and orders_only
        if not (base_only and self.cfg.churn.model == "inactivity"):
            facts = False
        if facts and not self.by and not attributes:  # of the customers, what moves the data end and the orphans:
            # the ids, signup and churn dates (checked against each other), and of
            # `purchases` the attributes its KPIs read; with --by every attribute (an
            # unknown one is told among those known)
            columns["customers"] = CUSTOMER_FACTS | (PURCHASE_ATTRIBUTES if facts == "sums" else frozenset())
        self._cache = self._cache_entry(overrides, needed, optional, columns, base_only, facts)
        self._base = None
        hit = self._cache.get("run") if self._cache is not None else None
        if hit is not None:  # the warm path: the same files and options as a run before
            self.inputs, self._last_elsewhere, self._base = hit
        else:
            with progress(self.opts) as on_table:
                self.inputs = load_inputs(self.cfg, needed, overrides, by=tuple(self.by), optional=optional,
                                          on_table=on_table, columns=columns, orders=base_only, facts=facts)
                self._last_elsewhere = None if self.as_of else self._latest_event_elsewhere(overrides, on_table)
        self.warnings.extend(self.inputs.warnings)
        self._data_warnings()
        return self.inputs

    def load_with_base(self, table: str) -> Inputs:
        """Read ``table`` and what makes the customer base under the churn model
        (purchases, or customers under the contract model), for a table set against
        the customers' activity (--link, --churn, --reasons)."""
        model = self.cfg.churn.model
        return self.load((table, "purchases" if model == "inactivity" else "customers"), ("customers", "purchases"),
                         orders_only=True, base_only=True, facts=True)

    def _cache_entry(self, overrides: dict[str, str | None], needed, optional, columns, base_only: bool = False,
                     facts: bool = False):
        """The warm-path entry of this load (``cache``), or None when an input is not
        a regular file (standard input, a pipe) or the cache is off."""
        from retention_cli import cache
        from retention_cli.config import InputConfig
        from retention_cli.engines import cacheable
        from retention_cli.io.readers import TABLE_ORDER

        if cache.folder() is None:
            return None
        files = {}
        for name in TABLE_ORDER:
            inp = self.cfg.input(name)
            path = overrides.get(name) or (inp.path if inp is not None else None)
            if not path and (inp is None or inp.connection is None):
                continue
            if not path or not cacheable(inp or InputConfig(path=path), self.cfg.resolve_path(path)):
                return None  # a database, a glob or a folder changes without a file's identity: never cached
            ident = cache.file_identity(path if overrides.get(name) else self.cfg.resolve_path(path))
            if ident is None:
                return None
            files[name] = ident
        key = cache.make_key({"files": files, "config": self.cfg.model_dump(mode="json", exclude={"report"}),
                              "overrides": overrides, "needed": list(needed), "optional": list(optional),
                              "by": self.by, "as_of": self.as_of,
                              "columns": {k: sorted(v) for k, v in (columns or {}).items()},
                              "base_only": base_only, "facts": facts})
        return cache.Entry(key)

    def purchases_last(self) -> date | None:
        """The latest order date read (None without purchases or orders)."""
        t = self.inputs.get("purchases") if self.inputs else None
        if t is not None and t.last_line is not None:  # orders an engine made: their lines' latest date
            return t.last_line.date()
        if t is None or "order_date" not in t.df or not t.df["order_date"].notna().any():
            return None
        return t.df["order_date"].max().date()

    def _data_warnings(self) -> None:
        """What a reader of the numbers must know about the data's dates: an empty
        purchases table, purchases that stop well before the other inputs (a stale
        export: the months after would read as months without orders), events dated
        after today (a typing error, or scheduled ones)."""
        purchases = self.inputs.get("purchases")
        if purchases is not None and purchases.rows == 0:
            self.warnings.append(f"{purchases.display}: no purchases at all: every purchase KPI is 0")
        end = self.data_end()
        last = self.purchases_last()
        if last is not None and (end - last).days > 31 and not self.as_of:
            self.warnings.append(f"the purchases end on {last}, {(end - last).days - 1} days before the latest event of "
                                 f"the other inputs ({end - timedelta(days=1)}): the periods after it read as periods "
                                 "without orders. Is the purchases export stale?")
        latest = end - timedelta(days=1)
        if not self.as_of and latest > self.today:
            self.warnings.append(f"the latest event is dated {latest}, after today ({self.today}): a typing error, or "
                                 "scheduled events? The periods up to it count as observed; set as_of to cut them")

    def _latest_event_elsewhere(self, overrides: dict[str, str | None], on_table) -> date | None:
        """The latest event date of the configured tables this command does not
        read (only their date columns), so that every command of one config agrees
        on the data end (SPEC §2). A table that cannot be read here says so in a
        warning; its bad rows are this command's business only through that."""
        from retention_cli.errors import RetentionError
        from retention_cli.io.readers import EVENT_DATES, TABLE_ORDER, read_table

        latest = None
        for name in TABLE_ORDER:
            if name in self.inputs.tables:
                continue
            inp = self.cfg.input(name)
            path = overrides.get(name)
            if inp is None and not path:
                continue
            if path:
                inp = inp.model_copy(update={"path": path}) if inp else None
            if inp is None or (path or inp.path) == "-":
                continue  # standard input is read once, by the table that uses it
            on_table(name, writers.shown(path) if path else inp.where if inp.connection else writers.shown(inp.path))
            try:
                # a response is a row with a score, and a churn date is checked against
                # its signup: those come too
                wanted = set(EVENT_DATES[name]) | {"responses": {"nps_score", "csat_score"},
                                                   "customers": {"churn_date"}}.get(name, set())
                t = read_table(name, inp, self.cfg, path=path, policy="skip", columns=frozenset(wanted))
            except RetentionError as e:
                self.warnings.append(f"the data end leaves out the {name} ({e.message})")
                continue
            for col in EVENT_DATES[name]:
                if col in t.df and t.df[col].notna().any():
                    d = t.df[col].max().date()
                    latest = d if latest is None or d > latest else latest
        return latest

    def data_end(self) -> date:
        """The day after the latest event of all the configured inputs, whatever
        the command reads, or ``as_of`` when set (SPEC §2)."""
        if self.as_of:
            return self.as_of
        last = self.inputs.data_last if self.inputs else None
        other = getattr(self, "_last_elsewhere", None)
        if other is not None and (last is None or other > last):
            last = other
        return (last + timedelta(days=1)) if last else self.today

    def periods(self) -> list[Period]:
        if self.inputs is None:
            raise RuntimeError("periods() before load()")
        end = self.data_end()
        start = self.inputs.data_start or end - timedelta(days=1)
        req = PeriodRequest(self.opts.period, self.opts.from_, self.opts.to, self.freq,
                            freq_explicit=self.opts.freq is not None)
        anchor = self.as_of or self.today
        periods = resolve(req, anchor, start, end)
        incomplete = [p.label for p in periods if not p.complete(end) and p.start < end]
        if incomplete:
            self.warnings.append(
                f"period{'s' if len(incomplete) > 1 else ''} {_labels(incomplete)} "
                f"end{'' if len(incomplete) > 1 else 's'} after the data end ({end}): incomplete, flagged complete=false"
            )
        empty = [p.label for p in periods if p.start >= end]
        if empty:
            self.warnings.append(
                f"period{'s' if len(empty) > 1 else ''} {_labels(empty)} start{'' if len(empty) > 1 else 's'} on or "
                f"after the data end: the data ends on {end - timedelta(days=1)}, so "
                f"{'their' if len(empty) > 1 else 'its'} KPIs are null")
        return periods

    def blank_after_end(self, df):
        """SPEC §2: a period that starts on or after the data end has no data: its
        KPIs are null, never zeros or extrapolations. Rows are found by their
        ``period`` label (in a cohort table, by cohort + offset); labels, segments
        and ``complete`` stay as they are."""
        import numpy as np
        import pandas as pd

        from retention_cli.errors import UsageError
        from retention_cli.periods import parse_label

        if df is None or not len(df) or not self.inputs:
            return df
        end = self.data_end()

        def starts_after(label, offset=0) -> bool:
            try:
                p = parse_label(str(label), end)
            except UsageError:  # "all", or not a label: a row of another kind
                return False
            return (p.shift(offset) if offset else p).start >= end

        if "cohort" in df and "offset" in df:
            pairs = pd.MultiIndex.from_arrays([df["cohort"], df["offset"]])
            known = {k: starts_after(*k) for k in pairs.unique()}
            after = np.fromiter((known[k] for k in pairs), dtype=bool, count=len(df))
        elif "period" in df:
            known = {k: starts_after(k) for k in df["period"].unique()}
            after = df["period"].map(known).to_numpy(dtype=bool)
        else:
            return df
        if not after.any():
            return df
        out = df.copy()
        keep = {"period", "cohort", "offset", "cohort_size", "complete", *self.by}
        for c in out.columns:
            if c in keep or not pd.api.types.is_numeric_dtype(out[c]):
                continue
            if pd.api.types.is_bool_dtype(out[c]):
                out[c] = out[c].astype("boolean")
            elif pd.api.types.is_integer_dtype(out[c]):
                out[c] = out[c].astype("Int64")
            out.loc[after, c] = None
        return out

    def base(self):
        """The customer universe and its facts (model/), built once per run."""
        from retention_cli.model.customers import build_base, order_codes

        if getattr(self, "_base", None) is not None:
            return self._base
        customers = self.inputs.get("customers")
        purchases = self.inputs.get("purchases")
        kept = purchases.facts if purchases is not None else None
        if kept is not None:  # the orders stay in the engine: the base asks it for the facts
            kept.bind(self.inputs.encoded[1][1])
            self._base = build_base(customers.df if customers else None, None, self.cfg.churn.model,
                                    self.inputs.encoded, subscriptions=customers.subscriptions if customers else None,
                                    engine=kept)
            return self._base  # not kept for the warm path: its facts are asked of the engine
        order_ids = None
        if purchases is not None and "order_id" in purchases.df:
            # the order ids only make the orders: coded, then let go of before the
            # orders are built and for the rest of the run (10M order lines: about
            # 180 MB), and left out of the warm path's entry (a third of its size)
            order_ids = order_codes(purchases.df["order_id"])
            self.inputs = self._slim_inputs()
            purchases = self.inputs.get("purchases")
        self._base = build_base(customers.df if customers else None, purchases.df if purchases else None,
                                self.cfg.churn.model, self.inputs.encoded,
                                subscriptions=customers.subscriptions if customers else None, order_ids=order_ids)
        entry = getattr(self, "_cache", None)
        if entry is not None:
            # the warm path keeps what was read and the base built from it, in one entry
            # (consistent by construction)
            entry.put_soon("run", (self.inputs, self._last_elsewhere, self._base))
        return self._base

    def purchase_orders(self):
        """The purchases as the customer-value models read them (``kpis.clv``): the
        customer base, whose orders are in the process or kept in an engine, when
        the run makes one; else (the contract model, no base built) the purchases
        table, whose lines ``kpis.clv`` makes the orders of."""
        purchases = self.inputs.get("purchases")
        if purchases.facts is not None or getattr(self, "_base", None) is not None \
                or self.cfg.churn.model == "inactivity":
            return self.base()
        return purchases.df

    def _slim_inputs(self):
        """The inputs without the purchases' order_id column (the base holds the orders)."""
        import dataclasses

        t = self.inputs.get("purchases")
        if t is None or "order_id" not in t.df:
            return self.inputs
        tables = dict(self.inputs.tables)
        tables["purchases"] = dataclasses.replace(t, df=t.df.drop(columns=["order_id"]))
        return dataclasses.replace(self.inputs, tables=tables)

    def workspace(self):
        """The run's application workspace (``app.Workspace``): the loaded tables,
        the customer base when the inputs make one, and every KPI table computed
        once. Made once per run."""
        if getattr(self, "_workspace", None) is None:
            from retention_cli.app import Workspace

            t = self.inputs.get
            # a subscriptions export makes a base under either model (its MRR)
            has_base = t("purchases") is not None or (t("customers") is not None and (
                self.cfg.churn.model == "contract" or t("customers").subscriptions is not None))
            self._workspace = Workspace(self.cfg, self.data_end(), base=self.base() if has_base else None,
                                        complaints=t("complaints").df if t("complaints") is not None else None,
                                        responses=t("responses").df if t("responses") is not None else None,
                                        invoices=t("invoices").df if t("invoices") is not None else None,
                                        customers=t("customers").df if t("customers") is not None else None)
        return self._workspace

    def horizon_warning(self, periods: list[Period]) -> None:
        """An inactivity window reaching before the first purchase of the data
        understates customers_start there (nobody can have bought before it)."""
        purchases = self.inputs.get("purchases") if self.inputs else None
        if self.cfg.churn.model != "inactivity" or purchases is None or not len(purchases.df):
            return
        first = purchases.df["order_date"].min().date()
        w = self.cfg.churn.inactivity_days
        short = [p.label for p in periods if p.start - timedelta(days=w) < first]
        if short:
            self.warnings.append(
                f"the {w}-day inactivity window of {short[0]}{'…' + short[-1] if len(short) > 1 else ''} "
                f"reaches before the first purchase ({first}): customers_start is understated there"
            )

    def note_omitted(self, df) -> None:
        """One note on stderr for the KPIs left out because an input column is absent."""
        from retention_cli.kpis.purchasing import PURCHASE_COLUMNS

        why = {
            "multi_product_ratio": "purchases.product_id", "multi_product_share": "purchases.product_id",
            "acquisition_cost": "economics.acquisition_spend", "loyalty_participation_rate": "customers.loyalty_member",
            "sales_cycle_days": "customers.first_contact_date", "revenue": "purchases.amount",
            "gross_profit": "purchases.cost or unit_cost", "gross_margin_rate": "purchases.cost or unit_cost",
            "costed_revenue_share": "purchases.cost or unit_cost", "market_share": "economics.market_size",
            "market_share_change": "economics.market_size",
        }
        from retention_cli.kpis.purchasing import CUSTOMER_LEVEL

        missing = [c for c in PURCHASE_COLUMNS if c not in df.columns]
        attrs = self.inputs.get("customers").df.columns if self.inputs.get("customers") else []
        event_by = [b for b in self.by if b not in attrs]
        if event_by:
            level = [c for c in missing if c in CUSTOMER_LEVEL]
            if level:
                self.warnings.append(f"left out: {', '.join(level)} (--by {event_by[0]} is a purchases column: "
                                     "a customer can be in several of its segments)")
            missing = [c for c in missing if c not in CUSTOMER_LEVEL]
        if missing:
            reasons = sorted({why.get(c, "purchases.amount") for c in missing})
            self.warnings.append(f"left out: {', '.join(missing)} (no {', '.join(reasons)})")
        sizes = self.cfg.economics.market_size
        if sizes and "market_share" in df.columns and "period" in df.columns:
            # a market size is given per period label: the periods asked for that have none
            # show no share (quarters asked for, months given)
            without = [str(p) for p in dict.fromkeys(df["period"]) if str(p) not in sizes]
            if without:
                self.warnings.append(
                    f"market_share: economics.market_size has no figure for {_labels(without)} "
                    f"(it has {_labels(list(sizes))}): the share is null there")

    # --- meta --------------------------------------------------------------------------
    def meta(self, **extra: Any) -> dict[str, Any]:
        tables = self.inputs.tables if self.inputs else {}
        m: dict[str, Any] = {
            "tool": "retention",
            "version": __version__,
            "as_of": self.as_of,
            "data_end": self.data_end() if self.inputs else None,
            "freq": self.freq,
            "churn": {"model": self.cfg.churn.model, "inactivity_days": self.cfg.churn.inactivity_days,
                      "denominator": self.cfg.churn.denominator},
            "inputs": {
                name: {"file": _file_named(t), "rows": t.rows_read,
                       "rows_used": t.rows, "rejected_rows": t.rejected_rows, "sha256": t.sha256,
                       "read_by": t.read_by}
                for name, t in tables.items()
            },
            "rejected_rows": {name: t.rejected_rows for name, t in tables.items()},
            "settings": _shown_settings(self.cfg.model_dump(mode="json", exclude={"inputs", "source", "report"})),
        }
        m.update(extra)
        m["warnings"] = list(self.warnings)
        return m



_SECRET = re.compile(r"(?i)(secret|password|passwd|token|credential|access[._-]?key|private[._-]?key|\.key$)")


def _file_named(t) -> str:
    """An input in the metadata: a file's name, a glob or folder and a database as the
    user wrote them (the connection without its password), '-' for standard input."""
    from retention_cli.io.readers.source import is_many

    if not t.path or t.path == "-":
        return t.display if t.path is None else "-"
    return t.display if is_many(t.path) else os.path.basename(t.path)


def _shown_settings(settings: dict) -> dict:
    """The run's settings as the output's metadata shows them: the values of the
    engine's settings whose names say they are secrets (an S3 secret key in
    ``engine.conf``) masked."""
    conf = (settings.get("engine") or {}).get("conf")
    if conf:
        settings["engine"]["conf"] = {k: "***" if _SECRET.search(k) else v for k, v in conf.items()}
    return settings

"""Customer facts made in the engine (SPEC §10, issue #19): the orders of a
purchases input stay in the engine, and only what the customer-base KPIs ask of
them comes to the process, so that the process holds one row per customer, not
one per order.

What the base's KPIs ask of the orders, under the inactivity model:
- each customer's first purchase (the day they became one; cohorts);
- who is active at an instant t: a purchase (an order that is not a return) in
  [t - W, t - 1]. Each purchase on day d makes its customer active for the
  instants [d + 1, d + W + 1); two purchases of a customer d1 < d2 make one
  stretch when d2 - d1 <= W. The engine numbers those stretches (the gaps and
  islands of a window function over the customer's purchase days) and hands
  over one interval per stretch: [first day + 1, last day + W + 1) — the union
  of the purchases' intervals, so the active states at any instants are those
  the orders give (``model.customers.active_matrix``);
- who bought in a period (cohorts): the distinct (customer, period) pairs of the
  purchases, by a join with the periods' bounds.

Written once with Ibis: the same expressions run on DuckDB and on Spark. The
orders are kept as a cached table of the engine (DuckDB: a temporary table,
which spills to the engine's temporary folder beyond its memory_limit; Spark: a
persisted frame).
"""

from __future__ import annotations

import threading

import numpy as np

NEVER = np.iinfo(np.int64).max // 4  # as model.customers.NEVER: no day


class EngineOrders:
    """The orders of one purchases input, kept in its engine, and the facts asked
    of them. ``customer_ids``: the customers of the purchases (Arrow strings), in
    the engine's numbering; ``first_line``: each one's first line's date (a
    return's too); ``first_buy``: their first purchase (epoch days, NEVER for a
    customer who only returned); ``lines``: their lines; ``last_line``: the latest
    line's date of all. ``bind`` gives the run's customer code of each."""

    def __init__(self, buys, fetch, stats: dict, got):
        self._buys, self._fetch = buys, fetch
        self._lock = threading.RLock()  # one engine connection: one question at a time
        self._intervals: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.customer_ids = got.column("_c").combine_chunks()
        self.first_line = got.column("_first").combine_chunks()
        import pyarrow as pa
        import pyarrow.compute as pc

        self.first_buy = pc.fill_null(got.column("_buy").cast(pa.int64()), NEVER).to_numpy().astype(np.int64)
        self.lines = got.column("_lines").to_numpy(zero_copy_only=False).astype(np.int64)
        self.n_orders = int(stats["orders"])
        self.last_line = stats["last"]
        self.codes: np.ndarray | None = None

    @classmethod
    def make(cls, made, fetch) -> "EngineOrders | None":
        """Keep the orders of ``made`` (``sources._orders_sql``) in the engine and
        fetch one row per customer; None (nothing kept) when a line is not clean."""
        import ibis

        o = _kept(made.select(_c=made._c, _e=made._day.epoch_days().cast("int64"), _ret=made._amount < 0,
                              _day=made._day, _last=made._last, _lines=made._lines, _x=made._x))
        try:
            stats = fetch(o.aggregate(x=o._x.any(), orders=o.count(), last=o._last.max())).to_pylist()[0]
            if stats["x"]:
                _drop(o)
                return None
            per = o.group_by("_c").aggregate(_first=o._day.min(), _buy=o._e.min(where=~o._ret),
                                             _lines=o._lines.sum().cast("int64"))
            customers = _kept(per.mutate(_n=ibis.row_number().over(order_by=per._c).cast("int64")))
            got = fetch(customers.order_by("_n").select("_c", "_first", "_buy", "_lines"))
            # what the facts ask of the orders later: each purchase's customer number and
            # day (whole numbers, a quarter of the orders' size), the orders let go of
            buys = o.filter(~o._ret)
            buys = _kept(buys.join(customers, buys._c == customers._c).select(
                _n=customers._n.cast("int32"), _e=buys._e.cast("int32")))
            _drop(customers)
        except BaseException:
            _drop(o)
            raise
        _drop(o)
        import pandas as pd

        stats["last"] = None if stats["last"] is None else pd.Timestamp(stats["last"])
        return cls(buys, fetch, stats, got)

    def bind(self, codes: np.ndarray) -> None:
        """The run's customer code of each customer, in the engine's numbering."""
        self.codes = np.asarray(codes, dtype=np.int64)

    def intervals(self, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(customer code, start, end) of the stretches of activity under an
        inactivity window of ``window`` days (see the module's docstring)."""
        with self._lock:
            if window not in self._intervals:
                import ibis

                b = self._buys
                lag = b._e.lag().over(ibis.window(group_by=b._n, order_by=b._e))
                b = b.mutate(_brk=ibis.ifelse(lag.notnull() & (b._e - lag <= window), 0, 1))
                b = b.mutate(_isl=b._brk.sum().over(ibis.cumulative_window(group_by=b._n, order_by=b._e)))
                got = self._fetch(b.group_by(["_n", "_isl"]).aggregate(_s=b._e.min(), _t=b._e.max())
                                  .select("_n", "_s", "_t"))
                cust = self.codes[got.column("_n").to_numpy()]
                start = got.column("_s").to_numpy() + 1
                end = got.column("_t").to_numpy() + window + 1
                del got
                self._intervals[window] = (cust, start.astype(np.int64), end.astype(np.int64))
            return self._intervals[window]

    def buyers(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct (customer code, period index) of the purchases dated in the
        periods [starts[k], ends[k]) (epoch days; periods that do not overlap, as a
        series' do)."""
        import ibis

        starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        order = np.argsort(starts)
        if (ends[order][:-1] > starts[order][1:]).any():
            raise ValueError("buyers: the periods overlap")
        with self._lock:
            per = ibis.memtable({"_k": np.arange(len(starts), dtype=np.int64), "_ps": starts, "_pe": ends})
            b = self._buys
            got = self._fetch(b.join(per, (b._e >= per._ps) & (b._e < per._pe))
                              .select(b._n, _k=per._k.cast("int32")).distinct())
        return self.codes[got.column("_n").to_numpy()], got.column("_k").to_numpy().astype(np.int64)

    def close(self) -> None:
        """Let the engine drop what it keeps."""
        with self._lock:
            _drop(self._buys)


_KEPT = iter(range(1 << 62))  # names of this process's kept tables


def _kept(expr):
    """``expr`` computed once and kept by its engine: DuckDB, a temporary table of
    the connection (beyond its memory_limit, in its temporary folder); Spark, a
    persisted frame (Ibis's ``cache``; its DuckDB flavour fails to drop its table
    when the process ends, so DuckDB's is made here)."""
    import os

    con = expr._find_backend()
    if con.name != "duckdb":
        return expr.cache()
    name = f"_retention_kept_{os.getpid()}_{next(_KEPT)}"
    con.raw_sql(f"CREATE TEMPORARY TABLE {name} AS {con.compile(expr)}")
    return con.table(name)


def _drop(t) -> None:
    try:
        con = t._find_backend()
        if con.name == "duckdb":
            con.raw_sql(f"DROP TABLE IF EXISTS {t.get_name()}")
        else:
            t.release()
    except Exception:  # noqa: BLE001 — gone with its connection already
        pass

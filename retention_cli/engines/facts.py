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

import contextlib
import threading

import numpy as np

from retention_cli.engines.sources import _SPARK_KEPT, awake, rest

NEVER = np.iinfo(np.int64).max // 4  # as model.customers.NEVER: no day
_DAY_KEY = 10 ** 12  # day * _DAY_KEY + first record: orders by day, then by first line
_TIE = 1e-9  # two sums of several terms closer than this (relative) are added again as the process adds them
# The engine's sums of amounts: exact, over the amounts rounded to 10 decimal places
# (a decimal of 38 digits), then as a float: the same digits whatever order a
# parallel engine adds in (a float sum's last digits depend on it), within 1e-9
# of the process's float sums for any amounts below 1e15 (the ones the engine takes)
_EXACT = "decimal(38, 10)"


def _sum(x, where=None):
    return x.cast(_EXACT).sum(where=where).cast("float64")


class EngineOrders:
    """The orders of one purchases input, kept in its engine, and the facts asked
    of them. ``customer_ids``: the customers of the purchases (Arrow strings), in
    the engine's numbering; ``first_line``: each one's first line's date (a
    return's too) — both handed over once (``hand_over``); ``first_buy``: their
    first purchase (epoch days, NEVER for a customer who only returned), taken
    once (``take_first_buy``); ``lines``: their lines; ``last_line``: the latest
    line's date of all. ``bind`` gives the run's customer code of each."""

    def __init__(self, buys, fetch, stats: dict, got, orders=None, firsts=None, products: bool = False):
        self._buys, self._fetch = buys, fetch
        self._con = buys._find_backend()
        # with ``sums``: the orders themselves and each customer's first purchase
        self._orders, self._firsts, self.products = orders, firsts, products
        self._lock = threading.RLock()  # one engine connection: one question at a time
        self._intervals: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._segments: list = []  # (segments array, the engine's table of it)
        self.customer_ids = got.column("_c").combine_chunks()
        self.first_line = got.column("_first").combine_chunks()
        import pyarrow as pa
        import pyarrow.compute as pc

        self.first_buy = pc.fill_null(got.column("_buy").cast(pa.int64()), NEVER).to_numpy().astype(np.int64)
        self.lines = got.column("_lines").to_numpy(zero_copy_only=False).astype(np.int64)
        self.n_orders = int(stats["orders"])
        self.last_line = stats["last"]
        self.codes: np.ndarray | None = None

    @property
    def keeps_sums(self) -> bool:
        """Whether the orders are kept whole (``make(sums=True)``): the purchase sums
        and cohort revenue can be asked."""
        return self._orders is not None

    def hand_over(self):
        """The customers' ids and first lines' dates, for the reader's one row per
        customer; not kept here after (10 M customers: about 200 MB)."""
        out = self.customer_ids, self.first_line
        self.customer_ids = self.first_line = None
        return out

    def take_first_buy(self) -> np.ndarray:
        """The customers' first purchases, for the customer base (which keeps them
        by the run's codes); not kept here after."""
        out, self.first_buy = self.first_buy, None
        return out

    @classmethod
    def make(cls, made, fetch, sums: bool = False, products: bool = False) -> "EngineOrders | None":
        """Keep the orders of ``made`` (``sources._orders_sql``) in the engine and
        fetch one row per customer; None (nothing kept) when a line is not clean.
        ``sums``: keep the orders whole (amount, return, first purchase; with
        ``products`` the least product id and whether the order has several) for
        the purchase sums per period (``purchase_sums``); else only each purchase's
        customer and day."""
        cols = dict(_c=made._c, _e=made._day.epoch_days().cast("int64"), _ret=made._amount < 0,
                    _day=made._day, _last=made._last, _lines=made._lines, _x=made._x)
        if sums:
            # the first purchase of a customer: the earliest day, then the order of
            # the first line (the process's order of the orders): one key orders both
            cols.update(_a=made._amount, _f=made._first, _key=cols["_e"] * _DAY_KEY + made._first)
            if products:
                cols.update(_p=made._plo, _mp=made._plo != made._phi)
        o = _kept(made.select(**cols))
        try:
            stats = fetch(o.aggregate(x=o._x.any(), orders=o.count(), last=o._last.max())).to_pylist()[0]
            if stats["x"]:
                _drop(o)
                return None
            more = {"_k1": o._key.min(where=~o._ret)} if sums else {}
            per = o.group_by("_c").aggregate(_first=o._day.min(), _buy=o._e.min(where=~o._ret),
                                             _lines=o._lines.sum().cast("int64"), **more)
            customers = _numbered(per, fetch)
            got = fetch(customers.order_by("_n").select("_c", "_first", "_buy", "_lines"))
            orders = firsts = None
            if sums:
                j = o.join(customers, o._c == customers._c)
                keep = dict(_n=customers._n.cast("int32"), _e=o._e.cast("int32"), _ret=o._ret, _a=o._a,
                            _f=o._f, _one=~o._ret & (o._key == customers._k1))
                if products:
                    keep.update(_p=o._p, _mp=o._mp)
                orders = _kept(j.select(**keep))
                firsts = _kept(customers.filter(customers._buy.notnull())
                               .select(_n=customers._n.cast("int32"), _b=customers._buy.cast("int32")))
                buys = orders.filter(~orders._ret).select("_n", "_e")
            else:
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
        kept = cls(buys, fetch, stats, got, orders, firsts, products)
        rest(kept._con)  # the process reads and codes on: DuckDB holds little meanwhile
        return kept

    @contextlib.contextmanager
    def _asking(self):
        """One question at a time; the engine at rest again after it (``sources.rest``)."""
        with self._lock:
            try:
                yield
            finally:
                rest(self._con)

    def bind(self, codes: np.ndarray) -> None:
        """The run's customer code of each customer, in the engine's numbering."""
        self.codes = np.asarray(codes, dtype=np.int64)

    def intervals(self, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(customer code, start, end) of the stretches of activity under an
        inactivity window of ``window`` days (see the module's docstring)."""
        with self._asking():
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
        starts, ends = _periods(starts, ends, "buyers")
        with self._asking():
            x = _dated(self._buys, "_e", starts, ends)
            got = self._fetch(x.select(x._n, _k=x._k.cast("int32")).distinct())
        return self.codes[got.column("_n").to_numpy()], got.column("_k").to_numpy().astype(np.int64)

    def purchase_gaps(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(purchase days, repeat customers, gap values, how many gaps of each,
        ascending): the gaps in days between a customer's consecutive purchase days
        (several purchases on one day are one), as ``kpis.base.purchase_gaps``."""
        import ibis

        with self._asking():
            b = self._buys.select("_n", "_e").distinct()
            b = b.mutate(_g=b._e - b._e.lag().over(ibis.window(group_by=b._n, order_by=b._e)))
            stats = self._fetch(b.aggregate(_d=b.count(), _r=b._n.nunique(where=b._g.notnull()))).to_pylist()[0]
            gaps = b.filter(b._g.notnull())
            got = self._fetch(gaps.group_by("_g").aggregate(_c=gaps.count()).order_by("_g"))
        return (int(stats["_d"]), int(stats["_r"] or 0), got.column("_g").to_numpy().astype(np.int64),
                got.column("_c").to_numpy().astype(np.int64))

    def purchases_per(self, starts: np.ndarray, ends: np.ndarray, segments: np.ndarray | None = None,
                      n_seg: int = 1) -> np.ndarray:
        """The purchases (orders that are not returns) dated in each period
        [starts[k], ends[k]) (as ``buyers``'): per period and segment, an array of
        K × n_seg; ``segments``, per customer code of the run, its segment (0 ..
        n_seg - 1; None: one segment, everyone)."""
        starts, ends = _periods(starts, ends, "purchases_per")
        K = len(starts)
        with self._asking():
            x = self._segmented(_dated(self._buys, "_e", starts, ends), segments)
            got = self._fetch(x.group_by(["_k", "_s"]).aggregate(_c=x.count()))
        out = np.zeros((K, n_seg if segments is not None else 1), dtype=np.int64)
        out[got.column("_k").to_numpy().astype(np.int64), got.column("_s").to_numpy().astype(np.int64)] = \
            got.column("_c").to_numpy()
        return out

    def cohort_buyers(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cohort, period, buyers): per period ``cohort`` holding customers' first
        purchase and period ``period`` >= it, how many of those customers bought in
        it (the periods [starts[k], ends[k]) as ``buyers``'); pairs with no buyer
        are left out. The cohort triangle without segments, counted in the engine."""
        starts, ends = _periods(starts, ends, "cohort_buyers")
        with self._asking():
            b = self._buys
            first = _dated(b.group_by("_n").aggregate(_b=b._e.min()), "_b", starts, ends)
            cohort = first.select("_n", _c=first._k)
            bought = _dated(b, "_e", starts, ends).select("_n", "_k").distinct()
            x = bought.join(cohort, bought._n == cohort._n)
            x = x.filter(x._k >= x._c)
            got = self._fetch(x.group_by(["_c", "_k"]).aggregate(_a=x.count()))
        return tuple(got.column(c).to_numpy().astype(np.int64) for c in ("_c", "_k", "_a"))

    def cohort_revenue(self, starts: np.ndarray, ends: np.ndarray, segments: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(cohort, period, segment, revenue): per period ``cohort`` holding
        customers' first purchase and period ``period`` >= it, the sum of those
        customers' orders' amounts dated in it (returns too: revenue), exact
        (``_sum``); with ``segments`` (per customer code of the run, its segment),
        per segment too (else segment 0). Pairs with no order are left out. Needs
        ``make(sums=True)``; the periods as ``buyers``'."""
        starts, ends = _periods(starts, ends, "cohort_revenue")
        with self._asking():
            first = _dated(self._firsts, "_b", starts, ends)
            cohort = first.select("_n", _c=first._k)
            dated = _dated(self._orders, "_e", starts, ends).select("_n", "_a", "_k")
            x = dated.join(cohort, dated._n == cohort._n)
            x = self._segmented(x.filter(x._k >= x._c), segments)
            got = self._fetch(x.group_by(["_c", "_k", "_s"]).aggregate(_r=_sum(x._a)))
        return (*(got.column(c).to_numpy().astype(np.int64) for c in ("_c", "_k", "_s")),
                got.column("_r").to_numpy(zero_copy_only=False).astype(float))

    def _purchase_days(self, end: int, last: int):
        """Per (customer ``_n``, day ``_e``) of the purchases up to ``last`` of the
        customers whose first purchase ``_b`` is on or before ``end``: the day's
        amount ``_v``, exact (a decimal, as ``_sum`` adds)."""
        o, f = self._orders, self._firsts
        b = o.filter(~o._ret & (o._e <= last))
        j = b.join(f, b._n == f._n)
        j = j.filter(j._b <= end)
        return j.group_by(["_n", "_e"]).aggregate(_v=j._a.cast(_EXACT).sum(), _b=j._b.min())

    def clv_history(self, end: int, holdout_end: int | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What the customer-value models (``kpis.clv``) ask of the purchases (orders
        that are not returns), per customer with one on or before the day ``end``
        (epoch days): (customer code of the run, first purchase day, last purchase
        day up to ``end``, the days they bought on up to ``end``, the amount of those
        days after the first (exact, as ``_sum``), the days they bought on after
        ``end`` up to ``holdout_end`` (0 without)). Needs ``make(sums=True)``."""
        last = end if holdout_end is None else max(end, holdout_end)
        with self._asking():
            d = self._purchase_days(end, last)
            cal = d._e <= end
            got = self._fetch(d.group_by("_n").aggregate(
                _f=d._b.min(), _l=d._e.max(where=cal), _d=d._n.count(where=cal),
                _r=d._v.sum(where=cal & (d._e > d._b)).cast("float64"), _h=d._n.count(where=~cal)))
        import pyarrow.compute as pc

        col = {c: pc.fill_null(got.column(c), 0).to_numpy() for c in ("_n", "_f", "_l", "_d", "_r", "_h")}
        return (self.codes[col["_n"].astype(np.int64)], *(col[c].astype(np.int64) for c in ("_f", "_l", "_d")),
                col["_r"].astype(float), col["_h"].astype(np.int64))

    def clv_repeats(self, end: int, holdout_end: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The repeat purchase days (a customer's purchase days after their first) up
        to ``holdout_end`` of the customers whose first purchase is on or before
        ``end``: (days, how many customers bought again on each, ascending), and the
        latest order's day up to ``holdout_end`` (returns too; ``end`` when none)."""
        with self._asking():
            d = self._purchase_days(end, holdout_end)
            d = d.filter(d._e > d._b)
            got = self._fetch(d.group_by("_e").aggregate(_c=d.count()).order_by("_e"))
            o = self._orders
            latest = self._fetch(o.filter(o._e <= holdout_end).aggregate(_m=o._e.max())).column("_m")[0].as_py()
        return (got.column("_e").to_numpy().astype(np.int64), got.column("_c").to_numpy().astype(np.int64),
                end if latest is None else int(latest))

    def purchase_sums(self, starts: np.ndarray, ends: np.ndarray, previous: np.ndarray,
                      top_share: float, segments: np.ndarray | None = None,
                      n_seg: int = 0) -> dict[str, np.ndarray]:
        """What the purchasing KPIs (``kpis.purchasing``) ask of the orders, per
        period [starts[k], ends[k]) (epoch days; periods that do not overlap), summed
        in the engine (needs ``make(sums=True)``). ``previous``: per period, the
        index of the period before it (-1: none), for the revenue bridge.
        ``segments``: per customer code of the run, the code (0 .. n_seg - 1) of their
        segment (one per customer: a customers attribute); the sums are then per
        group g = k × (n_seg + 1) + s, s = n_seg the period's total — each buyer
        counted in their segment and in the total, their top share and revenue
        bridge within each (a customer's segment is the same in every period).

        Per period: orders (purchases: orders that are not returns), revenue (every
        order's amount), order_revenue, first_orders and first_revenue (each
        customer's first purchase), repeat_revenue (the other purchases'), buyers, returning_buyers (buyers whose first
        purchase is before the period), multi_product (buyers of several product
        ids there; with products), top_revenue (the sum of the ceil(top_share ×
        buyers) largest buyer revenues). Per period with a previous one, with a_c
        and b_c a buyer's order revenue in the previous period and in this one:
        previous, new, reactivation, expansion, contraction, churned (as
        ``kpis.bridge.revenue_bridge``), grew and both (customers whose spend grew;
        who bought in both), retained (Σ b_c of the previous period's buyers)."""
        import ibis
        import pyarrow as pa

        starts, ends = _periods(starts, ends, "purchase_sums")
        K = len(starts)
        # the groups: a period's segments then its total (without segments, the periods)
        width = 1 if segments is None else n_seg + 1
        G = K * width
        g_starts, g_ends = np.repeat(starts, width), np.repeat(ends, width)
        prev = np.repeat(np.asarray(previous, dtype=np.int64), width)
        g_prev = np.where(prev >= 0, prev * width + np.tile(np.arange(width), K), -1)
        with self._asking():
            ok = _dated(self._orders, "_e", starts, ends)
            # per (period, customer), in one pass over the orders: their order revenue and
            # orders (purchases), every order's amount, their first purchase, and with
            # products whether they bought several there
            buy = ~ok._ret
            more = {"_m": ok._mp.any(where=buy) | (ok._p.min(where=buy) != ok._p.max(where=buy))} \
                if self.products else {}
            # (_mx: the largest order's amount as it is, whose sign says whether the sum is
            # positive, and which is the sum itself of a buyer's one order)
            everyone = _kept(ok.group_by(["_k", "_n"]).aggregate(
                _r=_sum(ok._a, buy), _o=ok._n.count(where=buy), _mx=ok._a.max(where=buy), _all=_sum(ok._a),
                _f1=ok._n.count(where=ok._one), _fr=_sum(ok._a, ok._one), _rr=_sum(ok._a, buy & ~ok._one),
                **more))
            if width > 1:  # each (period, customer) in its segment's group and in the total's
                try:
                    everyone = self._in_groups(everyone, segments, width)
                except BaseException:
                    _drop(everyone)
                    raise
            per = ibis.memtable({"_k": np.arange(G, dtype=np.int64), "_ps": g_starts, "_pe": g_ends})
            try:
                e = everyone
                out = _per(self._fetch(e.group_by("_k").aggregate(
                    orders=e._o.sum(), revenue=_sum(e._all), order_revenue=_sum(e._r, e._o > 0),
                    first_orders=e._f1.sum(), first_revenue=_sum(e._fr, e._f1 > 0),
                    repeat_revenue=_sum(e._rr, e._o > e._f1))), G)
            except BaseException:
                _drop(everyone)
                raise
            pairs = everyone.filter(everyone._o > 0)  # the buyers
            try:
                f = self._firsts
                pf = pairs.join(f, pairs._n == f._n)
                bounds = per.view()
                pf = pf.join(bounds, pf._k == bounds._k)
                more = {"multi_product": pf._n.count(where=pf._m)} if self.products else {}
                out.update(_per(self._fetch(pf.group_by("_k").aggregate(
                    buyers=pf.count(), returning_buyers=pf._n.count(where=pf._b < pf._ps), **more)), G))
                # the top buyers: as many as ceil(top_share × buyers), with a guard against
                # 0.2 × 10 = 2.0000000000000004 (as the process counts them)
                n_top = np.ceil(np.round(top_share * out["buyers"], 9)).astype(np.int64)
                top = ibis.memtable({"_k": np.arange(G, dtype=np.int64), "_t": n_top})
                ranked = pairs.mutate(_i=ibis.row_number().over(group_by=pairs._k, order_by=ibis.desc(pairs._r)))
                ranked = ranked.join(top, ranked._k == top._k)
                ranked = ranked.filter(ranked._i < ranked._t)
                out.update(_per(self._fetch(ranked.group_by("_k").aggregate(top_revenue=_sum(ranked._r))), G))
                # the bridge: each buyer's revenue in a period and in the one before
                has = np.flatnonzero(g_prev >= 0)
                bridge = {c: np.full(G, np.nan) for c in BRIDGE_SUMS}
                if len(has):
                    m = ibis.memtable({"_j": has.astype(np.int64), "_kc": has.astype(np.int64),
                                       "_kp": g_prev[has], "_s": g_starts[has], "_en": g_ends[has]})
                    zero, no = ibis.literal(0.0, type="float64"), ibis.literal(0, type="int64")
                    cur = pairs.join(m, pairs._k == m._kc).select(
                        "_j", "_n", "_s", "_en", _bb=pairs._r, _aa=zero, _ob=pairs._o.cast("int64"), _oa=no,
                        _mb=pairs._mx, _ma=zero, _in=ibis.literal(False))
                    before = pairs.join(m, pairs._k == m._kp).select(
                        "_j", "_n", "_s", "_en", _bb=zero, _aa=pairs._r, _ob=no, _oa=pairs._o.cast("int64"),
                        _mb=zero, _ma=pairs._mx, _in=ibis.literal(True))
                    u = cur.union(before)
                    u = u.group_by(["_j", "_n"]).aggregate(b=_sum(u._bb), a=_sum(u._aa), ob=u._ob.sum(),
                                                            oa=u._oa.sum(), mb=u._mb.max(), ma=u._ma.max(),
                                                            inp=u._in.any(), s=u._s.min(), en=u._en.min())
                    u = u.join(f, u._n == f._n)
                    # a sum of purchases (amounts of 0 or more) is positive when one is: the
                    # largest says so, whatever the sum's rounding (an amount below 5e-11
                    # is 0 among the engine's exact sums, not in the process's)
                    a_pos, b_pos = u.ma > 0, u.mb > 0
                    new = (u._b >= u.s) & (u._b < u.en) & ~a_pos
                    both = a_pos & b_pos
                    # whether a buyer's spend grew compares two sums. Of one order each,
                    # the two amounts as they are (the process's sums of one term). Of
                    # more, the process adds floats in the orders' order and the engine
                    # exactly (``_sum``): where the two are within 1e-9 of each other the
                    # rounding may decide, and those buyers are left out here and compared
                    # below on their orders added as the process adds them
                    single = (u.ob == 1) & (u.oa == 1)
                    near = (u.b - u.a).abs() <= _TIE * (u.a + u.b)
                    tie = both & ~single & near
                    grew = both & ((single & (u.mb > u.ma)) | (~single & ~near & (u.b > u.a)))
                    shrank = both & ((single & (u.mb < u.ma)) | (~single & ~near & (u.b < u.a)))
                    got = self._fetch(u.group_by("_j").aggregate(
                        previous=_sum(u.a), new=_sum(u.b, new), reactivation=_sum(u.b, ~new & ~a_pos & b_pos),
                        expansion=_sum(u.b - u.a, grew), contraction=_sum(u.a - u.b, shrank),
                        churned=_sum(u.a, a_pos & ~b_pos), grew=u._n.count(where=grew),
                        both=u._n.count(where=both), retained=_sum(u.b, u.inp),
                        close=u._n.collect(where=tie)).rename(_k="_j"))
                    ties = got.column("close").to_pylist()
                    sums = _per(got.drop_columns(["close"]), G)
                    n_close = [len(x or ()) for x in ties]
                    close = pa.table({"_j": np.repeat(got.column("_k").to_numpy(), n_close),
                                      "_n": np.array([n for x in ties for n in (x or ())], dtype=np.int64)})
                    if close.num_rows:
                        self._ties(close, sums, g_starts, g_ends, g_prev)
                    for c in BRIDGE_SUMS:
                        bridge[c][has] = sums[c][has]
                out.update(bridge)
            finally:
                _drop(everyone)
        return out

    def _segment_table(self, segments: np.ndarray):
        """The engine's table of each customer's segment (``_sn``: the engine's
        number, ``_s``: the segment of the run's code ``segments`` gives), made once
        per segments array (the run keeps one per ``by``) and asked by every question."""
        import ibis

        for held, table in self._segments:
            if held is segments:
                return table
        codes = np.asarray(segments, dtype=np.int64)[self.codes]  # the engine's numbering
        table = ibis.memtable({"_sn": np.arange(len(codes), dtype=np.int32), "_s": codes.astype(np.int32)})
        self._segments.append((segments, table))  # the array held: its identity stays its own
        return table

    def _segmented(self, x, segments: np.ndarray | None):
        """``x`` (rows with a customer ``_n``) with each one's segment ``_s``: 0
        without ``segments``."""
        import ibis

        if segments is None:
            return x.mutate(_s=ibis.literal(0, type="int32"))
        seg = self._segment_table(segments)
        return x.join(seg, x._n == seg._sn)

    def _in_groups(self, everyone, segments: np.ndarray, width: int):
        """The (period ``_k``, customer) rows of ``everyone`` twice, under their group:
        ``_k`` × width + their segment, and ``_k`` × width + width - 1 (the total);
        kept, ``everyone`` let go of."""
        seg = self._segment_table(segments)
        j = everyone.join(seg, everyone._n == seg._sn)
        rest = [c for c in everyone.columns if c != "_k"]
        in_seg = j.select(_k=j._k * width + j._s.cast("int64"), **{c: j[c] for c in rest})
        total = everyone.select(_k=everyone._k * width + (width - 1), **{c: everyone[c] for c in rest})
        groups = _kept(in_seg.union(total, distinct=False))
        _drop(everyone)
        return groups

    def _ties(self, close, sums: dict[str, np.ndarray], starts: np.ndarray, ends: np.ndarray,
              previous: np.ndarray) -> None:
        """The buyers of ``close`` (group ``_j``, customer ``_n``) compared on their
        order revenue added as the process adds it: their orders in the order of
        their first lines, from 0. Adds them to ``sums``'s grew, expansion and
        contraction."""
        import ibis

        j = close.column("_j").to_numpy().astype(np.int64)
        kp = previous[j]
        t = ibis.memtable({"_j": j, "_n": close.column("_n").to_numpy().astype(np.int64),
                           "_cs": starts[j], "_ce": ends[j], "_bs": starts[kp], "_be": ends[kp]})
        b = self._orders.filter(~self._orders._ret)
        b = b.join(t, b._n == t._n)  # the few buyers' orders, then those of the two periods
        cur = (b._e >= b._cs) & (b._e < b._ce)
        lines = self._fetch(b.filter(cur | ((b._e >= b._bs) & (b._e < b._be)))
                            .select(b._j, b._n, _cur=cur, _f=b._f, _a=b._a))
        j = lines.column("_j").to_numpy().astype(np.int64)
        n = lines.column("_n").to_numpy().astype(np.int64)
        cur = lines.column("_cur").to_numpy(zero_copy_only=False).astype(np.int64)
        key, inv = np.unique(np.stack([j, n]), axis=1, return_inverse=True)
        order = np.argsort(lines.column("_f").to_numpy(), kind="stable")  # the process's order
        g = inv.ravel()[order] * 2 + cur[order]
        total = np.bincount(g, weights=lines.column("_a").to_numpy()[order], minlength=2 * key.shape[1])
        a, b_ = total[0::2], total[1::2]
        grew, shrank = b_ > a, b_ < a
        jj = key[0]
        np.add.at(sums["grew"], jj[grew], 1)
        np.add.at(sums["expansion"], jj[grew], (b_ - a)[grew])
        np.add.at(sums["contraction"], jj[shrank], (a - b_)[shrank])

    def close(self) -> None:
        """Let the engine drop what it keeps."""
        with self._lock:
            for t in (self._orders, self._firsts) if self._orders is not None else (self._buys,):
                _drop(t)


BRIDGE_SUMS = ("previous", "new", "reactivation", "expansion", "contraction", "churned", "grew", "both",
               "retained")


def _periods(starts, ends, asker: str) -> tuple[np.ndarray, np.ndarray]:
    """The periods [starts[k], ends[k]) as epoch days, checked not to overlap (a
    series' do not): a day is in one period at most, so sums per period add up."""
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    order = np.argsort(starts)
    if (ends[order][:-1] > starts[order][1:]).any():
        raise ValueError(f"{asker}: the periods overlap")
    return starts, ends


# the most days a period table may hold (``_dated``): beyond, the periods' bounds
_DAYS_JOINED = 1_000_000


def _dated(x, day: str, starts: np.ndarray, ends: np.ndarray):
    """``x`` with the period ``_k`` its ``day`` column falls in (the periods
    [starts[k], ends[k]), epoch days, which do not overlap: ``_periods``); rows of no
    period left out. By a table of the periods' days, one row each, joined on the
    day (an equality an engine hashes: on 6.6 M orders and 36 months about a third
    of the time of a join on the bounds, which DuckDB does as an inequality join);
    on the bounds for periods of more than a million days."""
    import ibis

    lengths = np.maximum(np.asarray(ends, dtype=np.int64) - np.asarray(starts, dtype=np.int64), 0)
    if lengths.sum() <= _DAYS_JOINED:
        days = np.concatenate([np.arange(s, s + n, dtype=np.int64) for s, n in zip(starts, lengths)]) \
            if len(lengths) else np.empty(0, dtype=np.int64)
        table = ibis.memtable({"_dd": days, "_k": np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)})
        return x.join(table, x[day] == table._dd).drop("_dd")
    per = ibis.memtable({"_k": np.arange(len(lengths), dtype=np.int64), "_ps": starts, "_pe": ends})
    return x.join(per, (x[day] >= per._ps) & (x[day] < per._pe)).drop("_ps", "_pe")


def _per(got, K: int) -> dict[str, np.ndarray]:
    """The columns of an engine's answer keyed by ``_k`` (0 .. K - 1) as arrays of K,
    0 where a period has no row (or a sum over no row)."""
    import pyarrow.compute as pc

    k = got.column("_k").to_numpy()
    out = {}
    for name in got.column_names:
        if name == "_k":
            continue
        v = np.zeros(K)
        v[k] = pc.fill_null(got.column(name), 0).to_numpy(zero_copy_only=False).astype(float)
        out[name] = v
    return out


_KEPT = iter(range(1 << 62))  # names of this process's kept tables


def _kept(expr):
    """``expr`` computed once and kept by its engine: DuckDB, a temporary table of
    the connection (beyond its memory_limit, in its temporary folder); Spark, a
    persisted frame (Ibis's ``cache``; its DuckDB flavour fails to drop its table
    when the process ends, so DuckDB's is made here)."""
    import os

    con = expr._find_backend()
    if con.name != "duckdb":
        # Ibis's cache on Spark compiles the expression without registering the
        # in-memory tables it joins (the periods' bounds): registered first, as a
        # query of Ibis's does before it runs
        con._run_pre_execute_hooks(expr)
        return expr.cache()
    name = f"_retention_kept_{os.getpid()}_{next(_KEPT)}"
    awake(con)
    try:
        return con.create_table(name, expr, temp=True)  # Ibis's: the expression's memtables registered first
    except BaseException:  # Ibis creates the table, then fills it: an empty table is left by a failed read
        con.raw_sql(f"DROP TABLE IF EXISTS {name}")
        raise


def _numbered(per, fetch):
    """The customers of ``per`` kept, each with a number ``_n`` (0 … n - 1): by their
    ids on DuckDB; on Spark as Spark holds them, numbered where they lie
    (``sources._spark_numbered``: a row_number would sort every customer in one
    task), after they are kept and counted (so both scans of the numbering read the
    same partitions). Any numbering serves: the process maps each number to its
    customer (``bind``)."""
    import ibis

    con = per._find_backend()
    if con.name == "duckdb":
        return _kept(per.mutate(_n=ibis.row_number().over(order_by=per._c).cast("int64")))
    from retention_cli.engines.sources import _spark_checkpoint, _spark_numbered, _view

    whole = _kept(per)
    try:
        fetch(whole.count().as_table())  # kept now: its partitions fixed
        v = _view(con, _spark_numbered(f"SELECT * FROM {whole.get_name()}"))
        numbered = v.select(*per.columns, _n=v._record.cast("int64"))
        # kept with its lineage cut (a local checkpoint): a kept frame of Spark's is
        # computed again from its plan when a frame it reads is let go of, and these
        # numbers would not be the same twice
        name = _spark_checkpoint(con, str(con.compile(numbered)))
        con._session.catalog.dropTempView(v.get_name())
        return con.table(name)
    finally:
        _drop(whole)


def _drop(t) -> None:
    try:
        con = t._find_backend()
        if con.name == "duckdb":
            con.raw_sql(f"DROP TABLE IF EXISTS {t.get_name()}")
        elif t.get_name() in _SPARK_KEPT:  # its name only: the frames kept from it read its blocks,
            # which Spark holds until the session ends (``sources._spark_checkpoint``)
            con._session.catalog.dropTempView(t.get_name())
            _SPARK_KEPT.pop(t.get_name())
        else:
            t.release()
    except Exception:  # noqa: BLE001 — gone with its connection already
        pass

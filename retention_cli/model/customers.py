"""Who is a customer when (SPEC §3), computed once per run as per-customer facts.

Every customer id is encoded once as an integer code; every later step works on
codes and on dates as int64 day numbers (days since 1970-01-01).

Activity is a set of half-open intervals [start, end) of instants t (the start of a
calendar day) at which a customer is active:
- inactivity model: each purchase on day d makes the customer active for
  t in [d + 1, d + W + 1), i.e. the purchase lies in [t - W, t - 1];
- contract model: active for t in [signup_date + 1, churn_date + 1), i.e.
  signup_date < t and churn_date >= t (open-ended without churn_date); with a
  subscriptions export, one such interval per subscription, from its paying start
  to its end: a customer is active while one of their subscriptions pays (the
  union of the intervals), so one who ends every subscription and later starts a
  new one is lost, then reactivated.
The state at any set of instants is then one bincount over the intervals,
without a scan of the purchases per period.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retention_cli.errors import DataError
from retention_cli.io.readers import dictionary_parts
from retention_cli.io.readers import encode_ids as encode

NEVER = np.iinfo(np.int64).max // 4  # an open interval end


def day_numbers(s: pd.Series) -> np.ndarray:
    """Datetime column -> int64 days since 1970-01-01 (NaT -> NEVER)."""
    v = s.to_numpy(dtype="datetime64[D]", na_value=np.datetime64("NaT"))
    out = v.astype("int64")
    out[np.isnat(v)] = NEVER
    return out


@dataclass
class Orders:
    """One row per order (lines of one order_id summed; SPEC §1 order lines)."""

    cust: np.ndarray        # int64 customer code
    day: np.ndarray         # int64 order date (earliest line)
    amount: np.ndarray      # float64 (NaN when the input has no amount)
    is_return: np.ndarray   # bool: negative total, lowers revenue, not an order
    products: tuple[np.ndarray, np.ndarray] | None  # per line: (its order, its product code)
    extras: pd.DataFrame | None = None  # other columns (for --by): the first line's value per order
    # float64 per order: the sum of its lines' costs (cost, or unit_cost × quantity), NaN
    # when a line has none; None when the purchases have no cost column (nothing held)
    cost: np.ndarray | None = None


@dataclass
class Subscriptions:
    """One entry per subscription that paid (docs/exports.md): its customer's code,
    the day it started paying (after any trial), the day it ended (NEVER: open) and
    its monthly recurring revenue (NaN throughout when the export names no amount).
    Paying at instant t: start < t and (end is NEVER or end >= t)."""

    cust: np.ndarray   # int64 customer code
    start: np.ndarray  # int64 day number
    end: np.ndarray    # int64 day number, NEVER when open
    mrr: np.ndarray    # float64, in currency units per month

    @property
    def has_amount(self) -> bool:
        return bool(len(self.mrr)) and not np.isnan(self.mrr).all()


@dataclass
class Base:
    """The customer universe and the facts every KPI of the base needs."""

    ids: pd.Index                 # code -> customer_id
    orders: Orders | None
    first_purchase: np.ndarray    # per code: first order day (NEVER: none)
    signup: np.ndarray | None     # per code (contract model): the first paying day
    churn: np.ndarray | None      # per code: churn_date; with subscriptions the end of the first stretch
    attributes: pd.DataFrame | None  # customers' other columns, indexed by code
    # the subscriptions of a subscriptions export (None for any other customers
    # file): the contract model's activity is their paying spans. A default, so that
    # a base stored by an older version (the warm path's cache) reads as None
    subscriptions: Subscriptions | None = None
    # the orders kept in an engine (``engines.facts.EngineOrders``) when ``orders`` is
    # None: it answers the activity intervals and the buyers per period asked of them
    engine: object = None

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def has_purchases(self) -> bool:
        """Whether the customers' purchases are known: the orders, or an engine that
        keeps them."""
        return self.orders is not None or self.engine is not None


def _codes(s: pd.Series) -> np.ndarray:
    """Integer codes of a text column: the reader's dictionary encoding, or pyarrow's."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = dictionary_parts(s)
    if encoded is not None:
        return encoded[1]
    arr = pa.array(s)
    if len(arr) >= PARALLEL_CODES and (os.cpu_count() or 1) > 1 and not arr.null_count \
            and pc.min(pc.binary_length(arr)).as_py() > 0:
        return _codes_in_two(arr)
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):  # one dictionary for all chunks, then one array
        enc = enc.combine_chunks()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


PARALLEL_CODES = 1_000_000  # values from which hashing on two cores pays


def _codes_in_two(arr) -> np.ndarray:
    """The codes ``dictionary_encode`` gives (values numbered in order of first
    appearance), hashed on two cores: the values are split by the parity of their
    last byte, so equal values fall in the same part, each part is encoded in a
    thread (pyarrow lets go of the GIL), and the two numberings are merged by the
    position of each value's first appearance. 10M order ids: 1.6-2.6 s -> 1.0-1.3 s."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from concurrent.futures import ThreadPoolExecutor

    last = pc.binary_slice(arr.cast(pa.large_binary()), -1)  # one byte per value (none is empty)
    chunks = last.chunks if isinstance(last, pa.ChunkedArray) else [last]
    odd = np.concatenate([np.frombuffer(c.buffers()[2], dtype=np.uint8, count=len(c)) & 1 for c in chunks]
                         ).astype(bool) if chunks else np.zeros(0, dtype=bool)
    del last, chunks
    rows = [np.flatnonzero(~odd), np.flatnonzero(odd)]
    del odd

    def encode(r: np.ndarray) -> np.ndarray:
        enc = pc.dictionary_encode(arr.take(pa.array(r)))
        if isinstance(enc, pa.ChunkedArray):  # the chunks share one dictionary
            enc = enc.combine_chunks()
        return enc.indices.to_numpy(zero_copy_only=False)  # int32: half the memory of int64

    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(encode, rows))
    firsts = []  # per part, the row of each value's first appearance (ascending)
    for c, r in zip(codes, rows):
        new = np.ones(len(c), dtype=bool)  # a value seen for the first time has the largest code so far + 1
        if len(c) > 1:
            np.greater(c[1:], np.maximum.accumulate(c)[:-1], out=new[1:])
        firsts.append(r[new])
    out = np.empty(len(arr), dtype=np.int64)
    for part, other in ((0, 1), (1, 0)):  # global number: appearances before it in both parts
        rank = np.arange(len(firsts[part])) + np.searchsorted(firsts[other], firsts[part])
        out[rows[part]] = rank[codes[part]]
    return out


# The amounts of an order's lines are added as the decimals they are written as, then
# rounded once to the nearest float (docs/decisions.md). An amount of at most PLACES
# decimal places (every currency's minor unit, and more) is a whole number of units
# of 10**-PLACES: the whole number toward zero or, failing that, the next one away
# from zero that gives the amount back (no rounding rule: each engine rounds a half
# its own way). Floats add such units exactly, in any order, while an order's units
# stay under 2**53 (9e11 currency units). Added as floats instead, a refunded order
# (10.10 + 5.05 - 15.15) could sum to -1.8e-15: a return. An amount of more places
# (0.00001, or a float's tail such as 59.970000000000006) is added to that exact sum
# as a float, after it, with the order's other such amounts in the order of the
# lines; an order of 2**53 units or more is added as floats in the order of its lines.
PLACES = 4
UNITS = 10.0 ** PLACES
EXACT_UNITS = float(2 ** 53)  # whole units a float holds exactly


def line_sums(line_order: np.ndarray, amount: np.ndarray, n_orders: int) -> np.ndarray:
    """Per order, the sum of its lines' amounts (``line_order``: each line's order),
    as described above (SPEC §1: an order whose lines sum to a negative amount is a
    return, one that sums to 0 is an order). A missing amount makes its order's sum
    missing."""
    units = np.empty(len(amount))
    exact = np.empty(len(amount), dtype=bool)
    back = np.empty(max(min(len(amount), 1 << 20), 1))  # a block at a time: no more fresh memory than that
    with np.errstate(invalid="ignore", over="ignore"):
        for i in range(0, len(amount), len(back)):
            j = min(i + len(back), len(amount))
            u, b, a, e = units[i:j], back[: j - i], amount[i:j], exact[i:j]
            np.trunc(np.multiply(a, UNITS, out=u), out=u)
            np.equal(np.divide(u, UNITS, out=b), a, out=e)  # NaN: not exact
            if not e.all():
                away = ~e
                u[away] += np.sign(a[away])
                e[away] = u[away] / UNITS == a[away]
    every = bool(exact.all())
    if not every:
        units[~exact] = 0.0
    sums = np.bincount(line_order, weights=units, minlength=n_orders).astype(np.float64, copy=False)  # (none: int)
    sums /= UNITS
    if not every:
        sums += np.bincount(line_order[~exact], weights=amount[~exact], minlength=n_orders)
    largest = max(-units.min(initial=0.0), units.max(initial=0.0))
    if largest * len(units) >= EXACT_UNITS:  # some order may be that large: those are added as floats
        big = np.bincount(line_order, weights=np.abs(units), minlength=n_orders) >= EXACT_UNITS
        sums[big] = np.bincount(line_order, weights=amount, minlength=n_orders)[big]
    return sums


def order_codes(order_id: pd.Series) -> np.ndarray:
    """Each line's order id as an integer code (in order of first appearance), for
    ``build_orders``: made apart so that the caller can let go of the ids (the
    largest column of a purchases file) before the orders are built."""
    return _codes(order_id)


def build_orders(purchases: pd.DataFrame, cust: np.ndarray, order_ids: np.ndarray | None = None) -> Orders:
    """Orders from order lines: with order_id, the lines of one (customer, order)
    summed and dated by the earliest line (SPEC §1); without it, a row is an order.
    With a ``cost`` (or ``unit_cost``) column, each order's cost too (the margin).
    ``order_ids``: the order ids' codes (``order_codes``) when the caller made them
    (``purchases`` then need not hold order_id)."""
    # the cost rules live with the margin they serve (imported here: kpis.bridge
    # imports this module)
    from retention_cli.kpis.bridge import line_costs, order_costs

    day = day_numbers(purchases["order_date"])
    line_cost = line_costs(purchases)
    has_amount = "amount" in purchases
    amount = purchases["amount"].to_numpy(dtype="float64") if has_amount else np.full(len(purchases), np.nan)
    if order_ids is not None or "order_id" in purchases:
        oid = order_ids if order_ids is not None else _codes(purchases["order_id"])
        n_oid = int(oid.max()) + 1 if len(oid) else 0
        # An order id is scoped to its customer. Usually each id has one customer,
        # and then the id's code is the order's code; otherwise the pair is encoded.
        owner = np.full(n_oid, -1, dtype=np.int64)
        owner[oid] = cust
        if (owner[oid] == cust).all():
            line_order, n_orders = oid, n_oid
        else:
            line_order, uniq = pd.factorize(cust * max(n_oid, 1) + oid, sort=False)
            n_orders = len(uniq)
            owner = np.zeros(n_orders, dtype=np.int64)
            owner[line_order] = cust
        order_day = np.full(n_orders, NEVER, dtype=np.int64)
        np.minimum.at(order_day, line_order, day)  # an order is dated by its earliest line
        order_amount = line_sums(line_order, amount, n_orders) if has_amount else np.full(n_orders, np.nan)
        order_cust = owner
        cost = order_costs(line_cost, line_order, n_orders) if line_cost is not None else None
    else:
        oid = None
        line_order = np.arange(len(purchases))
        order_day, order_amount, order_cust = day, amount, cust
        cost = line_cost
    is_return = order_amount < 0
    from retention_cli.io.readers.tables import PRODUCT_LAST

    canonical = {"customer_id", "order_date", "amount", "quantity", "unit_price", "order_id", "product_id",
                 "cost", "unit_cost", PRODUCT_LAST}
    extra_cols = [c for c in purchases.columns if c not in canonical]
    extras = None
    if extra_cols:
        values = purchases[extra_cols].reset_index(drop=True)
        extras = values.groupby(line_order, sort=True).first().reset_index(drop=True) if oid is not None else values
    products = None
    if "product_id" in purchases:  # every line, returns too: the KPIs pick by order
        product = _codes(purchases["product_id"])
        if PRODUCT_LAST in purchases:  # orders an engine made: each its least and greatest product, as two lines
            product = np.concatenate([product, _codes(purchases[PRODUCT_LAST])])
            line_order = np.concatenate([line_order, line_order])
        products = (line_order, product.astype(np.int32) if len(product) and product.max() < 2**31 else product)
    return Orders(order_cust.astype(np.int64, copy=False), order_day.astype(np.int64, copy=False),
                  order_amount.astype(np.float64, copy=False), is_return, products, extras,
                  None if cost is None else np.asarray(cost, dtype=np.float64))


def build_base(customers: pd.DataFrame | None, purchases: pd.DataFrame | None, model: str,
               encoded: tuple[pd.Index, list[np.ndarray | None]] | None = None,
               subscriptions: pd.DataFrame | None = None, order_ids: np.ndarray | None = None,
               engine=None) -> Base:
    """``encoded``: the ids and codes of (customers, purchases) when the reader
    made them already (``Inputs.encoded``). ``subscriptions``: one row per
    subscription of a subscriptions export (customer_id, start: its paying start,
    end, mrr), as the reader keeps them beside the customers (``Table.subscriptions``);
    its customers must be in ``customers``. ``order_ids``: as ``build_orders``. ``engine``: the purchases'
    orders kept in an engine (``engines.facts.EngineOrders``, bound to the codes of
    ``encoded``) instead of ``purchases``: the first purchases come from it. Under the contract model a customer's
    signup is then their first paying day and churn the end of their first stretch
    as a customer (the survival model's one lifetime), and their activity the
    subscriptions' spans."""
    ids, (cust_codes, purchase_codes) = encoded or encode(
        None if customers is None else customers["customer_id"], None if purchases is None else purchases["customer_id"])
    orders = build_orders(purchases, purchase_codes, order_ids) if purchases is not None else None
    first = np.full(len(ids), NEVER, dtype=np.int64)
    if orders is not None:
        buy = ~orders.is_return
        np.minimum.at(first, orders.cust[buy], orders.day[buy])  # first purchase per customer
    elif engine is not None:
        first[engine.codes] = engine.take_first_buy()
    signup = churn = attrs = None
    if customers is not None:
        codes = cust_codes
        if np.array_equal(codes, np.arange(len(codes))):  # coded in their order (ids checked unique):
            # the rows are in code order already, no index of codes nor sorted copy
            attrs = customers.drop(columns=["customer_id"]).set_axis(pd.RangeIndex(len(codes)))
        else:
            attrs = customers.set_axis(codes).drop(columns=["customer_id"]).sort_index()
        if model == "contract":
            for col in ("signup_date", "churn_date"):
                if col not in customers:
                    raise DataError(f"the contract model needs customers.{col} (churn.model: contract)")
            signup = np.full(len(ids), NEVER, dtype=np.int64)
            churn = np.full(len(ids), NEVER, dtype=np.int64)
            signup[codes] = day_numbers(customers["signup_date"])
            churn[codes] = day_numbers(customers["churn_date"])
    elif model == "contract":
        raise DataError("the contract model needs a customers file with signup_date and churn_date")
    subs = None
    if subscriptions is not None and customers is not None:
        subs = _subscriptions(subscriptions, customers["customer_id"], cust_codes)
        if signup is not None:
            paying, stretch_end = first_stretch(subs, len(ids))
            has = paying < NEVER
            signup[has], churn[has] = paying[has], stretch_end[has]
    return Base(ids, orders, first, signup, churn, attrs, subs, engine)


def _subscriptions(frame: pd.DataFrame, customer_ids: pd.Series, codes: np.ndarray) -> Subscriptions:
    """The subscriptions' customer codes by their customer_id, through the customers
    rows (every subscription's customer has one)."""
    def text(s: pd.Series) -> pd.Index:
        return pd.Index(s.astype("str").to_numpy(dtype=object))

    row = text(customer_ids).get_indexer(text(frame["customer_id"]))
    if (row < 0).any():
        raise DataError("subscriptions of customers that are not in the customers table "
                        f"(e.g. '{frame['customer_id'].iloc[int(np.flatnonzero(row < 0)[0])]}')")
    return Subscriptions(np.asarray(codes, dtype=np.int64)[row], day_numbers(frame["start"]), day_numbers(frame["end"]),
                         frame["mrr"].to_numpy(dtype="float64", na_value=np.nan))


def first_stretch(subs: Subscriptions, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per customer code: the first paying day of their subscriptions, and the end
    of their first stretch as a customer (the subscriptions that overlap or touch
    from that day on: a later subscription that starts after every earlier one ended
    begins a second stretch). NEVER where none (no subscription; still in the first
    stretch)."""
    first = np.full(n, NEVER, dtype=np.int64)
    end = np.full(n, NEVER, dtype=np.int64)
    if not len(subs.cust):
        return first, end
    order = np.lexsort((subs.start, subs.cust))
    cust, start, stop = subs.cust[order], subs.start[order], subs.end[order]
    new_cust = np.concatenate([[True], cust[1:] != cust[:-1]])
    # the end covered so far within a customer, by its subscriptions up to this one
    covered = pd.Series(stop).groupby(np.cumsum(new_cust)).cummax().to_numpy()
    before = np.concatenate([[NEVER], covered[:-1]])
    # a stretch ends where the next subscription of the same customer starts after it
    breaks = ~new_cust & (start > before)
    np.minimum.at(first, cust, start)
    # the first break per customer: the covered end just before it; none: the last covered end
    at_break = np.flatnonzero(breaks)
    last = np.flatnonzero(np.concatenate([cust[1:] != cust[:-1], [True]]))
    end[cust[last]] = covered[last]
    if len(at_break):
        firsts = at_break[np.concatenate([[True], cust[at_break][1:] != cust[at_break][:-1]])]
        end[cust[firsts]] = before[firsts]
    return first, end


def activity_intervals(base: Base, model: str, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer code, start, end) of every interval of instants t at which the
    customer is active."""
    if model == "contract":
        has = base.signup < NEVER
        subs = base.subscriptions
        if subs is not None:  # one interval per subscription; customers without one as their row says
            has[subs.cust] = False
        cust = np.flatnonzero(has)
        start = base.signup[has] + 1
        end = np.where(base.churn[has] < NEVER, base.churn[has] + 1, NEVER)
        if subs is not None:
            cust = np.concatenate([subs.cust, cust])
            start = np.concatenate([subs.start + 1, start])
            end = np.concatenate([np.where(subs.end < NEVER, subs.end + 1, NEVER), end])
        return cust, start, end
    o = base.orders
    if o is None and base.engine is not None:  # the engine's stretches: the union of the purchases' intervals
        return base.engine.intervals(window)
    if o is None:
        raise DataError("the inactivity model needs purchases")
    buy = ~o.is_return
    return o.cust[buy], o.day[buy] + 1, o.day[buy] + window + 1


def first_at_or_after(instants: np.ndarray, days: np.ndarray, dtype=np.int64) -> np.ndarray:
    """Index of the first instant >= each day (``searchsorted``, side left), as
    ``dtype`` (one that holds len(instants)). Days before the first instant answer 0
    and after the last k, so each day is clipped to that span and looked up in a
    table of it: one gather instead of a binary search per day."""
    if not len(instants) or len(days) < 4 * (int(instants[-1]) - int(instants[0]) + 2):
        return np.searchsorted(instants, days, side="left").astype(dtype, copy=False)
    first, last = int(instants[0]), int(instants[-1]) + 1
    table = np.searchsorted(instants, np.arange(first, last + 1), side="left").astype(dtype)
    at = np.clip(days, first, last)
    at -= first
    return table[at]


def active_matrix(n_customers: int, intervals: tuple[np.ndarray, np.ndarray, np.ndarray],
                  instants: np.ndarray) -> np.ndarray:
    """Boolean (customers × instants): is the customer active at each instant?

    An interval [start, end) covers the instants with index in [lo, hi), lo and hi
    found by searchsorted. For each customer and index j, keep the largest hi of the
    intervals starting at j (one ``np.maximum.at``), then the running maximum along
    j: the customer is active at j when some interval starting at or before j ends
    after it. Small integers throughout: memory is customers × instants bytes."""
    cust, start, end = intervals
    k = len(instants)
    small = np.int8 if k < 127 else (np.int16 if k < 32767 else np.int32)
    lo = first_at_or_after(instants, start, small)  # instant indexes: small integers (memory)
    hi = first_at_or_after(instants, end, small)
    keep = lo < hi
    reach = np.zeros(n_customers * k, dtype=small)
    at = cust[keep].astype(np.int64, copy=False)  # each interval's first cell: customer × k + index, made in place
    at *= k
    at += lo[keep]
    np.maximum.at(reach, at, hi[keep])
    del at
    reach = np.maximum.accumulate(reach.reshape(n_customers, k), axis=1)
    return reach > np.arange(k, dtype=small)


def first_event(base: Base, model: str) -> np.ndarray:
    """Day a customer became one: first purchase (inactivity) or signup (contract)."""
    return base.signup if model == "contract" else base.first_purchase


class Activity:
    """The active state of every customer at chosen instants, for one model and
    window: one matrix (a contiguous row of n bytes per instant) for the whole run.
    Instants announced with ``need`` before the first question are computed in the
    same pass over the intervals; an instant asked for later is added by one more
    pass over them, and the rows already made are kept."""

    def __init__(self, base: Base, model: str, window: int):
        self.base, self.model, self.window = base, model, window
        self.instants = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, base.n), dtype=bool)
        self._pending: set[int] = set()
        self._lock = threading.RLock()  # the application layer may ask from two threads

    def need(self, instants) -> None:
        with self._lock:
            self._pending.update(int(t) for t in np.asarray(instants).ravel())

    def rows(self, instants) -> list[np.ndarray]:
        """Who is active at each of ``instants``: one row of the matrix each (views:
        do not modify them; they stay valid when later instants are added)."""
        with self._lock:
            return self._rows(np.asarray(instants, dtype=np.int64))

    def _rows(self, instants: np.ndarray) -> list[np.ndarray]:
        wanted = np.union1d(instants, np.fromiter(self._pending, dtype=np.int64, count=len(self._pending)))
        missing = np.setdiff1d(wanted, self.instants)
        if len(missing):
            new = np.ascontiguousarray(active_matrix(self.base.n, activity_intervals(self.base, self.model,
                                                                                     self.window), missing).T)
            every = np.concatenate([self.instants, missing])
            order = np.argsort(every, kind="stable")
            self.matrix = np.concatenate([self.matrix, new])[order] if len(self.instants) else new
            self.instants = every[order]
        self._pending.clear()
        return [self.matrix[i] for i in np.searchsorted(self.instants, instants)]


class PurchaseDays:
    """The purchase days of every customer, returns left out, sorted once as one
    int64 key (customer, day), for the question the complaint return rates ask:
    did a customer buy within W days from a day? Of orders an engine keeps, the
    answer comes from its stretches of activity under W instead (``intervals``)."""

    def __init__(self, base: Base):
        o = base.orders
        self.base = base
        self.key = None
        self._stretches: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()  # two threads of a report may ask at once
        if o is not None:
            buy = ~o.is_return
            self.key = np.sort(o.cust[buy].astype(np.int64) * np.int64(1 << 31) + o.day[buy])

    def bought_within(self, codes: np.ndarray, from_day: np.ndarray, window: int) -> np.ndarray:
        """For each (customer, from_day): a purchase dated in [from_day, from_day + W - 1]?"""
        if len(codes) == 0:
            return np.zeros(0, dtype=bool)
        at = codes.astype(np.int64) * np.int64(1 << 31) + from_day
        if self.key is None:  # the engine's stretches: bought in [a, a + W - 1] <=> active at a + W
            keys, cust, end = self._stretches_of(window)
            if not len(keys):  # no purchase at all (returns only)
                return np.zeros(len(codes), dtype=bool)
            # the customer's last stretch starting at or before a + W, if it holds it
            i = np.searchsorted(keys, at + window, side="right") - 1
            j = np.maximum(i, 0)
            return (i >= 0) & (cust[j] == codes) & (from_day + window < end[j])
        return np.searchsorted(self.key, at + window, side="left") > np.searchsorted(self.key, at, side="left")

    def _stretches_of(self, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stretches of activity under ``window`` (``activity_intervals``): their
        keys (customer, start) sorted, and each one's customer and end. A customer's
        stretches do not overlap, so at most one holds a given instant."""
        with self._lock:
            if window not in self._stretches:
                cust, start, end = activity_intervals(self.base, "inactivity", window)
                key = cust.astype(np.int64) * np.int64(1 << 31) + start
                order = np.argsort(key, kind="stable")
                self._stretches[window] = (key[order], cust[order].astype(np.int64), end[order])
            return self._stretches[window]


class Facts:
    """What the KPIs of one run read, computed once and handed down (never kept
    inside the inputs): the customers' active states at every instant the run asks
    about, their activity by purchases alone (the complaint return rates use it
    under either churn model), their purchase days sorted, and the segment codes
    of each ``by``. The application layer makes one per run; a KPI function called
    on its own makes its own."""

    def __init__(self, base: Base, model: str, window: int):
        self.base, self.model, self.window = base, model, window
        # made once per key; two threads may ask at once (the application layer):
        # the values are the same whichever makes them, so a race costs time only
        self.segments: dict[tuple[str, ...], tuple[np.ndarray, pd.DataFrame]] = {}
        self.lost: dict[tuple, np.ndarray] = {}  # kpis.wom.lost_by_end per (data end, since)
        self._locks = {name: threading.Lock() for name in ("activity", "purchase_activity", "purchase_days")}
        self._made: dict[str, object] = {}

    def _one(self, name: str, make):
        with self._locks[name]:  # each piece below is made once, whichever thread asks first
            if name not in self._made:
                self._made[name] = make()
            return self._made[name]

    @property
    def activity(self) -> Activity:
        return self._one("activity", lambda: Activity(self.base, self.model, self.window))

    @property
    def purchase_activity(self) -> Activity:
        """Active by purchases: bought in [t - W, t - 1] (the inactivity model)."""
        if self.model == "inactivity":
            return self.activity
        return self._one("purchase_activity", lambda: Activity(self.base, "inactivity", self.window))

    @property
    def purchase_days(self) -> PurchaseDays:
        return self._one("purchase_days", lambda: PurchaseDays(self.base))

    def fits(self, base: Base, model: str, window: int) -> bool:
        return base is self.base and model == self.model and window == self.window


def facts_for(facts: Facts | None, base: Base, model: str, window: int) -> Facts:
    """The run's facts when they are about this base, model and window; else new ones."""
    return facts if facts is not None and facts.fits(base, model, window) else Facts(base, model, window)

"""The revenue bridge, margin and market share (SPEC §4.1): how order revenue
moved from one period to the next, customer by customer (new, reactivation,
expansion, contraction, churned), what of it was kept (gross profit), and what
share of its market it is.

Pure functions over the orders as arrays (customer codes, day numbers, amounts:
``model.customers.Orders``), as ``kpis.purchasing`` holds them. Results are
per-(period, segment) arrays in ``purchase_kpis``'s group order: entry
``k * (n_seg + 1) + s`` is period k and segment s, with s = n_seg the total over
all segments. Without segments pass ``seg=None``: n_seg is then 1 (one segment, the
same as the total), as in ``purchase_kpis``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention_cli.kpis.base import ratio
from retention_cli.kpis.purchasing import grouped, period_index
from retention_cli.model.customers import NEVER
from retention_cli.periods import Period, bounds_days

BRIDGE_COLUMNS = [
    "order_revenue", "previous_order_revenue", "new_revenue", "reactivation_revenue", "expansion_revenue",
    "contraction_revenue", "churned_revenue", "growing_customers_share", "net_revenue_retention",
]
MARGIN_COLUMNS = ["gross_profit", "gross_margin_rate", "costed_revenue_share"]
MARKET_COLUMNS = ["market_share", "market_share_change"]
# for the writers (kpis/kinds.py); the revenue columns are money by their name
BRIDGE_RATIOS = ("growing_customers_share", "net_revenue_retention", "gross_margin_rate", "costed_revenue_share",
                 "market_share", "new_customer_rate")


# Up to this many (segment, customer) keys a period's revenues are counted in one
# array slot per key (64 MB of float64), beyond it on the keys that occur (a sort)
DENSE_KEYS = 8_000_000


def _layout(n_orders: int, seg: np.ndarray | None, n_seg: int | None) -> tuple[np.ndarray, int]:
    if seg is None:
        return np.zeros(n_orders, dtype=np.int64), 1
    seg = np.asarray(seg, dtype=np.int64)
    return seg, int(n_seg if n_seg is not None else (seg.max() + 1 if len(seg) else 1))


def previous_periods(periods: list[Period]) -> list[Period | None]:
    """The period before each one (None for ``all``, which has no neighbour)."""
    return [p.shift(-1) if p.freq != "all" else None for p in periods]


def first_purchase_days(cust: np.ndarray, day: np.ndarray, is_return: np.ndarray | None = None,
                        n_customers: int | None = None) -> np.ndarray:
    """Per customer code, the day of the first order that is not a return (NEVER:
    none), as ``Base.first_purchase`` holds it."""
    n = n_customers if n_customers is not None else (int(cust.max()) + 1 if len(cust) else 0)
    first = np.full(n, NEVER, dtype=np.int64)
    buy = np.ones(len(cust), dtype=bool) if is_return is None else ~is_return
    np.minimum.at(first, cust[buy], day[buy])
    return first


def revenue_bridge(cust: np.ndarray, day: np.ndarray, amount: np.ndarray, periods: list[Period], *,
                   is_return: np.ndarray | None = None, first_purchase: np.ndarray | None = None,
                   seg: np.ndarray | None = None, n_seg: int | None = None,
                   customer_seg: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The revenue bridge (BRIDGE_COLUMNS) per period and segment.

    With r_c(k) a customer's order revenue in period k (returns are not orders and
    count in neither period) and k - 1 the period before k, whether asked for or not:
    new_revenue = Σ r_c(k) of customers whose first purchase (``first_purchase``,
    per customer code; default: the first order of these arrays) is in k;
    reactivation_revenue = Σ r_c(k) of the others with r_c(k - 1) = 0 < r_c(k);
    expansion_revenue / contraction_revenue = Σ |r_c(k) - r_c(k - 1)| where both are
    positive and it grew / shrank; churned_revenue = Σ r_c(k - 1) where r_c(k) = 0;
    growing_customers_share = customers whose spend grew / customers with both
    positive; net_revenue_retention = (previous - churned - contraction + expansion)
    / previous. By construction order_revenue - previous_order_revenue = new +
    reactivation + expansion - contraction - churned.

    ``seg``: per order, its segment code (0 .. n_seg - 1). A customer's revenue is
    taken per segment, so with a segment of the orders (not of the customer) a
    customer who moves from one segment to another is churned revenue in the first
    and reactivation revenue in the second. An ``all`` period has no previous one:
    its bridge is null but for order_revenue. ``customer_seg``: per customer code,
    its segment, when the segments are the customers' (``seg`` is then each order's
    customer's): each customer's movement is worked out once and counted in the
    total and in its segment, with the same numbers as per (segment, customer)."""
    cust = np.asarray(cust, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    amount = np.nan_to_num(np.asarray(amount, dtype=np.float64))
    seg, n_seg = _layout(len(cust), seg, n_seg)
    if first_purchase is None:
        first_purchase = first_purchase_days(cust, day, is_return)
    width, P = n_seg + 1, len(periods)
    out = {c: np.full(P * width, np.nan) for c in BRIDGE_COLUMNS}
    prev = previous_periods(periods)
    ext = sorted(set(periods) | {q for q in prev if q is not None})
    where = {q: i for i, q in enumerate(ext)}
    k = period_index(day, ext)
    if is_return is not None:
        k = np.where(is_return, -1, k)
    at, bounds = grouped(k, len(ext))  # the orders of each period, in period order
    n_cust = max(int(cust.max()) + 1 if len(cust) else 1, len(first_purchase), 1)
    starts, ends = bounds_days(periods)
    for j, (p, q) in enumerate(zip(periods, prev)):
        cur = at[bounds[where[p]]:bounds[where[p] + 1]]
        block = slice(j * width, (j + 1) * width)
        seg_rev = np.bincount(seg[cur], weights=amount[cur], minlength=n_seg)
        # the total summed as the segments are (in order), not from them: a table's
        # total row is then the very number the table without segments shows
        total_rev = np.bincount(np.zeros(len(cur), dtype=np.intp), weights=amount[cur], minlength=1)
        out["order_revenue"][block] = np.append(seg_rev, total_rev)
        if q is None:
            continue
        before = at[bounds[where[q]]:bounds[where[q] + 1]]
        cols = {}
        # per (segment, customer) for the segments, per customer for the total; with
        # one segment the two are the same: computed once; with segments of the
        # customers, per customer once, summed by segment and in total
        keys = [(cust[cur], cust[before], 1)]
        if n_seg > 1 and customer_seg is None:
            keys.insert(0, (seg[cur] * np.int64(n_cust) + cust[cur], seg[before] * np.int64(n_cust) + cust[before],
                            n_seg))
        regroup = (customer_seg, n_seg) if n_seg > 1 and customer_seg is not None else None
        for keys_cur, keys_before, groups in keys:
            for part in _movements(keys_cur, amount[cur], keys_before, amount[before], n_cust, groups,
                                   first_purchase, int(starts[j]), int(ends[j]), regroup):
                for c, v in part.items():
                    cols.setdefault(c, []).append(v)
        for c, parts in cols.items():
            segments, total = parts if len(parts) == 2 else (parts[0], parts[0])
            out[c][block] = np.append(segments, total)
    return out


def _movements(key_cur: np.ndarray, rev_cur: np.ndarray, key_before: np.ndarray, rev_before: np.ndarray,
               n_cust: int, groups: int, first_purchase: np.ndarray, start: int, end: int,
               regroup: tuple[np.ndarray, int] | None = None) -> list[dict[str, np.ndarray]]:
    """The bridge of one period for ``groups`` groups; a key is group * n_cust + customer.
    ``regroup`` (per customer code its segment, and the number of segments): the
    same movements summed by segment too, returned first. The keys are in customer
    order within a group either way, so each sum adds the same numbers in the same
    order as per (segment, customer) keys would."""
    span = groups * n_cust
    if span <= DENSE_KEYS:
        # one slot per possible key: two bincounts, no sort (3M orders: 1.4 -> 0.3 s)
        b = np.bincount(key_cur, weights=rev_cur, minlength=span)        # r_c(k)
        a = np.bincount(key_before, weights=rev_before, minlength=span)  # r_c(k - 1)
        keys = np.flatnonzero((a > 0) | (b > 0))  # the others move nothing
        a, b = a[keys], b[keys]
    else:
        keys, inv = np.unique(np.concatenate([key_cur, key_before]), return_inverse=True)
        b = np.bincount(inv[:len(key_cur)], weights=rev_cur, minlength=len(keys))     # r_c(k)
        a = np.bincount(inv[len(key_cur):], weights=rev_before, minlength=len(keys))  # r_c(k - 1)
    g, c = keys // n_cust, keys % n_cust
    first = first_purchase[c] if len(first_purchase) else np.full(len(c), NEVER)
    # a customer who bought in k - 1 is not new in k, whatever first_purchase says:
    # the identity holds for any first_purchase given
    new = (first >= start) & (first < end) & (a == 0)
    react = ~new & (a == 0) & (b > 0)
    both = (a > 0) & (b > 0)
    grew, shrank = both & (b > a), both & (b < a)
    churned = (a > 0) & (b == 0)

    def sums(g: np.ndarray, groups: int) -> dict[str, np.ndarray]:
        def total(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            return np.bincount(g[mask], weights=None if weights is None else weights[mask],
                               minlength=groups).astype(float)

        previous = total(np.ones(len(keys), dtype=bool), a)
        expansion, contraction, lost = total(grew, b - a), total(shrank, a - b), total(churned, a)
        return {
            "previous_order_revenue": previous,
            "new_revenue": total(new, b),
            "reactivation_revenue": total(react, b),
            "expansion_revenue": expansion,
            "contraction_revenue": contraction,
            "churned_revenue": lost,
            "growing_customers_share": ratio(total(grew), total(both)),
            "net_revenue_retention": ratio(previous - lost - contraction + expansion, previous),
        }

    out = [sums(g, groups)]
    if regroup is not None:
        out.insert(0, sums(regroup[0][c], regroup[1]))
    return out


def new_customer_rate(new_customers: np.ndarray, customers_end: np.ndarray) -> np.ndarray:
    """new_customers / customers_end (null where no customer is active at the end)."""
    return ratio(new_customers, customers_end)


# --- margin -------------------------------------------------------------------------------

def line_costs(purchases: pd.DataFrame) -> np.ndarray | None:
    """Per purchases row, its cost: the ``cost`` column, else ``unit_cost`` ×
    ``quantity`` (``unit_cost`` alone when there is no quantity: a row is then one
    unit, as an amount without quantity is the row's amount). NaN where the row has
    no cost; None when the table has neither column."""
    if "cost" in purchases:
        return purchases["cost"].to_numpy(dtype="float64", na_value=np.nan)
    if "unit_cost" in purchases:
        unit = purchases["unit_cost"].to_numpy(dtype="float64", na_value=np.nan)
        if "quantity" in purchases:
            return unit * purchases["quantity"].to_numpy(dtype="float64", na_value=np.nan)
        return unit
    return None


def order_costs(line_cost: np.ndarray, line_order: np.ndarray, n_orders: int) -> np.ndarray:
    """Per order, the sum of its lines' costs; NaN when one of its lines has none
    (an order's cost is known whole or not at all)."""
    line_cost = np.asarray(line_cost, dtype=np.float64)
    total = np.bincount(line_order, weights=np.nan_to_num(line_cost), minlength=n_orders)
    unknown = np.bincount(line_order, weights=np.isnan(line_cost).astype(float), minlength=n_orders) > 0
    return np.where(unknown, np.nan, total)


def gross_profit(day: np.ndarray, amount: np.ndarray, cost: np.ndarray, periods: list[Period], *,
                 is_return: np.ndarray | None = None, seg: np.ndarray | None = None,
                 n_seg: int | None = None) -> dict[str, np.ndarray]:
    """gross_profit, gross_margin_rate and costed_revenue_share per period and segment.

    Per order (returns are not orders and count in none): ``cost`` is its cost, NaN
    when unknown. Orders of unknown cost are left out of both sides: gross_profit =
    Σ (amount - cost) and gross_margin_rate = gross_profit / Σ amount over the orders
    with a cost, so the rate is not lowered by missing costs; costed_revenue_share =
    that Σ amount / order revenue says how much of the revenue the margin covers
    (gross_profit covers only that part). Null where no order of the cell has a cost."""
    day = np.asarray(day, dtype=np.int64)
    amount = np.nan_to_num(np.asarray(amount, dtype=np.float64))
    cost = np.asarray(cost, dtype=np.float64)
    seg, n_seg = _layout(len(day), seg, n_seg)
    width, P = n_seg + 1, len(periods)
    G = P * width
    k = period_index(day, periods)
    ok = k >= 0 if is_return is None else (k >= 0) & ~is_return
    costed = ok & ~np.isnan(cost)

    def per_group(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        # each order counts in its segment's slot and in the total's (s = n_seg)
        per_seg = np.bincount(k[mask] * width + seg[mask], weights=w, minlength=G)
        per_total = np.bincount(k[mask] * width + n_seg, weights=w, minlength=G)
        return (per_seg + per_total).astype(float)

    revenue = per_group(ok, amount)
    costed_revenue = per_group(costed, amount)
    n_costed = per_group(costed)
    profit = per_group(costed, amount - np.nan_to_num(cost))
    profit = np.where(n_costed > 0, profit, np.nan)
    return {
        "gross_profit": profit,
        "gross_margin_rate": np.where(n_costed > 0, ratio(profit, costed_revenue), np.nan),
        "costed_revenue_share": np.where(n_costed > 0, ratio(costed_revenue, revenue), np.nan),
    }


# --- market share -------------------------------------------------------------------------

def market_share(order_revenue: np.ndarray, previous_order_revenue: np.ndarray, periods: list[Period],
                 market_size: dict[str, float], n_seg: int = 1) -> dict[str, np.ndarray]:
    """market_share = order revenue / the market's size in the period (by its label,
    ``economics.market_size``), and market_share_change = its change from the
    previous period in percentage points (100 × the difference of the two shares:
    0.12 -> 0.15 is +3.0). Null where the size of the period (or, for the change, of
    the previous period) is not given. The arrays are in the layout of
    ``revenue_bridge``, whose order_revenue and previous_order_revenue they take, so
    that the share and the bridge rest on the same numbers; a segment's share is its
    revenue over the whole market."""
    width = n_seg + 1
    size = np.repeat([market_size.get(p.label, np.nan) for p in periods], width).astype(float)
    before = np.repeat([market_size.get(q.label, np.nan) if q is not None else np.nan
                        for q in previous_periods(periods)], width).astype(float)
    share = ratio(order_revenue, np.nan_to_num(size))
    share[np.isnan(size)] = np.nan
    share_before = ratio(previous_order_revenue, np.nan_to_num(before))
    share_before[np.isnan(before)] = np.nan
    return {"market_share": share, "market_share_change": 100 * (share - share_before)}

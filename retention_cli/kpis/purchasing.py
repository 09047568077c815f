"""Purchasing KPIs (SPEC §4.1), per period and customers-attribute segment.

Each order is placed in its period once (searchsorted on the period starts); every
count and sum per (period, segment) is a bincount over the combined key. No loop
runs per order or per customer.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from retention_cli.kpis.base import ALL, churn_flows, order_segments, ratio, segment_codes, states
from retention_cli.model.customers import NEVER, Base, Facts, day_numbers, facts_for
from retention_cli.periods import Period, bounds_days

PURCHASE_COLUMNS = [
    "orders", "buyers", "revenue", "order_revenue", "average_order_value", "purchase_frequency", "repurchase_rate",
    "returning_buyer_share", "new_customer_rate", "first_order_aov", "repeat_order_aov", "repeat_to_first_aov_ratio",
    "multi_product_ratio", "multi_product_share", "top_customer_revenue_share",
    # the revenue bridge: previous_order_revenue + new + reactivation + expansion - contraction
    # - churned = order_revenue
    "previous_order_revenue", "new_revenue", "reactivation_revenue", "expansion_revenue", "contraction_revenue",
    "churned_revenue", "growing_customers_share", "net_revenue_retention",
    # with purchases.cost (or unit_cost), and with economics.market_size
    "gross_profit", "gross_margin_rate", "costed_revenue_share", "market_share", "market_share_change",
    "average_lifetime_periods", "orders_per_customer", "clv_simple", "acquisition_cost",
    "loyalty_participation_rate", "sales_cycle_days",
]
# the bridge's rates (kpis.bridge.BRIDGE_RATIOS, which cannot be imported here: that
# module imports this one); market_share_change is in points, not a rate
PURCHASE_RATIOS = ("repurchase_rate", "returning_buyer_share", "multi_product_share",
                   "top_customer_revenue_share", "net_revenue_retention", "loyalty_participation_rate",
                   "new_customer_rate", "growing_customers_share", "gross_margin_rate", "costed_revenue_share",
                   "market_share")


def period_index(day: np.ndarray, periods: list[Period]) -> np.ndarray:
    """Index of the period holding each day, -1 outside every period. Where the
    periods span fewer days than there are values, the answer is worked out once
    per day of the span and looked up (one gather instead of a binary search each)."""
    starts, ends = bounds_days(periods)
    if not len(starts):
        return np.full(len(day), -1, dtype=np.int64)
    lo, hi = int(starts.min()), int(ends.max())
    if hi - lo >= len(day):
        return _period_search(day, starts, ends)
    table = np.append(_period_search(np.arange(lo, hi), starts, ends), -1)  # the last: outside the span
    # days before the span wrap round to large unsigned values, past it: both -> -1
    return table[np.minimum((day - lo).astype(np.uint64), hi - lo)]


def grouped(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions that put ``keys`` (0 .. n_keys - 1; others left out) in key order,
    stable, and the bounds of each key's run in them. A stable sort of small
    integers is a radix sort: linear, unlike a sort of wider keys."""
    at = np.flatnonzero((keys >= 0) & (keys < n_keys))
    small = np.int16 if n_keys < np.iinfo(np.int16).max else np.int64
    at = at[np.argsort(keys[at].astype(small), kind="stable")]
    return at, np.searchsorted(keys[at], np.arange(n_keys + 1))


def _period_search(day: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    order = np.argsort(starts)
    s, e = starts[order], ends[order]
    k = np.searchsorted(s, day, side="right") - 1
    inside = (k >= 0) & (day < e[np.clip(k, 0, None)])
    return np.where(inside, order[np.clip(k, 0, None)], -1)


def _first_orders(cust: np.ndarray, day: np.ndarray, buy: np.ndarray) -> np.ndarray:
    """True for exactly one order per customer: the earliest non-return order
    (ties on the same day: the first in file order). Two passes of ``minimum.at``:
    the first day per customer, then the first order on that day."""
    first = np.zeros(len(cust), dtype=bool)
    if not buy.any():
        return first
    n = int(cust.max()) + 1
    first_day = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_day, cust[buy], day[buy])
    on_first_day = np.flatnonzero(buy & (day == first_day[cust]))
    first_order = np.full(n, len(cust))
    np.minimum.at(first_order, cust[on_first_day], on_first_day)
    first[first_order[first_order < len(cust)]] = True
    return first


def _distinct_pairs(key: np.ndarray, cust: np.ndarray, n_cust: int, n_key: int) -> np.ndarray:
    """Per key: the number of distinct customers."""
    pairs = np.unique(key.astype(np.int64) * n_cust + cust)
    return np.bincount(pairs // n_cust, minlength=n_key)


CUSTOMER_LEVEL = ("repurchase_rate", "returning_buyer_share", "new_customer_rate", "net_revenue_retention",
                  "average_lifetime_periods",
                  "orders_per_customer", "clv_simple", "acquisition_cost", "loyalty_participation_rate", "sales_cycle_days")


def purchase_kpis(base: Base, periods: list[Period], *, model: str, window: int, data_end: date,
                  denominator: str = "start", by: list[str] | None = None, top_share: float = 0.2,
                  gross_margin: float = 1.0, acquisition_spend: dict[str, float] | None = None,
                  facts: Facts | None = None, flows: pd.DataFrame | None = None,
                  market_size: dict[str, float] | None = None, sums: dict | None = None) -> pd.DataFrame:
    """One row per (period, segment), the total first. With a ``by`` column of the
    purchases table (not a customers attribute), a customer can be in several
    segments, so the customer-level KPIs (CUSTOMER_LEVEL) are left out. ``flows``:
    the churn flows of the same periods, ``by`` and denominator when the caller has
    them (lifetime and clv_simple read them); ``facts``: the run's.

    The revenue bridge (``kpis.bridge.revenue_bridge``) comes with the amounts; the
    margin when the orders have a cost (``Orders.cost``): gross_profit,
    gross_margin_rate, costed_revenue_share, and clv_simple then uses the observed
    gross_margin_rate of its period and segment instead of ``gross_margin`` (where
    that cell has no costed order, ``gross_margin`` still); market_share and
    market_share_change with ``market_size`` (per period label, as
    ``economics.market_size``). ``sums``: ``kept_order_sums`` of the same base,
    periods and top_share, when the caller asked the engine already."""
    by = by or []
    o = base.orders
    facts = facts_for(facts, base, model, window)
    # the orders kept in an engine (``engines.facts.EngineOrders`` with its sums): the
    # order-level sums are made there, the rest here from the customers' facts
    kept = base.engine if o is None and keeps_orders(base) else None
    if kept is not None:  # (segments of the customers only: an order's column is not kept)
        seg_order, customer_level = None, True
        labels = segment_codes(base, by, facts)[1] if by else pd.DataFrame(index=[0])
    else:
        seg_order, labels, customer_level = order_segments(base, by, facts) if by else (np.zeros(len(o.cust), np.int64), pd.DataFrame(index=[0]), True)
    n_seg = len(labels)
    P, n = len(periods), base.n
    # Groups: g = k * (n_seg + 1) + s, with s = n_seg the total over all segments.
    width = n_seg + 1
    G = P * width

    if kept is not None:
        if sums is None:
            sums = kept_order_sums(base, periods, top_share, by, facts)
        cols, returning_buyers, kept_nrr = _kept_columns(sums, periods, by, width, market_size, kept.products)
        # no order at all: no amount either (the columns of amounts left out, as here)
        orders, buyers, has_amount = cols["orders"], cols["buyers"], kept.n_orders > 0
        if not has_amount:  # the bridge and the market come with the amounts (as below)
            for c in ("order_revenue", "previous_order_revenue", "new_revenue", "reactivation_revenue",
                      "expansion_revenue", "contraction_revenue", "churned_revenue", "growing_customers_share",
                      "market_share", "market_share_change"):
                cols.pop(c, None)
    else:
        cols, returning_buyers, amount, has_amount = _order_columns(base, periods, by, facts, seg_order, n_seg,
                                                                    customer_level, top_share, market_size)
        orders, buyers = cols["orders"], cols["buyers"]

    if customer_level:
        seg_of, _ = segment_codes(base, by, facts) if by else (np.zeros(n, np.int64), None)
        starts, _ = bounds_days(periods)
        first = base.first_purchase
        known_before = np.zeros(G)
        for k in range(P):  # customers known before each start: one vector op per period
            was = np.flatnonzero(first < starts[k])
            known_before[k * width: (k + 1) * width] = np.append(np.bincount(seg_of[was], minlength=n_seg), len(was))
        cols["repurchase_rate"] = ratio(returning_buyers, known_before)
        cols["returning_buyer_share"] = ratio(returning_buyers, buyers)
        cols["net_revenue_retention"] = _net_revenue_retention(o, periods, seg_of, n_seg, amount) \
            if kept is None else kept_nrr

        if flows is None:
            flows = churn_flows(base, periods, model, window, data_end, denominator, by, facts)
        churn_rate = _align(flows["churn_rate"].to_numpy(), P, n_seg, bool(by))
        with np.errstate(divide="ignore"):
            lifetime = np.where(churn_rate > 0, 1 / churn_rate, np.nan)
        cols["average_lifetime_periods"] = lifetime
        # per active customer, buyers or not: orders per buyer (purchase_frequency) would
        # value every active customer as if they bought in every period
        start = _align(flows["customers_start"].to_numpy(dtype=float), P, n_seg, bool(by))
        end = _align(flows["customers_end"].to_numpy(dtype=float), P, n_seg, bool(by))
        cols["orders_per_customer"] = ratio(orders, (start + end) / 2)
        margin = gross_margin
        if "gross_margin_rate" in cols:  # the margin observed, where the cell has costed orders
            margin = np.where(np.isnan(cols["gross_margin_rate"]), gross_margin, cols["gross_margin_rate"])
        cols["clv_simple"] = cols["average_order_value"] * cols["orders_per_customer"] * lifetime * margin
        new = _align(flows["new_customers"].to_numpy(dtype=float), P, n_seg, bool(by))
        cols["new_customer_rate"] = ratio(new, end)  # the seed's "taux de nouveaux clients"
        if acquisition_spend:
            spend = np.repeat([acquisition_spend.get(p.label, np.nan) for p in periods], width)
            cols["acquisition_cost"] = ratio(spend, new)
        if base.attributes is not None and "loyalty_member" in base.attributes:
            member = base.attributes["loyalty_member"].reindex(range(n)).fillna(False).to_numpy(dtype=bool)
            loyal_end, end_n = np.zeros(G), np.zeros(G)
            for k, _, S, E, N in states(base, periods, model, window, facts):
                end_n[k * width: (k + 1) * width] = np.append(np.bincount(seg_of[E], minlength=n_seg), E.sum())
                both = E & member
                loyal_end[k * width: (k + 1) * width] = np.append(np.bincount(seg_of[both], minlength=n_seg), both.sum())
            cols["loyalty_participation_rate"] = ratio(loyal_end, end_n)
        if base.attributes is not None and "first_contact_date" in base.attributes:
            contact = day_numbers(base.attributes["first_contact_date"].reindex(range(n)))
            kf = period_index(np.where(first < NEVER, first, -10**9), periods)
            ok = (kf >= 0) & (contact < NEVER) & (first < NEVER)
            g = _groups(kf[ok], seg_of[ok], width, n_seg, by)
            days = _twice(first[ok] - contact[ok], by)
            cols["sales_cycle_days"] = pd.Series(days).groupby(g).median().reindex(range(G)).to_numpy(dtype=float)

    out = pd.DataFrame({c: cols[c] for c in PURCHASE_COLUMNS if c in cols})
    for c in ("orders", "buyers"):
        out[c] = out[c].astype(np.int64)
    if not has_amount:
        out = out.drop(columns=[c for c in ("revenue", "average_order_value", "first_order_aov", "repeat_order_aov",
                                            "repeat_to_first_aov_ratio", "top_customer_revenue_share",
                                            "net_revenue_retention", "clv_simple") if c in out])
    # labels: total first in each period, then the segments in order
    k_idx = np.repeat(np.arange(P), width)
    s_idx = np.tile(np.arange(width), P)
    out.insert(0, "period", [periods[k].label for k in k_idx])
    for j, b in enumerate(by):
        names = np.append(labels[b].to_numpy(), ALL)
        out.insert(1 + j, b, names[s_idx])
    out.insert(1 + len(by), "complete", [periods[k].complete(data_end) for k in k_idx])
    out["_total"] = s_idx == n_seg
    out["_k"] = k_idx
    out = out.sort_values(["_k", "_total"], ascending=[True, False], kind="stable")
    if not by:
        out = out[out["_total"]]
    return out.drop(columns=["_total", "_k"]).reset_index(drop=True)


def _order_columns(base: Base, periods: list[Period], by: list[str], facts: Facts, seg_order: np.ndarray,
                   n_seg: int, customer_level: bool, top_share: float,
                   market_size: dict[str, float] | None
                   ) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray, bool]:
    """``purchase_kpis``' order-level columns from the orders in the process
    (``base.orders``), per group k × (n_seg + 1) + s (s = n_seg: the total): counts,
    sums, the top buyers' share, products, the revenue bridge, the margin and the
    market. Also the returning buyers per group (with ``customer_level``), the
    orders' amounts (NaN as 0), which the customer-level columns read, and whether
    any order has an amount."""
    o = base.orders
    P, n = len(periods), base.n
    width = n_seg + 1
    G = P * width
    returning_buyers = None
    k_all = period_index(o.day, periods)
    inp = k_all >= 0
    buy = inp & ~o.is_return
    amount = np.nan_to_num(o.amount)
    has_amount = not np.isnan(o.amount).all()
    # each order's group in the total and in its segment (meaningless outside the periods)
    group_total = k_all * width + n_seg
    group_seg = k_all * width + seg_order if by else None

    def count(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per group, the orders of ``mask`` (or their sum of ``weights``): the others
        go to one extra bin, so nothing is copied out by the mask first."""
        out = np.bincount(np.where(mask, group_total, G), weights=weights, minlength=G + 1)[:G]
        if by:
            out = out + np.bincount(np.where(mask, group_seg, G), weights=weights, minlength=G + 1)[:G]
        return out

    orders = count(buy)
    # the distinct (group, buyer) pairs, hashed once (pd.factorize, faster than a
    # sort): buyers, returning buyers and the top buyers' share all come from them.
    # With segments of the customers (one per customer), a (period, buyer) pair is in
    # exactly one segment: the pairs of the total are hashed, and the segments' are
    # the same pairs (the same first appearances, so the same codes) in their segment
    per_customer = bool(by) and customer_level
    if per_customer:
        total_codes, total_pairs = pd.factorize(k_all[buy] * np.int64(n) + o.cust[buy])
        k_pair, c_pair = total_pairs // n, total_pairs % n
        pair_codes = total_codes  # the segments' codes; the total's are these + len(total_pairs)
        pairs = np.concatenate([(k_pair * width + segment_codes(base, by, facts)[0][c_pair]) * np.int64(n) + c_pair,
                                (k_pair * width + n_seg) * np.int64(n) + c_pair])
        del k_pair, c_pair
    else:
        pair_codes, pairs = pd.factorize(_groups(k_all[buy], seg_order[buy], width, n_seg, by) * np.int64(n) + _twice(o.cust[buy], by))
    pair_group, pair_cust = pairs // n, pairs % n
    buyers = np.bincount(pair_group, minlength=G)
    revenue = count(inp, amount)
    order_revenue = count(buy, amount)

    is_first = _first_orders(o.cust, o.day, ~o.is_return) & buy
    rep = buy & ~is_first
    first_n, first_sum = count(is_first), count(is_first, amount)
    rep_n, rep_sum = count(rep), count(rep, amount)
    del group_total, group_seg

    cols: dict[str, np.ndarray] = {
        "orders": orders, "buyers": buyers, "revenue": revenue,
        "average_order_value": ratio(order_revenue, orders),
        "purchase_frequency": ratio(orders, buyers),
        "first_order_aov": ratio(first_sum, first_n),
        "repeat_order_aov": ratio(rep_sum, rep_n),
    }
    cols["repeat_to_first_aov_ratio"] = ratio(cols["repeat_order_aov"], cols["first_order_aov"])

    if o.products is not None:
        # A buyer has bought several distinct products in a group when a line of its
        # orders there names another product than some one line of them does: each
        # pair keeps one line's product, then every line compares with it. Only 1
        # against ≥ 2 matters (SPEC §4.1), so no distinct count is needed.
        line_order, product = o.products
        buy_at = np.flatnonzero(buy)
        one = np.empty(len(pairs), dtype=product.dtype)
        several = np.zeros(len(pairs), dtype=bool)
        order_pair = np.full(len(o.cust), -1, dtype=np.int64)
        # with segments: the segment's pairs, then the total's; with segments of the
        # customers, the two halves are the same pairs: the total's answer serves both
        for half in range(1 if per_customer or not by else 2):
            order_pair[buy_at] = pair_codes[half * len(buy_at):(half + 1) * len(buy_at)]
            line_pair = order_pair[line_order]
            keep = line_pair >= 0
            line_pair, line_product = line_pair[keep], product[keep]
            one[line_pair] = line_product
            several[line_pair[line_product != one[line_pair]]] = True
        if per_customer:
            several[len(several) // 2:] = several[:len(several) // 2]
        multi = np.bincount(pair_group[several], minlength=G)
        del order_pair, line_pair, keep, line_product, one, several, buy_at  # order- and line-sized
        # every buyer has a line, so the others bought exactly one product
        cols["multi_product_ratio"] = ratio(multi, buyers - multi)
        cols["multi_product_share"] = ratio(multi, buyers)

    # top buyers' share of order revenue: per group, the sum of its n_top largest buyer
    # revenues, found by a partition (linear) of the group's slice; the pairs are put
    # in group order by a stable sort of small integers (a radix sort). Buyers tied at
    # the cut have equal revenue, so the sum (and the share) is the same whichever of
    # them is taken: no tie-break on customer_id needs computing.
    if per_customer:  # each pair's orders are the same in its segment and in the total
        rev = np.bincount(total_codes, weights=amount[buy], minlength=len(total_pairs))
        rev = np.concatenate([rev, rev])
        del total_codes, total_pairs
    else:
        rev = np.bincount(pair_codes, weights=_twice(amount[buy], by), minlength=len(pairs))
    at, bounds = grouped(pair_group, G)
    rev = rev[at]
    # ceil(top_share × buyers), with a guard against 0.2 × 10 = 2.0000000000000004
    n_top = np.ceil(np.round(top_share * buyers, 9)).astype(np.int64)
    top_rev = np.zeros(G)
    for g in np.flatnonzero(n_top):
        part = rev[bounds[g]:bounds[g + 1]]
        top_rev[g] = np.partition(part, len(part) - n_top[g])[len(part) - n_top[g]:].sum()
    cols["top_customer_revenue_share"] = ratio(top_rev, order_revenue)
    if customer_level:  # a returning buyer was known before the period's start: a property of the pair
        returning = base.first_purchase[pair_cust] < bounds_days(periods)[0][pair_group // width]
        returning_buyers = np.bincount(pair_group[returning], minlength=G)
        del returning
    del pair_group, pair_cust
    del pair_codes, rev, k_all, inp, buy, is_first, rep  # order-sized: not held under what follows

    if has_amount:
        from retention_cli.kpis import bridge  # imported here: bridge imports this module

        moves = bridge.revenue_bridge(o.cust, o.day, amount, periods, is_return=o.is_return,
                                      first_purchase=base.first_purchase, seg=seg_order, n_seg=n_seg,
                                      customer_seg=segment_codes(base, by, facts)[0] if per_customer else None)
        # the column keeps its own computation (_net_revenue_retention, per customer
        # segment), whose values it always had; the bridge's equals it up to the order
        # of summation for customers attributes, and is per order segment otherwise
        del moves["net_revenue_retention"]
        cols.update(moves)
        if o.cost is not None:
            cols.update(bridge.gross_profit(o.day, amount, o.cost, periods, is_return=o.is_return,
                                            seg=seg_order, n_seg=n_seg))
        if market_size:
            cols.update(bridge.market_share(cols["order_revenue"], cols["previous_order_revenue"], periods,
                                            market_size, n_seg))
    return cols, returning_buyers, amount, has_amount


def _groups(k: np.ndarray, seg: np.ndarray, width: int, n_seg: int, by: list[str]) -> np.ndarray:
    """Each event's group: with segments every event counts twice, in its segment and in the total."""
    if not by:
        return k * width + n_seg
    return np.concatenate([k * width + seg, k * width + n_seg])


def _twice(values: np.ndarray, by: list[str]) -> np.ndarray:
    """Values beside ``_groups``' groups: twice over with segments."""
    return np.concatenate([values, values]) if by else values


def keeps_orders(base: Base) -> bool:
    """Whether the base's orders are kept whole in an engine, which sums them per
    period itself (``engines.facts.EngineOrders.purchase_sums``)."""
    return base.orders is None and base.engine is not None and base.engine.keeps_sums


def kept_order_sums(base: Base, periods: list[Period], top_share: float, by: list[str] | tuple = (),
                    facts: Facts | None = None) -> dict:
    """The sums per period of the orders an engine keeps, for ``purchase_kpis``: the
    periods and the one before each (the bridge's); with ``by`` (customers
    attributes: one segment per customer), per period and segment too."""
    prev = [p.shift(-1) if p.freq != "all" else None for p in periods]  # as kpis.bridge.previous_periods
    ext = sorted(set(periods) | {q for q in prev if q is not None})
    where = {q: i for i, q in enumerate(ext)}
    starts, ends = bounds_days(ext)
    cur = np.array([where[p] for p in periods], dtype=np.int64)
    before = np.array([where[q] if q is not None else -1 for q in prev], dtype=np.int64)
    ext_before = np.full(len(ext), -1, dtype=np.int64)
    ext_before[cur] = before
    by = list(by)
    if by:
        seg_of, labels = segment_codes(base, by, facts)
        got = base.engine.purchase_sums(starts, ends, ext_before, top_share, seg_of, len(labels))
    else:
        got = base.engine.purchase_sums(starts, ends, ext_before, top_share)
    return {"periods": list(periods), "by": by, "cur": cur, "before": before, "got": got}


def _kept_columns(sums: dict, periods: list[Period], by: list[str], width: int,
                  market_size: dict[str, float] | None,
                  products: bool) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The order-level columns of ``purchase_kpis`` from ``kept_order_sums``:
    (columns, returning buyers, net revenue retention) per group k × width + s.
    Without ``by``, each period's value in both slots (the one segment and the
    total); with it, the engine's own per (period, segment) and total."""
    if sums["periods"] != list(periods) or sums["by"] != list(by):
        raise ValueError("purchase_kpis: the sums are of other periods or segments")
    got, cur, before = sums["got"], sums["cur"], sums["before"]
    slots = np.arange(width)
    if by:  # the engine's groups: ext period × width + segment
        cur = (cur[:, None] * width + slots).ravel()
        before = np.where(np.repeat(before, width) >= 0, (before[:, None] * width + slots).ravel(), -1)

    def at(name: str) -> np.ndarray:  # per group
        return got[name][cur] if by else np.repeat(got[name][cur], width)

    orders, buyers, order_revenue = at("orders"), at("buyers"), at("order_revenue")
    first_n, first_sum = at("first_orders"), at("first_revenue")
    cols: dict[str, np.ndarray] = {
        "orders": orders, "buyers": buyers, "revenue": at("revenue"),
        "average_order_value": ratio(order_revenue, orders),
        "purchase_frequency": ratio(orders, buyers),
        "first_order_aov": ratio(first_sum, first_n),
        "repeat_order_aov": ratio(at("repeat_revenue"), orders - first_n),
    }
    cols["repeat_to_first_aov_ratio"] = ratio(cols["repeat_order_aov"], cols["first_order_aov"])
    if products:
        multi = at("multi_product")
        cols["multi_product_ratio"] = ratio(multi, buyers - multi)
        cols["multi_product_share"] = ratio(multi, buyers)
    cols["top_customer_revenue_share"] = ratio(at("top_revenue"), order_revenue)
    cols["order_revenue"] = order_revenue
    moves = {c: at(c) for c in ("previous", "new", "reactivation", "expansion", "contraction", "churned")}
    cols.update({"previous_order_revenue": moves["previous"], "new_revenue": moves["new"],
                 "reactivation_revenue": moves["reactivation"], "expansion_revenue": moves["expansion"],
                 "contraction_revenue": moves["contraction"], "churned_revenue": moves["churned"],
                 "growing_customers_share": ratio(at("grew"), at("both"))})
    if market_size:
        from retention_cli.kpis import bridge  # imported here: bridge imports this module

        cols.update(bridge.market_share(cols["order_revenue"], cols["previous_order_revenue"], periods,
                                        market_size, width - 1))
    # net revenue retention: the previous period's buyers' order revenue now, over the
    # previous period's order revenue (null where nobody bought then)
    prev_buyers = np.where(before >= 0, got["buyers"][np.maximum(before, 0)], 0)
    prev_revenue = np.where(before >= 0, got["order_revenue"][np.maximum(before, 0)], 0)
    nrr = np.where(prev_buyers > 0, ratio(got["retained"][cur], prev_revenue), np.nan)
    if by:
        return cols, got["returning_buyers"][cur], nrr
    return cols, np.repeat(got["returning_buyers"][cur], width), np.repeat(nrr, width)


def _align(values: np.ndarray, P: int, n_seg: int, has_by: bool) -> np.ndarray:
    """churn_flows rows (total first, then segments) -> our group order (segments, then total)."""
    if not has_by:
        return np.repeat(values, n_seg + 1)  # one segment: same value for it and the total
    v = values.reshape(P, n_seg + 1)
    return np.concatenate([v[:, 1:], v[:, :1]], axis=1).ravel()


def _net_revenue_retention(o, periods, seg_of, n_seg, amount) -> np.ndarray:
    """Order revenue in the period from customers who bought in the previous period,
    over their order revenue in the previous period. The denominator is all order
    revenue of the previous period (every order there is a such customer's); the
    numerator, the period's orders whose customer is marked as a buyer of the
    previous one. The orders are put in period order once (a radix sort of small
    integers); each period then costs its own orders, not the customer count."""
    width, P = n_seg + 1, len(periods)
    out = np.full(P * width, np.nan)
    prev = [p.shift(-1) if p.freq != "all" else None for p in periods]
    ext = sorted({q for q in periods} | {q for q in prev if q is not None})
    k = period_index(o.day, ext)
    ok, bounds = grouped(np.where(o.is_return, -1, k), len(ext))
    cust, rev = o.cust[ok], amount[ok]
    where = {q: i for i, q in enumerate(ext)}
    marked = np.full(len(seg_of), -1, dtype=np.int64)  # the last period whose buyers were marked
    for j, (p, q) in enumerate(zip(periods, prev)):
        if q is None or bounds[where[q]] == bounds[where[q] + 1]:
            continue  # nobody bought in the previous period
        b = slice(bounds[where[q]], bounds[where[q] + 1])
        a = slice(bounds[where[p]], bounds[where[p] + 1])
        marked[cust[b]] = j
        kept = marked[cust[a]] == j
        num = np.bincount(seg_of[cust[a][kept]], weights=rev[a][kept], minlength=n_seg)
        den = np.bincount(seg_of[cust[b]], weights=rev[b], minlength=n_seg)
        # the total summed in order, not from the segments: the total row of a table by
        # segment is then the very number of the table without segments
        num_all = np.bincount(np.zeros(int(kept.sum()), dtype=np.intp), weights=rev[a][kept], minlength=1)
        den_all = np.bincount(np.zeros(b.stop - b.start, dtype=np.intp), weights=rev[b], minlength=1)
        out[j * width: (j + 1) * width] = ratio(np.append(num, num_all), np.append(den, den_all))
    return out

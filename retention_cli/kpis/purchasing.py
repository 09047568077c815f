"""Purchasing KPIs (SPEC §4.1), per period and customers-attribute segment.

Each order is placed in its period once (searchsorted on the period starts); every
count and sum per (period, segment) is a bincount over the combined key. No loop
runs per order or per customer.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from retention_cli.kpis.base import ALL, churn_flows, ratio, segment_codes, states
from retention_cli.model.customers import NEVER, Base, day_numbers
from retention_cli.periods import Period, bounds_days

PURCHASE_COLUMNS = [
    "orders", "buyers", "revenue", "average_order_value", "purchase_frequency", "repurchase_rate",
    "returning_buyer_share", "first_order_aov", "repeat_order_aov", "repeat_to_first_aov_ratio",
    "multi_product_ratio", "multi_product_share", "top_customer_revenue_share", "net_revenue_retention",
    "average_lifetime_periods", "clv_simple", "acquisition_cost", "loyalty_participation_rate",
    "sales_cycle_days",
]
PURCHASE_RATIOS = ("repurchase_rate", "returning_buyer_share", "multi_product_share",
                   "top_customer_revenue_share", "net_revenue_retention", "loyalty_participation_rate")


def period_index(day: np.ndarray, periods: list[Period]) -> np.ndarray:
    """Index of the period holding each day, -1 outside every period."""
    starts, ends = bounds_days(periods)
    order = np.argsort(starts)
    s, e = starts[order], ends[order]
    k = np.searchsorted(s, day, side="right") - 1
    inside = (k >= 0) & (day < e[np.clip(k, 0, None)])
    return np.where(inside, order[np.clip(k, 0, None)], -1)


def _first_orders(cust: np.ndarray, day: np.ndarray, buy: np.ndarray) -> np.ndarray:
    """True for exactly one order per customer: the earliest non-return order
    (ties on the same day: the first in file order)."""
    idx = np.flatnonzero(buy)
    order = idx[np.lexsort((idx, day[idx], cust[idx]))]
    first = np.zeros(len(cust), dtype=bool)
    if len(order):
        starts = np.concatenate([[True], cust[order][1:] != cust[order][:-1]])
        first[order[starts]] = True
    return first


def _distinct_pairs(key: np.ndarray, cust: np.ndarray, n_cust: int, n_key: int) -> np.ndarray:
    """Per key: the number of distinct customers."""
    pairs = np.unique(key.astype(np.int64) * n_cust + cust)
    return np.bincount(pairs // n_cust, minlength=n_key)


def purchase_kpis(base: Base, periods: list[Period], *, model: str, window: int, data_end: date,
                  denominator: str = "start", by: list[str] | None = None, top_share: float = 0.2,
                  gross_margin: float = 1.0, acquisition_spend: dict[str, float] | None = None) -> pd.DataFrame:
    by = by or []
    o = base.orders
    seg_of, labels = segment_codes(base, by)
    n_seg = len(labels)
    P, n = len(periods), base.n
    # Groups: g = k * (n_seg + 1) + s, with s = n_seg the total over all segments.
    width = n_seg + 1
    G = P * width

    def groups(k: np.ndarray, cust: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every event counts twice: in its segment and in the total."""
        return np.concatenate([k * width + seg_of[cust], k * width + n_seg]), np.concatenate([cust, cust])

    def count(k, cust, weights=None):
        g, _ = groups(k, cust)
        w = None if weights is None else np.concatenate([weights, weights])
        return np.bincount(g, weights=w, minlength=G)

    k_all = period_index(o.day, periods)
    inp = k_all >= 0
    buy = inp & ~o.is_return
    amount = np.nan_to_num(o.amount)
    has_amount = not np.isnan(o.amount).all()

    orders = count(k_all[buy], o.cust[buy])
    g_b, c_b = groups(k_all[buy], o.cust[buy])
    buyers = np.bincount(np.unique(g_b * n + c_b) // n, minlength=G)
    revenue = count(k_all[inp], o.cust[inp], amount[inp])
    order_revenue = count(k_all[buy], o.cust[buy], amount[buy])

    # returning buyers: first purchase before the period start
    starts, ends = bounds_days(periods)
    first = base.first_purchase
    returning = buy & (first[o.cust] < starts[np.clip(k_all, 0, None)])
    g_r, c_r = groups(k_all[returning], o.cust[returning])
    returning_buyers = np.bincount(np.unique(g_r * n + c_r) // n, minlength=G)
    known_before = np.zeros(G)
    for k in range(P):  # customers known before each start: one vector op per period
        was = np.flatnonzero(first < starts[k])
        known_before[k * width: (k + 1) * width] = np.bincount(seg_of[was], minlength=n_seg).tolist() + [len(was)]

    is_first = _first_orders(o.cust, o.day, ~o.is_return) & buy
    rep = buy & ~is_first
    first_n, first_sum = count(k_all[is_first], o.cust[is_first]), count(k_all[is_first], o.cust[is_first], amount[is_first])
    rep_n, rep_sum = count(k_all[rep], o.cust[rep]), count(k_all[rep], o.cust[rep], amount[rep])

    cols: dict[str, np.ndarray] = {
        "orders": orders, "buyers": buyers, "revenue": revenue,
        "average_order_value": ratio(order_revenue, orders),
        "purchase_frequency": ratio(orders, buyers),
        "repurchase_rate": ratio(returning_buyers, known_before),
        "returning_buyer_share": ratio(returning_buyers, buyers),
        "first_order_aov": ratio(first_sum, first_n),
        "repeat_order_aov": ratio(rep_sum, rep_n),
    }
    cols["repeat_to_first_aov_ratio"] = ratio(cols["repeat_order_aov"], cols["first_order_aov"])

    if o.products is not None:
        pk = period_index(o.products["day"].to_numpy(), periods)
        ok = pk >= 0
        pc, pp = o.products["cust"].to_numpy()[ok], o.products["product"].to_numpy()[ok]
        trip = pd.DataFrame({"k": pk[ok], "cust": pc, "product": pp}).drop_duplicates()
        per = trip.groupby(["k", "cust"], sort=False).size().reset_index(name="n")
        kk, cc, nn = per["k"].to_numpy(), per["cust"].to_numpy(), per["n"].to_numpy()
        multi, single = count(kk[nn >= 2], cc[nn >= 2]), count(kk[nn == 1], cc[nn == 1])
        cols["multi_product_ratio"] = ratio(multi, single)
        cols["multi_product_share"] = ratio(multi, buyers)

    # top buyers' share of order revenue: sort per group by revenue desc, customer_id asc
    per_buyer = pd.DataFrame({"g": g_b, "cust": c_b, "rev": np.concatenate([amount[buy], amount[buy]])})
    per_buyer = per_buyer.groupby(["g", "cust"], sort=False)["rev"].sum().reset_index()
    id_rank = np.argsort(np.argsort(base.ids.to_numpy().astype(str), kind="stable"), kind="stable")
    per_buyer["idr"] = id_rank[per_buyer["cust"].to_numpy()]
    per_buyer = per_buyer.sort_values(["g", "rev", "idr"], ascending=[True, False, True], kind="stable")
    rank = per_buyer.groupby("g", sort=False).cumcount().to_numpy()
    g_arr = per_buyer["g"].to_numpy()
    # ceil(top_share × buyers), with a guard against 0.2 × 10 = 2.0000000000000004
    n_top = np.ceil(np.round(top_share * buyers, 9)).astype(np.int64)
    top = rank < n_top[g_arr]
    top_rev = np.bincount(g_arr[top], weights=per_buyer["rev"].to_numpy()[top], minlength=G)
    cols["top_customer_revenue_share"] = ratio(top_rev, order_revenue)

    cols["net_revenue_retention"] = _net_revenue_retention(o, periods, seg_of, n_seg, n, amount)

    flows = churn_flows(base, periods, model, window, data_end, denominator, by)
    churn_rate = _align(flows["churn_rate"].to_numpy(), P, n_seg, bool(by))
    with np.errstate(divide="ignore"):
        lifetime = np.where(churn_rate > 0, 1 / churn_rate, np.nan)
    cols["average_lifetime_periods"] = lifetime
    cols["clv_simple"] = cols["average_order_value"] * cols["purchase_frequency"] * lifetime * gross_margin
    new = _align(flows["new_customers"].to_numpy(dtype=float), P, n_seg, bool(by))
    if acquisition_spend:
        spend = np.repeat([acquisition_spend.get(p.label, np.nan) for p in periods], width)
        cols["acquisition_cost"] = ratio(spend, new)
    if base.attributes is not None and "loyalty_member" in base.attributes:
        member = base.attributes["loyalty_member"].reindex(range(n)).fillna(False).to_numpy(dtype=bool)
        loyal_end, end_n = np.zeros(G), np.zeros(G)
        for k, _, S, E, N in states(base, periods, model, window):
            cs = np.flatnonzero(E)
            g, _ = groups(np.full(len(cs), k), cs)
            end_n += np.bincount(g, minlength=G)
            g, _ = groups(np.full(int((E & member).sum()), k), np.flatnonzero(E & member))
            loyal_end += np.bincount(g, minlength=G)
        cols["loyalty_participation_rate"] = ratio(loyal_end, end_n)
    if base.attributes is not None and "first_contact_date" in base.attributes:
        contact = np.full(n, NEVER, dtype=np.int64)
        contact[:] = day_numbers(base.attributes["first_contact_date"].reindex(range(n)))
        kf = period_index(np.where(first < NEVER, first, -10**9), periods)
        ok = (kf >= 0) & (contact < NEVER) & (first < NEVER)
        cust = np.flatnonzero(ok)
        g, _ = groups(kf[ok], cust)
        days = np.concatenate([first[ok] - contact[ok]] * 2)
        med = pd.Series(days).groupby(g).median()
        cols["sales_cycle_days"] = med.reindex(range(G)).to_numpy(dtype=float)

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


def _align(values: np.ndarray, P: int, n_seg: int, has_by: bool) -> np.ndarray:
    """churn_flows rows (total first, then segments) -> our group order (segments, then total)."""
    if not has_by:
        return np.repeat(values, n_seg + 1)  # one segment: same value for it and the total
    v = values.reshape(P, n_seg + 1)
    return np.concatenate([v[:, 1:], v[:, :1]], axis=1).ravel()


def _net_revenue_retention(o, periods, seg_of, n_seg, n, amount) -> np.ndarray:
    """Order revenue in the period from customers who bought in the previous period,
    over their order revenue in the previous period."""
    width, P = n_seg + 1, len(periods)
    out = np.full(P * width, np.nan)
    prev = [p.shift(-1) if p.freq != "all" else None for p in periods]
    buy = ~o.is_return
    for k, (p, q) in enumerate(zip(periods, prev)):  # per period: two masks over the orders
        if q is None:
            continue
        (qs,), (qe,) = bounds_days([q])
        (ps,), (pe,) = bounds_days([p])
        in_q = buy & (o.day >= qs) & (o.day < qe)
        in_p = buy & (o.day >= ps) & (o.day < pe)
        rev_q = np.bincount(o.cust[in_q], weights=amount[in_q], minlength=n)
        rev_p = np.bincount(o.cust[in_p], weights=amount[in_p], minlength=n)
        cohort = np.zeros(n, dtype=bool)
        cohort[o.cust[in_q]] = True
        num = np.bincount(seg_of[cohort], weights=rev_p[cohort], minlength=n_seg)
        den = np.bincount(seg_of[cohort], weights=rev_q[cohort], minlength=n_seg)
        out[k * width: (k + 1) * width] = ratio(np.append(num, num.sum()), np.append(den, den.sum()))
    return out

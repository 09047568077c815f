"""Cohorts (SPEC §4.2): customers grouped by the period of their first purchase
(contract model: of their signup), followed over the periods that come after.

For cohort c and offset k = 0, 1, …: active = cohort members with an order in
period c + k (contract model: active at the end of c + k); retention = active /
cohort_size. Only offsets whose period is inside the requested series are given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention_cli.kpis.base import ALL, ratio, segment_codes
from retention_cli.kpis.purchasing import grouped, keeps_orders, period_index
from retention_cli.model.customers import NEVER, Base, active_matrix, activity_intervals, first_event
from retention_cli.periods import Period, bounds_days

COHORT_COLUMNS = ["cohort", "offset", "cohort_size", "active", "retention"]


def cohort_table(base: Base, periods: list[Period], model: str, window: int,
                 revenue: bool = False, relative: str | None = None, by: list[str] | None = None) -> pd.DataFrame:
    """Tidy rows (cohort, [by…], offset, cohort_size, active, retention[, …]); with
    ``by`` (customers attributes) each cohort has a total row "(all)" and its segments."""
    by = by or []
    P = len(periods)
    first = first_event(base, model)
    cohort = period_index(np.where(first < NEVER, first, np.iinfo(np.int64).min // 4), periods)
    seg, labels = segment_codes(base, by)
    n_seg = len(labels) if by else 0
    counted = None  # (cohort, period, buyers) an engine counted
    # segment code per customer, and n_seg for "all": every table is computed for
    # the whole base once and then for each segment, from the same per-customer arrays
    if model == "contract":
        _, ends = bounds_days(periods)
        # one contiguous row per period end
        active_at_end = np.ascontiguousarray(active_matrix(base.n, activity_intervals(base, model, window), ends).T)
    elif base.orders is None and base.engine is not None and not by:
        # the orders kept in an engine, no segments: it counts each cohort's buyers per
        # period itself (the customers' cohorts are their first purchases', as here)
        counted = base.engine.cohort_buyers(*bounds_days(periods))
    elif base.orders is None and base.engine is not None:
        # the orders kept in an engine: it gives the distinct (customer, period) of the
        # purchases; a cohort's buyers from its own period on, put in period order
        starts, ends = bounds_days(periods)
        cust, k = base.engine.buyers(starts, ends)
        ok, buyer_bounds = grouped(np.where(k < cohort[cust], -1, k), P)
        buyers = cust[ok]
        del ok, cust, k
    else:
        # per period, its distinct buyers (of a cohort up to then): the orders are put
        # in period order by a radix sort of small integers, then in each period a
        # customer is kept at one of its orders there: the position a scratch array
        # holds for it after all are written (whichever write won, exactly one)
        o = base.orders
        k_order = period_index(o.day, periods)
        ok, period_bounds = grouped(np.where(o.is_return | (k_order < cohort[o.cust]), -1, k_order), P)
        order_cust = o.cust[ok]
        del ok
        where = np.empty(base.n, dtype=np.int64)
        firsts = []
        for k in range(P):
            ck = order_cust[period_bounds[k]:period_bounds[k + 1]]
            at = np.arange(len(ck))
            where[ck] = at
            firsts.append(ck[where[ck] == at])
        buyers = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
        buyer_bounds = np.concatenate([[0], np.cumsum([len(f) for f in firsts])])
        del firsts, order_cust, where
    if revenue and base.orders is not None:
        k_rev = period_index(base.orders.day, periods)
    kept_rev = None  # per (cohort, period, segment) the revenue an engine summed
    if revenue and keeps_orders(base):
        kept_rev = base.engine.cohort_revenue(*bounds_days(periods), seg if by else None)

    # Only the cohorts that have members are followed: cells are (cohorts present) x
    # offsets, not periods x periods (a weekly series of decades with few cohorts
    # would otherwise allocate periods squared). An empty cohort is not followed: every
    # value of it would be null, so it has one row, offset 0 (its size, 0, says why).
    in_a_cohort = cohort >= 0
    present = np.flatnonzero(np.bincount(cohort[in_a_cohort], minlength=P))
    C = len(present)
    dense = np.full(P, -1, dtype=np.int64)
    dense[present] = np.arange(C)
    ci = np.where(in_a_cohort, dense[np.maximum(cohort, 0)], -1)

    def place(cells: np.ndarray, k: int, counts: np.ndarray) -> None:
        """Counts per cohort present in period k go to offset k - cohort."""
        ok = present <= k
        cells[np.flatnonzero(ok), k - present[ok]] = counts[ok]

    def triangle(member: np.ndarray, s: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        size = np.bincount(ci[member], minlength=C)
        cells = np.zeros((C, P))
        if counted is not None:  # the whole base (no segments), counted by the engine
            c, k, n = counted
            cells[dense[c], k - c] = n
        for k in range(P if counted is None else 0):
            if model == "contract":  # active at the end of period k
                who = np.flatnonzero(active_at_end[k] & member)
            else:  # bought in period k (a cohort's buyers from its own period on)
                who = buyers[buyer_bounds[k]:buyer_bounds[k + 1]]
                who = who[member[who]]
            place(cells, k, np.bincount(ci[who], minlength=C))
        rev = None
        if revenue and base.orders is not None:
            ro = base.orders
            ok = (k_rev >= 0) & member[ro.cust] & (k_rev >= cohort[ro.cust])
            c = ci[ro.cust[ok]]
            rev = np.bincount(c * P + (k_rev[ok] - cohort[ro.cust[ok]]), weights=np.nan_to_num(ro.amount[ok]),
                              minlength=C * P).reshape(C, P)
        elif kept_rev is not None:  # the whole base (s None): its segments' sums added up
            c, k, sk, r = kept_rev
            mine = np.ones(len(c), dtype=bool) if s is None else sk == s
            rev = np.bincount(dense[c[mine]] * P + (k[mine] - c[mine]), weights=r[mine],
                              minlength=C * P).reshape(C, P)
        return size, cells, rev

    blocks = [(None, in_a_cohort)] + [(s, in_a_cohort & (seg == s)) for s in range(n_seg)]
    c_idx, off_idx = np.divmod(np.arange(C * P), P)
    keep = present[c_idx] + off_idx < P
    # rows: each offset of the cohorts present, and offset 0 alone of an empty one
    absent = np.setdiff1d(np.arange(P), present)
    row_c = np.concatenate([present[c_idx[keep]], absent])
    row_off = np.concatenate([off_idx[keep], np.zeros(len(absent), dtype=np.int64)])
    no_row = np.zeros(len(absent))
    frames = []
    for s, member in blocks:
        size, cells, rev = triangle(member, s)
        f = pd.DataFrame({
            "cohort": [periods[c].label for c in row_c],
            "_c": row_c,
            "offset": row_off,
            "cohort_size": np.concatenate([size[c_idx[keep]], no_row]).astype(np.int64),
            "active": np.concatenate([cells.ravel()[keep], no_row]).astype(np.int64),
        })
        for j, b in enumerate(by):
            f.insert(1 + j, b, ALL if s is None else labels.loc[s, b])
        f["_s"] = -1 if s is None else s
        f["retention"] = ratio(f["active"].to_numpy(), f["cohort_size"].to_numpy())
        if relative == "previous":
            prev = f.groupby("cohort", sort=False)["active"].shift(1)
            f["retention_relative"] = ratio(f["active"].to_numpy(), prev.to_numpy(dtype=float))
            f.loc[f["offset"] == 0, "retention_relative"] = np.nan
        if rev is not None:
            cum = np.concatenate([np.cumsum(rev, axis=1).ravel()[keep], no_row])
            f["cumulative_revenue_per_member"] = ratio(cum, f["cohort_size"].to_numpy())
        frames.append(f)
    out = pd.concat(frames, ignore_index=True).sort_values(["_c", "_s", "offset"], kind="stable")
    return out.drop(columns=["_c", "_s"]).reset_index(drop=True)

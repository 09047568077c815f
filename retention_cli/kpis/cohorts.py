"""Cohorts (SPEC §4.2): customers grouped by the period of their first purchase
(contract model: of their signup), followed over the periods that come after.

For cohort c and offset k = 0, 1, …: active = cohort members with an order in
period c + k (contract model: active at the end of c + k); retention = active /
cohort_size. Only offsets whose period is inside the requested series are given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention_cli.kpis.base import ratio
from retention_cli.kpis.purchasing import period_index
from retention_cli.model.customers import NEVER, Base, active_matrix, activity_intervals, first_event
from retention_cli.periods import Period, bounds_days

COHORT_COLUMNS = ["cohort", "offset", "cohort_size", "active", "retention"]


def cohort_table(base: Base, periods: list[Period], model: str, window: int,
                 revenue: bool = False, relative: str | None = None) -> pd.DataFrame:
    P = len(periods)
    first = first_event(base, model)
    cohort = period_index(np.where(first < NEVER, first, np.iinfo(np.int64).min // 4), periods)
    members = cohort >= 0
    size = np.bincount(cohort[members], minlength=P)

    if model == "contract":
        _, ends = bounds_days(periods)
        active = active_matrix(base.n, activity_intervals(base, model, window), ends)
        counts = np.zeros((P, P))
        for j in range(P):  # one bincount per period end
            who = active[:, j] & members
            counts[:, j] = np.bincount(cohort[who], minlength=P)
        # column j is period j; turn it into offsets j - c
        cells = np.zeros((P, P))
        for c in range(P):
            cells[c, : P - c] = counts[c, c:]
    else:
        o = base.orders
        buy = ~o.is_return
        k = period_index(o.day, periods)
        ok = buy & (k >= 0) & (cohort[o.cust] >= 0) & (k >= cohort[o.cust])
        c = cohort[o.cust[ok]]
        off = k[ok] - c
        pairs = np.unique((c * P + off) * np.int64(base.n) + o.cust[ok])
        cells = np.bincount(pairs // base.n, minlength=P * P).reshape(P, P).astype(float)

    c_idx, off_idx = np.divmod(np.arange(P * P), P)
    keep = c_idx + off_idx < P
    out = pd.DataFrame({
        "cohort": [periods[c].label for c in c_idx[keep]],
        "offset": off_idx[keep],
        "cohort_size": size[c_idx[keep]],
        "active": cells.ravel()[keep].astype(np.int64),
    })
    out["retention"] = ratio(out["active"].to_numpy(), out["cohort_size"].to_numpy())
    if relative == "previous":
        prev = out.groupby("cohort", sort=False)["active"].shift(1)
        out["retention_relative"] = ratio(out["active"].to_numpy(), prev.to_numpy(dtype=float))
        out.loc[out["offset"] == 0, "retention_relative"] = np.nan
    if revenue and base.orders is not None:
        o = base.orders
        k = period_index(o.day, periods)
        ok = (k >= 0) & (cohort[o.cust] >= 0) & (k >= cohort[o.cust])
        c = cohort[o.cust[ok]]
        rev = np.bincount(c * P + (k[ok] - c), weights=np.nan_to_num(o.amount[ok]), minlength=P * P).reshape(P, P)
        cum = np.cumsum(rev, axis=1).ravel()[keep]
        out["cumulative_revenue_per_member"] = ratio(cum, out["cohort_size"].to_numpy())
    return out

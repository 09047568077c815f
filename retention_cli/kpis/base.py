"""Customer-base KPIs (SPEC §3): the flows of customers between period starts and
ends, churn and retention with a Wilson interval. Pure functions: no files, no
clock, no printing; inputs are never modified.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from retention_cli.model.customers import Base, Facts, facts_for, first_event
from retention_cli.periods import Period, bounds_days

ALL = "(all)"
MISSING = "(missing)"
Z95 = 1.959963984540054  # two-sided 95 % normal quantile

CHURN_COLUMNS = [
    "customers_start", "customers_end", "new_customers", "lost_customers", "retained_customers",
    "reactivated_customers", "churn_rate", "churn_rate_low", "churn_rate_high", "retention_rate",
]
CHURN_RATIOS = ("churn_rate", "churn_rate_low", "churn_rate_high", "retention_rate")


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, null (NaN) where the denominator is 0 (SPEC §3)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def wilson(p: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval of a proportion p observed on n (Wilson 1927);
    null where n is 0 or p is not in [0, 1]."""
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low, high = centre - half, centre + half
    # Not a proportion (the `average` denominator can exceed 1): no interval.
    bad = (n <= 0) | np.isnan(p) | (p < 0) | (p > 1)
    # at p = 0 (or 1) the bound is 0 (or 1) exactly; the arithmetic leaves 4e-19
    low[p == 0] = 0.0
    high[p == 1] = 1.0
    low[bad] = np.nan
    high[bad] = np.nan
    return np.clip(low, 0, 1), np.clip(high, 0, 1)


def _clean(values: pd.Series) -> np.ndarray:
    v = values.astype(object)
    return v.where(v.notna() & (v.astype(str).str.strip() != ""), MISSING).astype(str).to_numpy()


def _codes(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Codes of the value combinations of ``frame``'s rows, and the combinations sorted."""
    labels = frame.drop_duplicates().sort_values(by, kind="stable").reset_index(drop=True)
    if len(by) > 1:
        codes = pd.MultiIndex.from_frame(labels).get_indexer(pd.MultiIndex.from_frame(frame))
    else:
        codes = pd.Index(labels[by[0]]).get_indexer(frame[by[0]])
    return codes.astype(np.int64), labels


def _unknown(b: str, base: Base) -> Exception:
    from retention_cli.errors import UsageError

    attrs = list(base.attributes.columns) if base.attributes is not None else []
    events = list(base.orders.extras.columns) if base.orders is not None and base.orders.extras is not None else []
    known = ", ".join(attrs + events) or "none"
    from retention_cli.io.schemas import SCHEMAS

    if any(c.name == b for c in SCHEMAS["purchases"]):  # mapped: read as the orders' own value, not a label
        return UsageError(f"--by {b}: {b} is one of the purchases' own columns (an order's lines can differ in it), "
                          f"not a segment; split by a customers attribute or another purchases column "
                          f"(customers attributes: {', '.join(attrs) or 'none'})")
    return UsageError(f"--by {b}: not a customers attribute nor a purchases column (known: {known})")


def segment_codes(base: Base, by: list[str], facts: Facts | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Per customer code, the code of its segment (the combination of the ``by``
    customers attributes; empty -> "(missing)"), and the segments' labels sorted.
    With the run's ``facts``, made once per ``by`` and kept there."""
    if facts is not None and facts.base is base:
        key = tuple(by)
        if key not in facts.segments:
            facts.segments[key] = segment_codes(base, by)
        return facts.segments[key]
    if not by:
        return np.zeros(base.n, dtype=np.int64), pd.DataFrame(index=[0])
    attrs = base.attributes
    for b in by:
        if attrs is None or b not in attrs:
            if base.orders is not None and base.orders.extras is not None and b in base.orders.extras:
                from retention_cli.errors import UsageError

                raise UsageError(f"--by {b}: a purchases column; customer counts need a customers attribute "
                                 "(a customer can have several values of an order's column)")
            raise _unknown(b, base)
    frame = pd.DataFrame({b: _clean(attrs[b].reindex(range(base.n))) for b in by})
    return _codes(frame, by)


def order_segments(base: Base, by: list[str], facts: Facts | None = None) -> tuple[np.ndarray, pd.DataFrame, bool]:
    """Per order, the code of its segment; the labels; and whether every ``by``
    column is a customers attribute (then a customer belongs to one segment)."""
    o = base.orders
    attrs = base.attributes
    if all(attrs is not None and b in attrs for b in by):
        codes, labels = segment_codes(base, by, facts)
        return codes[o.cust], labels, True
    cols = {}
    for b in by:
        if attrs is not None and b in attrs:
            cols[b] = _clean(attrs[b].reindex(range(base.n)))[o.cust]
        elif o.extras is not None and b in o.extras:
            cols[b] = _clean(o.extras[b])
        else:
            raise _unknown(b, base)
    codes, labels = _codes(pd.DataFrame(cols), by)
    return codes, labels, False


def states(base: Base, periods: list[Period], model: str, window: int, facts: Facts | None = None):
    """Per period k: (k, period, S, E, N) as boolean vectors over customer codes:
    active at the start, active at the end, new in the period (SPEC §3). The
    states come from the run's activity matrix (``facts``): rows, not copies."""
    activity = facts_for(facts, base, model, window).activity
    starts, ends = bounds_days(periods)
    activity.need(np.concatenate([starts, ends]))
    at_start, at_end = activity.rows(starts), activity.rows(ends)
    first = first_event(base, model)
    for k, p in enumerate(periods):  # one step per period: a handful of vector ops
        yield k, p, at_start[k], at_end[k], (first >= starts[k]) & (first < ends[k])


def churn_flows(base: Base, periods: list[Period], model: str, window: int, data_end: date,
                denominator: str = "start", by: list[str] | None = None,
                facts: Facts | None = None) -> pd.DataFrame:
    """One row per (period, segment) with the flows and rates of SPEC §3; the total
    over all segments first in each period, with "(all)" in the ``by`` columns."""
    by = by or []
    seg, labels = segment_codes(base, by, facts)
    n_seg = len(labels)

    rows = []
    for k, p, S, E, N in states(base, periods, model, window, facts):
        flows = {
            "customers_start": S, "customers_end": E, "new_customers": N,
            "lost_customers": S & ~E, "retained_customers": S & E, "reactivated_customers": E & ~S & ~N,
        }
        total = {name: np.array([m.sum()]) for name, m in flows.items()}
        per_seg = {name: np.bincount(seg[m], minlength=n_seg) for name, m in flows.items()} if by else total
        for counts, seg_labels in ((total, None), (per_seg, labels)):
            block = pd.DataFrame({name: v.astype(np.int64) for name, v in counts.items()})
            block.insert(0, "period", p.label)
            for b in by:
                block.insert(1 + by.index(b), b, ALL if seg_labels is None else seg_labels[b].to_numpy())
            block.insert(1 + len(by), "complete", p.complete(data_end))
            rows.append(block)
        if not by:
            rows.pop()  # the single segment is the total
    out = pd.concat(rows, ignore_index=True)
    den = {
        "start": out["customers_start"],
        "start_plus_new": out["customers_start"] + out["new_customers"],
        "average": (out["customers_start"] + out["customers_end"]) / 2,
    }[denominator].to_numpy(dtype=float)
    out["churn_rate"] = ratio(out["lost_customers"], den)
    out["churn_rate_low"], out["churn_rate_high"] = wilson(out["churn_rate"].to_numpy(), den)
    out["retention_rate"] = 1 - out["churn_rate"]
    return out


GAP_PERCENTILES = (50, 75, 90, 95, 99)


def purchase_gaps(base: Base) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(purchase days, repeat customers, gap values, how many gaps of each): the gaps
    in days between a customer's consecutive purchase days (several orders on one
    day are one purchase; returns are not purchases), counted per value (ascending);
    by the engine that keeps the orders, when one does."""
    o = base.orders
    if o is None and base.engine is not None:
        return base.engine.purchase_gaps()
    buy = ~o.is_return
    cust, day = o.cust[buy], o.day[buy]
    order = np.lexsort((day, cust))
    cust, day = cust[order], day[order]
    distinct = np.concatenate([[True], (cust[1:] != cust[:-1]) | (day[1:] != day[:-1])]) if len(cust) else np.array([], bool)
    cust, day = cust[distinct], day[distinct]
    same = cust[1:] == cust[:-1]
    values, counts = np.unique((day[1:] - day[:-1])[same], return_counts=True)
    return int(len(day)), int(len(np.unique(cust[1:][same]))), values, counts


def percentiles_higher(values: np.ndarray, counts: np.ndarray, q) -> np.ndarray:
    """The percentiles ``q`` of the observations ``values`` (ascending, distinct),
    each seen ``counts`` times, by numpy's method "higher" (the observed value at
    the virtual index q/100 × (n - 1) rounded up, as numpy works it out)."""
    n = int(counts.sum())
    qq = np.true_divide(np.asarray(q, dtype=float), 100)
    at = np.clip(np.ceil((n - 1) * qq), 0, n - 1).astype(np.int64)
    return values[np.searchsorted(np.cumsum(counts), at, side="right")]


def suggest_window(base: Base) -> tuple[pd.DataFrame, int | None, str]:
    """Gaps in days between a customer's consecutive purchase days (several
    orders on one day are one purchase; returns are not purchases), their
    percentiles, and W = the 90th percentile rounded up to a multiple of 30."""
    n_days, repeaters, gap_values, gap_counts = purchase_gaps(base)
    n_gaps = int(gap_counts.sum())
    rows = [("purchase_days", n_days), ("gaps", n_gaps), ("repeat_customers", repeaters)]
    if n_gaps == 0:
        return pd.DataFrame(rows, columns=["statistic", "days"]), None, \
            "No customer bought on two different days: there is no gap to learn a window from."
    # 'higher': a percentile is an observed gap, never an interpolated one
    values = percentiles_higher(gap_values, gap_counts, GAP_PERCENTILES)
    rows += [(f"p{q}", int(v)) for q, v in zip(GAP_PERCENTILES, values)]
    w = int(math.ceil(values[2] / 30) * 30) or 30
    rows.append(("proposed_window", w))
    sentence = (f"90 % of repeat purchases come within {int(values[2])} days of the previous one; "
                f"with churn.inactivity_days: {w}, a customer who has not bought for {w} days counts as lost.")
    return pd.DataFrame(rows, columns=["statistic", "days"]), w, sentence

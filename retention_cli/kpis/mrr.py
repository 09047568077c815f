"""Monthly recurring revenue and its movements (SPEC §1 subscriptions, as §4.1's
revenue bridge): what the subscriptions that pay at a period's start and end bring
each month, and how it moved customer by customer between the two (new,
reactivation, expansion, contraction, churned).

A subscription pays at instant t (the start of a day) when its paying start < t and
(it is open or its end >= t), as a customer is active under the contract model; a
customer's MRR at t is the sum of the monthly amounts of their subscriptions paying
at t (the reader turned each amount into a monthly one: docs/exports.md). Amounts
are counted in cents (each subscription's MRR rounded to the cent, as billing
platforms keep it), so that mrr_start + new + reactivation + expansion − contraction
− churned = mrr_end holds exactly, not to a rounding error.

Pure functions: no files, no clock, no printing; inputs are never modified.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from retention_cli.kpis.base import ALL, ratio, segment_codes
from retention_cli.model.customers import NEVER, Base, Facts, Subscriptions
from retention_cli.periods import Period, bounds_days

MRR_COLUMNS = [
    "mrr_start", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "mrr_end",
    "net_new_mrr", "paying_customers_start", "paying_customers_end", "arpa_end", "net_mrr_retention",
    "gross_mrr_retention",
]
MRR_MONEY = ("mrr_start", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "mrr_end",
             "net_new_mrr", "arpa_end")
MRR_COUNTS = ("paying_customers_start", "paying_customers_end")
MRR_RATIOS = ("net_mrr_retention", "gross_mrr_retention")
MOVEMENTS = ("new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr")


def in_cents(mrr: np.ndarray) -> np.ndarray:
    """Monthly amounts in whole cents (int64); no amount (NaN) is 0."""
    return np.rint(np.nan_to_num(np.asarray(mrr, dtype=np.float64)) * 100).astype(np.int64)


def mrr_at(subs: Subscriptions, cents: np.ndarray, instant: int, n_customers: int) -> np.ndarray:
    """Per customer code, their MRR in cents at ``instant`` (a day number): the sum of
    their subscriptions paying then."""
    on = (subs.start < instant) & (subs.end >= instant)
    # the weights are whole numbers far below 2**53: the float sums are exact
    return np.rint(np.bincount(subs.cust[on], weights=cents[on], minlength=n_customers)).astype(np.int64)


def first_paid(subs: Subscriptions, cents: np.ndarray, n_customers: int) -> np.ndarray:
    """Per customer code, the paying start of their first subscription with an
    amount above 0 (NEVER: none)."""
    first = np.full(n_customers, NEVER, dtype=np.int64)
    paid = (cents > 0) & (subs.end > subs.start)  # one that ends on its first day never pays
    np.minimum.at(first, subs.cust[paid], subs.start[paid])
    return first


def movements(before: np.ndarray, after: np.ndarray, paid_before: np.ndarray) -> dict[str, np.ndarray]:
    """Per customer, the movement of their MRR from ``before`` to ``after`` (cents), as
    the revenue bridge's: new (none before, some after, and never any before),
    reactivation (none before, some after, some earlier), expansion and contraction
    (some at both: the rise, the fall as a positive amount), churned (some before,
    none after: what there was). ``paid_before``: whether the customer had MRR at
    some instant up to ``before``'s. Exactly: Σ after − Σ before = new + reactivation
    + expansion − contraction − churned."""
    started = (before == 0) & (after > 0)
    both = (before > 0) & (after > 0)
    return {
        "new_mrr": np.where(started & ~paid_before, after, 0),
        "reactivation_mrr": np.where(started & paid_before, after, 0),
        "expansion_mrr": np.where(both & (after > before), after - before, 0),
        "contraction_mrr": np.where(both & (after < before), before - after, 0),
        "churned_mrr": np.where((before > 0) & (after == 0), before, 0),
    }


def mrr_table(base: Base, periods: list[Period], data_end: date, by: list[str] | None = None,
              facts: Facts | None = None) -> pd.DataFrame:
    """One row per (period, segment): MRR at the period's start and end, its
    movements in between (``movements``), net new MRR, the customers paying at the
    start and end, the average MRR per paying customer at the end (arpa_end), and
    net and gross MRR retention ((mrr_start − churned − contraction [+ expansion]) /
    mrr_start, null without MRR at the start). The total over all segments first in
    each period, "(all)" in the ``by`` columns; segments are customers attributes."""
    subs = base.subscriptions
    if subs is None:
        raise ValueError("mrr_table needs a base with subscriptions")
    by = by or []
    seg, labels = segment_codes(base, by, facts)
    n_seg = len(labels)
    n = base.n
    cents = in_cents(subs.mrr)
    first = first_paid(subs, cents, n)
    starts, ends = bounds_days(periods)
    at: dict[int, np.ndarray] = {}  # one pass over the subscriptions per distinct instant

    def mrr(t: int) -> np.ndarray:
        if t not in at:
            at[t] = mrr_at(subs, cents, t, n)
        return at[t]

    rows = []
    for k, p in enumerate(periods):  # one step per period: a handful of vector ops
        before, after = mrr(int(starts[k])), mrr(int(ends[k]))
        # had MRR at an instant up to s: a paid subscription's first paying instant
        # (its start + 1) is s or earlier
        values = {"mrr_start": before, **movements(before, after, first < starts[k]), "mrr_end": after,
                  "paying_customers_start": (before > 0).astype(np.int64),
                  "paying_customers_end": (after > 0).astype(np.int64)}
        total = {c: np.array([v.sum()], dtype=np.int64) for c, v in values.items()}
        # per segment: whole numbers far below 2**53 as float weights, summed exactly
        per_seg = {c: np.rint(np.bincount(seg, weights=v, minlength=n_seg)).astype(np.int64)
                   for c, v in values.items()} if by else None
        for counts, seg_labels in ((total, None), (per_seg, labels)):
            if counts is None:
                continue
            block = pd.DataFrame(counts)
            block.insert(0, "period", p.label)
            for j, b in enumerate(by):
                block.insert(1 + j, b, ALL if seg_labels is None else seg_labels[b].to_numpy())
            block.insert(1 + len(by), "complete", p.complete(data_end))
            rows.append(block)
    out = pd.concat(rows, ignore_index=True)
    out["net_new_mrr"] = out["mrr_end"] - out["mrr_start"]
    start = out["mrr_start"].to_numpy(dtype=float)
    kept = start - out["churned_mrr"].to_numpy(dtype=float) - out["contraction_mrr"].to_numpy(dtype=float)
    net = ratio(kept + out["expansion_mrr"].to_numpy(dtype=float), start)
    gross = ratio(kept, start)
    arpa = ratio(out["mrr_end"].to_numpy(dtype=float), out["paying_customers_end"].to_numpy(dtype=float))
    for c in ("mrr_start", *MOVEMENTS, "mrr_end", "net_new_mrr"):  # cents -> currency units
        out[c] = out[c].to_numpy(dtype=np.int64) / 100
    out["arpa_end"] = arpa / 100
    out["net_mrr_retention"], out["gross_mrr_retention"] = net, gross
    return out[["period", *by, "complete", *MRR_COLUMNS]]

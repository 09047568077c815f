"""Complaint handling (SPEC §4.4): volumes, resolution, backlog, traceability, the
return rate of complainers by outcome, and the reasons lost customers give.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from retention_cli.errors import UsageError
from retention_cli.kpis.base import ALL, MISSING, churn_flows, ratio, states
from retention_cli.kpis.purchasing import period_index
from retention_cli.model.customers import NEVER, Base, day_numbers
from retention_cli.periods import Period, bounds_days

COMPLAINT_COLUMNS = [
    "complaints", "complaining_customers", "complaint_rate", "complaints_per_100_orders", "resolved_share",
    "median_resolution_days", "mean_resolution_days", "sla_attainment", "open_backlog_end", "traceability_share",
    "return_rate_resolved_fast", "return_rate_resolved_slow", "return_rate_unresolved", "return_rate_no_complaint",
    "customers_resolved_fast", "customers_resolved_slow", "customers_unresolved", "customers_no_complaint",
]
COMPLAINT_RATIOS = ("complaint_rate", "resolved_share", "sla_attainment", "traceability_share",
                    "return_rate_resolved_fast", "return_rate_resolved_slow", "return_rate_unresolved",
                    "return_rate_no_complaint")
# Seed 000: 95 % of complainers whose problem is solved fast buy again; 54-70 % of
# those whose problem is solved; (SPEC §4.5) 9 % of the unresolved, as the silent.
BENCHMARKS = {"return_rate_resolved_fast": "0.95", "return_rate_resolved_slow": "0.54-0.70",
              "return_rate_unresolved": "0.09"}
OUTCOMES = ("resolved_fast", "resolved_slow", "unresolved")


def _segment_values(complaints: pd.DataFrame, base: Base | None, by: list[str]) -> tuple[pd.DataFrame, bool]:
    """The ``by`` value of each complaint, and whether all of them are customers
    attributes (then the customer base can be split the same way)."""
    cols, customer_level = {}, True
    codes = base.ids.get_indexer(complaints["customer_id"]) if base is not None else None
    for b in by:
        if base is not None and base.attributes is not None and b in base.attributes:
            attr = base.attributes[b].reindex(range(base.n)).to_numpy()
            v = pd.Series(np.where(codes >= 0, attr[np.clip(codes, 0, None)], None), index=complaints.index)
        elif b in complaints.columns:
            v = complaints[b]
            customer_level = False
        else:
            raise UsageError(f"--by {b}: not a complaints column nor a customers attribute")
        v = v.astype(object)
        cols[b] = v.where(v.notna() & (v.astype(str).str.strip() != ""), MISSING).astype(str)
    return pd.DataFrame(cols, index=complaints.index), customer_level


def complaint_table(complaints: pd.DataFrame, periods: list[Period], *, data_end: date, base: Base | None,
                    model: str, window: int, sla_days: float, by: list[str] | None = None) -> pd.DataFrame:
    by = by or []
    opened = day_numbers(complaints["opened_date"])
    resolved = day_numbers(complaints["resolved_date"]) if "resolved_date" in complaints else np.full(len(opened), NEVER)
    end_day = (pd.Timestamp(data_end) - pd.Timestamp("1970-01-01")).days
    # a resolution dated after the data end is not known yet
    resolved = np.where(resolved < end_day, resolved, NEVER)
    k = period_index(opened, periods)
    seg_df, customer_level = _segment_values(complaints, base, by)
    seg_key = seg_df.astype(str).agg("\x1f".join, axis=1).to_numpy() if by else np.zeros(len(opened), dtype=object)
    status = complaints["status"].notna() & (complaints["status"].astype(str).str.strip() != "") if "status" in complaints else pd.Series(False, index=complaints.index)
    category = complaints["category"].notna() & (complaints["category"].astype(str).str.strip() != "") if "category" in complaints else pd.Series(False, index=complaints.index)
    traceable = ((status.to_numpy() | (resolved < NEVER)) & category.to_numpy())
    days_to = np.where(resolved < NEVER, resolved - opened, np.nan).astype(float)
    is_resolved = resolved < NEVER
    fast = is_resolved & (days_to <= sla_days)
    outcome = np.where(fast, "resolved_fast", np.where(is_resolved, "resolved_slow", "unresolved"))
    starts, ends = bounds_days(periods)
    cust = complaints["customer_id"].to_numpy()

    frame = pd.DataFrame({"k": k, "seg": seg_key, "cust": cust, "opened": opened, "resolved": resolved,
                          "days": days_to, "is_resolved": is_resolved, "fast": fast, "traceable": traceable,
                          "outcome": outcome})
    for b in by:
        frame[b] = seg_df[b].to_numpy()

    # return after a complaint: the first complaint of the period per customer decides
    buy_days = None
    if base is not None and base.orders is not None:
        o = base.orders
        b_ok = ~o.is_return
        buy_days = pd.DataFrame({"cust": o.cust[b_ok], "day": o.day[b_ok]})

    rows = []
    segs = [(None, np.ones(len(frame), dtype=bool))]
    labels = frame[by].drop_duplicates().sort_values(by).itertuples(index=False) if by else []
    for lab in labels:
        mask = np.ones(len(frame), dtype=bool)
        for b, v in zip(by, lab):
            mask &= frame[b].to_numpy() == v
        segs.append((dict(zip(by, lab)), mask))
    orders_per = None  # orders per period: total, and per customers-attribute segment
    if base is not None and base.orders is not None:
        o = base.orders
        k_o = period_index(o.day, periods)
        ok = (k_o >= 0) & ~o.is_return
        orders_per = {None: np.bincount(k_o[ok], minlength=len(periods))}
        if by and customer_level:
            from retention_cli.kpis.base import segment_codes

            seg_of, seg_labels = segment_codes(base, by)
            counts = np.bincount(k_o[ok] * len(seg_labels) + seg_of[o.cust[ok]],
                                 minlength=len(periods) * len(seg_labels)).reshape(len(periods), -1)
            for j, lab_row in enumerate(seg_labels.itertuples(index=False)):
                orders_per[tuple(lab_row)] = counts[:, j]
    flows = None
    if base is not None and (base.orders is not None or model == "contract"):
        flows = churn_flows(base, periods, model, window, data_end, "start", by if customer_level else [])
    for i, p in enumerate(periods):
        for lab, mask in segs:
            f = frame[mask & (k == i)]
            row = {"period": p.label, **({b: ALL for b in by} if lab is None else lab), "complete": p.complete(data_end)}
            n = len(f)
            row["complaints"] = n
            row["complaining_customers"] = f["cust"].nunique()
            if flows is not None:
                sel = flows["period"] == p.label
                for b in (by if customer_level else []):
                    sel &= flows[b] == (ALL if lab is None else lab[b])
                fr = flows[sel].iloc[0]
                row["complaint_rate"] = ratio(row["complaining_customers"], fr.customers_start + fr.new_customers).item()
            if orders_per is not None and (lab is None or customer_level):
                n_orders = orders_per[None if lab is None else tuple(lab[b] for b in by)][i]
                row["complaints_per_100_orders"] = ratio(100 * n, n_orders).item()
            row["resolved_share"] = ratio(f["is_resolved"].sum(), n).item()
            res = f["days"].dropna()
            row["median_resolution_days"] = float(res.median()) if len(res) else np.nan
            row["mean_resolution_days"] = float(res.mean()) if len(res) else np.nan
            row["sla_attainment"] = ratio(f["fast"].sum(), n).item()
            # backlog: opened before e and not resolved before e, whenever opened
            allf = frame[mask]
            row["open_backlog_end"] = int(((allf["opened"] < ends[i]) & (allf["resolved"] >= ends[i])).sum())
            row["traceability_share"] = ratio(f["traceable"].sum(), n).item()
            if buy_days is not None:
                row.update(_return_rates(f, base, buy_days, starts[i], window, end_day,
                                         None if lab is None or not customer_level else _customer_mask(base, by, lab),
                                         frame[k == i]["cust"].unique()))
            rows.append(row)
    out = pd.DataFrame(rows)
    order = [c for c in ["period", *by, "complete", *COMPLAINT_COLUMNS] if c in out]
    return out[order]


def _customer_mask(base: Base, by: list[str], lab: dict) -> np.ndarray:
    mask = np.ones(base.n, dtype=bool)
    for b in by:
        v = base.attributes[b].reindex(range(base.n)).astype(object)
        v = v.where(v.notna() & (v.astype(str).str.strip() != ""), MISSING).astype(str).to_numpy()
        mask &= v == lab[b]
    return mask


def _return_rates(f: pd.DataFrame, base: Base, buy_days: pd.DataFrame, start: int, window: int,
                  end_day: int, seg_mask: np.ndarray | None, complainers_in_period: np.ndarray) -> dict:
    """Share of customers who buy again within W days: after their first complaint of
    the period (1 to W days after it was opened), by its outcome; and, for the
    customers active at the period start who did not complain in it, within W days
    from the start. Only customers whose W days end before the data end count."""
    out: dict = {}
    first = f.sort_values(["opened"], kind="stable").drop_duplicates("cust")
    codes = base.ids.get_indexer(first["cust"])
    first = first.assign(code=codes)[codes >= 0]
    first = first[first["opened"] + window < end_day]
    bought = _bought_within(buy_days, first["code"].to_numpy(), first["opened"].to_numpy() + 1, window)
    for name in OUTCOMES:
        m = (first["outcome"] == name).to_numpy()
        out[f"customers_{name}"] = int(m.sum())
        out[f"return_rate_{name}"] = ratio(bought[m].sum(), m.sum()).item()
    # non-complainers: customers active at the start (bought in [s - W, s - 1])
    active = buy_days[(buy_days["day"] >= start - window) & (buy_days["day"] < start)]["cust"].unique()
    complained = base.ids.get_indexer(pd.Index(complainers_in_period))
    silent = np.setdiff1d(active, complained)
    if seg_mask is not None:
        silent = silent[seg_mask[silent]]
    if start + window - 1 < end_day:
        b = _bought_within(buy_days, silent, np.full(len(silent), start), window)
        out["customers_no_complaint"] = int(len(silent))
        out["return_rate_no_complaint"] = ratio(b.sum(), len(silent)).item()
    else:
        out["customers_no_complaint"] = 0
        out["return_rate_no_complaint"] = np.nan
    return out


def _bought_within(buy_days: pd.DataFrame, codes: np.ndarray, from_day: np.ndarray, window: int) -> np.ndarray:
    """For each (customer, from_day): a purchase dated in [from_day, from_day + W - 1]?
    One sort of the purchases and a searchsorted per side; no loop per customer."""
    if len(codes) == 0:
        return np.zeros(0, dtype=bool)
    b = buy_days.sort_values(["cust", "day"], kind="stable")
    key = b["cust"].to_numpy() * np.int64(1 << 31) + b["day"].to_numpy()
    lo = np.searchsorted(key, codes * np.int64(1 << 31) + from_day, side="left")
    hi = np.searchsorted(key, codes * np.int64(1 << 31) + from_day + window, side="left")
    return hi > lo


# --- churn reasons -------------------------------------------------------------------

# SPEC §4.4, seeds: why customers leave.
REASON_BENCHMARK = {"died": 0.01, "moved": 0.03, "alternatives": 0.05, "competition": 0.09,
                    "product": 0.14, "treatment": 0.68}
UNCONTROLLABLE = ("died", "moved")


def churn_reasons(base: Base, periods: list[Period], *, model: str, window: int, data_end: date,
                  mapping: dict[str, str]) -> pd.DataFrame:
    """Per period: the lost customers by reason (free text mapped to the benchmark's
    categories through ``mapping``; unmapped text stays as written), their share of
    the lost customers with a known reason beside the seed benchmark, and the share
    the company controls (all but died and moved)."""
    if base.attributes is None or "churn_reason" not in base.attributes:
        raise UsageError("churn reasons need customers.churn_reason")
    raw = base.attributes["churn_reason"].reindex(range(base.n)).astype(object)
    norm = {k.strip().lower(): v for k, v in mapping.items()}
    text = raw.where(raw.notna() & (raw.astype(str).str.strip() != ""), None)
    reason = text.map(lambda v: None if v is None else norm.get(str(v).strip().lower(), str(v).strip()))
    rows = []
    for k, p, S, E, N in states(base, periods, model, window):
        lost = S & ~E
        r = reason[lost]
        n_lost = int(lost.sum())
        counts = r.value_counts()
        known = int(counts.sum())
        names = list(REASON_BENCHMARK) + sorted(c for c in counts.index if c not in REASON_BENCHMARK)
        for name in names:
            c = int(counts.get(name, 0))
            rows.append({"period": p.label, "reason": name, "mapped": name in REASON_BENCHMARK,
                         "lost_customers": c, "share_of_known": ratio(c, known).item(),
                         "benchmark_share": REASON_BENCHMARK.get(name, np.nan)})
        rows.append({"period": p.label, "reason": "(missing)", "mapped": False, "lost_customers": n_lost - known,
                     "share_of_known": np.nan, "benchmark_share": np.nan})
        controllable = known - int(sum(counts.get(u, 0) for u in UNCONTROLLABLE))
        rows.append({"period": p.label, "reason": "(controllable)", "mapped": True, "lost_customers": controllable,
                     "share_of_known": ratio(controllable, known).item(),
                     "benchmark_share": 1 - sum(REASON_BENCHMARK[u] for u in UNCONTROLLABLE)})
    return pd.DataFrame(rows)


def outcome_counts(complaints: pd.DataFrame, periods: list[Period], *, data_end: date, sla_days: float) -> pd.DataFrame:
    """Per period: complaining customers by the outcome of their first complaint of
    the period (resolved_fast, resolved_slow, unresolved)."""
    opened = day_numbers(complaints["opened_date"])
    resolved = day_numbers(complaints["resolved_date"]) if "resolved_date" in complaints else np.full(len(opened), NEVER)
    end_day = (pd.Timestamp(data_end) - pd.Timestamp("1970-01-01")).days
    resolved = np.where(resolved < end_day, resolved, NEVER)
    fast = (resolved < NEVER) & (resolved - opened <= sla_days)
    outcome = np.where(fast, "resolved_fast", np.where(resolved < NEVER, "resolved_slow", "unresolved"))
    f = pd.DataFrame({"k": period_index(opened, periods), "cust": complaints["customer_id"].to_numpy(),
                      "opened": opened, "outcome": outcome})
    f = f[f["k"] >= 0].sort_values(["k", "opened"], kind="stable").drop_duplicates(["k", "cust"])
    counts = f.groupby(["k", "outcome"]).size().unstack(fill_value=0).reindex(range(len(periods)), fill_value=0)
    counts = counts.reindex(columns=list(OUTCOMES), fill_value=0)
    counts.insert(0, "period", [p.label for p in periods])
    return counts.reset_index(drop=True)

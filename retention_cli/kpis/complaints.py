"""Complaint handling (SPEC §4.4): volumes, resolution, backlog, traceability, the
return rate of complainers by outcome, and the reasons lost customers give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from retention_cli.errors import UsageError
from retention_cli.kpis.base import ALL, MISSING, churn_flows, ratio, states
from retention_cli.kpis.purchasing import period_index
from retention_cli.model.customers import NEVER, Base, Facts, day_numbers, facts_for, first_event
from retention_cli.periods import Period, bounds_days

COMPLAINT_COLUMNS = [
    "complaints", "complaining_customers", "complaint_rate", "complaints_per_100_orders", "resolved_share",
    "median_resolution_days", "mean_resolution_days", "sla_attainment", "open_backlog_end", "traceability_share",
    "return_rate_resolved_fast", "return_rate_resolved_slow", "return_rate_resolved", "return_rate_unresolved",
    "return_rate_no_complaint",
    "customers_resolved_fast", "customers_resolved_slow", "customers_resolved", "customers_unresolved",
    "customers_no_complaint",
]
COMPLAINT_RATIOS = ("complaint_rate", "resolved_share", "sla_attainment", "traceability_share",
                    "return_rate_resolved_fast", "return_rate_resolved_slow", "return_rate_resolved",
                    "return_rate_unresolved", "return_rate_no_complaint")
# Seed 000: 95 % of complainers whose problem is solved fast buy again; 54-70 % of
# those whose problem is solved; (SPEC §4.5) 9 % of the unresolved, as the silent.
BENCHMARKS = {"return_rate_resolved_fast": "0.95", "return_rate_resolved_slow": "0.54-0.70",
              "return_rate_resolved": "0.54-0.70", "return_rate_unresolved": "0.09"}
OUTCOMES = ("resolved_fast", "resolved_slow", "unresolved")
TIMING_KPIS = ("median_resolution_days", "mean_resolution_days", "sla_attainment")


# --- how each complaint's outcome is known ---------------------------------------------

RESOLVED_DATE, STATUS = "resolved_date", "status"


@dataclass(frozen=True)
class Resolution:
    """What the complaints file says about resolution. ``source``: ``resolved_date``
    (dated: resolved before the data end), ``status`` (a resolved status, as it stood
    at the export: not dated) or None (nothing: every resolution KPI is unknown).
    ``resolved`` per complaint; ``day``: its resolution day (NEVER when not resolved
    or not dated)."""

    source: str | None
    resolved: np.ndarray
    day: np.ndarray

    @property
    def timed(self) -> bool:
        return self.source == RESOLVED_DATE

    def outcomes(self) -> tuple[str, ...]:
        """The outcomes a complainer can be told to have had (return rates by outcome)."""
        if self.timed:
            return ("resolved_fast", "resolved_slow", "resolved", "unresolved")
        return ("resolved", "unresolved") if self.source == STATUS else ()


def _text_matches(s: pd.Series, values: list[str] | tuple[str, ...]) -> np.ndarray:
    """Rows whose text is one of ``values``, compared trimmed and case-insensitively
    (on the distinct values: a status column has a handful)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    wanted = {str(v).strip().casefold() for v in values}
    hit = np.array([str(u).strip().casefold() in wanted for u in uniques], dtype=bool)
    return np.where(codes >= 0, hit[np.clip(codes, 0, None)], False) if len(hit) else np.zeros(len(s), dtype=bool)


def resolution(complaints: pd.DataFrame, *, data_end: date,
               resolved_statuses: list[str] | tuple[str, ...] | None = None) -> Resolution:
    """How each complaint ended, from resolved_date when the file has that column
    (it alone decides then), else from the status column and
    ``complaints.resolved_statuses`` when both are there, else unknown."""
    n = len(complaints)
    never = np.full(n, NEVER, dtype=np.int64)
    if "resolved_date" in complaints:
        end_day = (pd.Timestamp(data_end) - pd.Timestamp("1970-01-01")).days
        day = day_numbers(complaints["resolved_date"])
        # a resolution dated on or after the data end is not known yet
        day = np.where(day < end_day, day, NEVER)
        return Resolution(RESOLVED_DATE, day < NEVER, day)
    if resolved_statuses and "status" in complaints:
        return Resolution(STATUS, _text_matches(complaints["status"], resolved_statuses), never)
    return Resolution(None, np.zeros(n, dtype=bool), never)


def _recorded(complaints: pd.DataFrame, column: str) -> np.ndarray:
    if column not in complaints:
        return np.zeros(len(complaints), dtype=bool)
    v = complaints[column]
    return (v.notna() & (v.astype(str).str.strip() != "")).to_numpy()


def _names(values) -> str:
    return ", ".join(str(v) for v in values)


def complaint_notes(complaints: pd.DataFrame, *, data_end: date,
                    resolved_statuses: list[str] | tuple[str, ...] | None = None,
                    purchases: bool = True) -> list[str]:
    """The warnings that go with ``complaint_table``: which KPIs are null because a
    column is absent, and how resolution was read. ``purchases``: whether the
    return rates are computed (they need purchases)."""
    notes: list[str] = []
    res = resolution(complaints, data_end=data_end, resolved_statuses=resolved_statuses)
    rates = " and the return rates resolved fast and resolved slow" if purchases else ""
    if res.source == RESOLVED_DATE:
        if resolved_statuses:
            notes.append("complaints.resolved_statuses is not used: the complaints file has a resolved_date column, "
                         "which dates each resolution")
        if len(complaints) and not complaints["resolved_date"].notna().any():
            notes.append("the complaints' resolved_date is empty on every row: every complaint counts as unresolved")
    elif res.source == STATUS:
        notes.append(f"the complaints file has no resolved_date: a complaint counts as resolved when its status is "
                     f"one of complaints.resolved_statuses ({_names(resolved_statuses)}), as it stood at the export; "
                     f"{', '.join(TIMING_KPIS)}{rates} are null (they need the resolution date); "
                     "open_backlog_end is known only at the data end (null for the periods that end before it)")
        if len(complaints) and not res.resolved.any():
            found = sorted({str(v).strip() for v in complaints["status"].dropna().unique() if str(v).strip()})
            shown_found = _names(found[:10]) + (f", … ({len(found)} in all)" if len(found) > 10 else "")
            notes.append(f"no complaint's status is one of complaints.resolved_statuses ({_names(resolved_statuses)}); "
                         f"statuses found: {shown_found or 'none'}")
        end_day = (pd.Timestamp(data_end) - pd.Timestamp("1970-01-01")).days
        if (day_numbers(complaints["opened_date"]) >= end_day).any():
            notes.append(f"complaints opened on or after the data end ({data_end}) show that the statuses were "
                         "exported later: a complaint resolved after the data end counts as resolved")
    else:
        why = ("complaints.resolved_statuses is set but the complaints file has no status column"
               if resolved_statuses else
               "set complaints.resolved_statuses to the status values that mean resolved to count them"
               if "status" in complaints else "the file has no status column either")
        rates = " and the return rates by outcome" if purchases else ""
        notes.append(f"the complaints file has no resolved_date: resolved_share, {', '.join(TIMING_KPIS)}, "
                     f"open_backlog_end{rates} are null ({why})")
    if "category" not in complaints:
        notes.append("the complaints file has no category column: traceability_share is null")
    elif res.source is None and "status" not in complaints:
        notes.append("the complaints file has neither status nor resolved_date: traceability_share is null")
    return notes


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
                    model: str, window: int, sla_days: float, by: list[str] | None = None,
                    resolved_statuses: list[str] | tuple[str, ...] | None = None,
                    facts: Facts | None = None, flows: pd.DataFrame | None = None) -> pd.DataFrame:
    """The complaint KPIs per period (and ``by`` segment). What the file cannot say
    is null, never 0: without resolved_date the timing KPIs (and, without
    ``resolved_statuses`` and a status column, every resolution KPI); without a
    category column, traceability (``complaint_notes`` says why). ``flows``: the
    churn flows of the same periods (denominator start, ``by`` when it is made of
    customers attributes) when the caller has them; ``facts``: the run's."""
    by = by or []
    opened = day_numbers(complaints["opened_date"])
    end_day = (pd.Timestamp(data_end) - pd.Timestamp("1970-01-01")).days
    res = resolution(complaints, data_end=data_end, resolved_statuses=resolved_statuses)
    resolved, is_resolved = res.day, res.resolved
    k = period_index(opened, periods)
    seg_df, customer_level = _segment_values(complaints, base, by)
    # traceable: an outcome recorded (a status, or a resolution date) and a category;
    # unknown when the file has no category column or no column for the outcome
    traceability_known = "category" in complaints and ("status" in complaints or "resolved_date" in complaints)
    traceable = (_recorded(complaints, "status") | (resolved < NEVER)) & _recorded(complaints, "category")
    days_to = np.where(resolved < NEVER, resolved - opened, np.nan).astype(float)
    fast = is_resolved & (days_to <= sla_days)
    if res.timed:
        outcome = np.where(fast, "resolved_fast", np.where(is_resolved, "resolved_slow", "unresolved"))
    elif res.source == STATUS:
        outcome = np.where(is_resolved, "resolved", "unresolved")
    else:
        outcome = np.full(len(opened), "unknown")
    starts, ends = bounds_days(periods)
    cust = complaints["customer_id"].to_numpy()

    frame = pd.DataFrame({"k": k, "cust": cust, "opened": opened, "resolved": resolved,
                          "days": days_to, "is_resolved": is_resolved, "fast": fast, "traceable": traceable,
                          "outcome": outcome})
    for b in by:
        frame[b] = seg_df[b].to_numpy()

    # return after a complaint: the first complaint of the period per customer decides
    if base is not None:
        facts = facts_for(facts, base, model, window)
    bought = None
    if base is not None and base.has_purchases:
        # active by purchases at each start (bought in the W days before it) and W
        # days later (bought in the W days from it): one pass for every instant
        bought = facts.purchase_activity
        bought.need(np.concatenate([starts, starts + window]))
    seg_masks: dict = {}

    rows = []
    segs = [(None, np.ones(len(frame), dtype=bool))]
    labels = frame[by].drop_duplicates().sort_values(by).itertuples(index=False) if by else []
    for lab in labels:
        mask = np.ones(len(frame), dtype=bool)
        for b, v in zip(by, lab):
            mask &= frame[b].to_numpy() == v
        segs.append((dict(zip(by, lab)), mask))
    orders_per = None  # orders per period: total, and per customers-attribute segment
    if base is not None and base.has_purchases:
        from retention_cli.kpis.base import segment_codes

        seg_of, seg_labels = segment_codes(base, by, facts) if by and customer_level else (None, None)
        n_seg = len(seg_labels) if seg_labels is not None else 1
        if base.orders is not None:  # purchases per (period, segment)
            o = base.orders
            k_o = period_index(o.day, periods)
            ok = (k_o >= 0) & ~o.is_return
            seg_o = seg_of[o.cust[ok]] if seg_of is not None else 0
            counts = np.bincount(k_o[ok] * n_seg + seg_o, minlength=len(periods) * n_seg).reshape(len(periods), -1)
        else:  # the orders an engine keeps: counted there
            counts = base.engine.purchases_per(starts, ends, seg_of, n_seg)
        orders_per = {None: counts.sum(axis=1)}
        for j, lab_row in enumerate(seg_labels.itertuples(index=False) if seg_labels is not None else ()):
            orders_per[tuple(lab_row)] = counts[:, j]
    has_flows = base is not None and (base.has_purchases or model == "contract")
    if has_flows:
        if flows is None:
            flows = churn_flows(base, periods, model, window, data_end, "start", by if customer_level else [], facts)
        # complaint_rate counts the complainers among the customers it divides by:
        # active at the period start, or new in it (one who complained without
        # being a customer then would make the rate exceed 1)
        first = first_event(base, model)
        facts.activity.need(starts)
        at_start = facts.activity.rows(starts)
        cust_code = base.ids.get_indexer(complaints["customer_id"])
    if bought is not None:
        bought_at = bought.rows(np.concatenate([starts, starts + window]))
    for i, p in enumerate(periods):
        for lab, mask in segs:
            f = frame[mask & (k == i)]
            row = {"period": p.label, **({b: ALL for b in by} if lab is None else lab), "complete": p.complete(data_end)}
            n = len(f)
            row["complaints"] = n
            row["complaining_customers"] = f["cust"].nunique()
            if has_flows:
                sel = flows["period"] == p.label
                for b in (by if customer_level else []):
                    sel &= flows[b] == (ALL if lab is None else lab[b])
                codes = np.unique(cust_code[mask & (k == i)])
                codes = codes[codes >= 0]
                among = at_start[i][codes] | ((first[codes] >= starts[i]) & (first[codes] < ends[i]))
                if sel.any():
                    fr = flows[sel].iloc[0]
                    row["complaint_rate"] = ratio(int(among.sum()), fr.customers_start + fr.new_customers).item()
                else:  # a segment no customer has (complaints of unknown customers): no one to divide by
                    row["complaint_rate"] = np.nan
            if orders_per is not None and (lab is None or customer_level):
                per = orders_per.get(None if lab is None else tuple(lab[b] for b in by))
                # a segment no customer has (complaints of unknown customers) has no orders to divide by
                row["complaints_per_100_orders"] = ratio(100 * n, per[i]).item() if per is not None else np.nan
            row["resolved_share"] = ratio(f["is_resolved"].sum(), n).item() if res.source else np.nan
            days = f["days"].dropna()
            row["median_resolution_days"] = float(days.median()) if res.timed and len(days) else np.nan
            row["mean_resolution_days"] = float(days.mean()) if res.timed and len(days) else np.nan
            row["sla_attainment"] = ratio(f["fast"].sum(), n).item() if res.timed else np.nan
            row["open_backlog_end"] = _backlog(frame[mask], res, starts[i], ends[i], end_day)
            row["traceability_share"] = ratio(f["traceable"].sum(), n).item() if traceability_known else np.nan
            if bought is not None:
                seg_mask = None
                if lab is not None and customer_level:
                    if not seg_masks:
                        seg_masks.update(_customer_masks(base, by, facts))
                    seg_mask = seg_masks.get(tuple(lab[b] for b in by))
                    if seg_mask is None:  # a segment of the complaints that no customer has
                        seg_mask = np.zeros(base.n, dtype=bool)
                row.update(_return_rates(f, base, facts, bought_at[i], bought_at[len(periods) + i], starts[i], window, end_day, seg_mask,
                                         frame[k == i]["cust"].unique(), res.outcomes()))
            rows.append(row)
    out = pd.DataFrame(rows)
    order = [c for c in ["period", *by, "complete", *COMPLAINT_COLUMNS] if c in out]
    return out[order]


def _customer_masks(base: Base, by: list[str], facts: Facts | None = None) -> dict[tuple, np.ndarray]:
    """Per segment of the ``by`` customers attributes (its values as a tuple), which
    customers are in it: one pass over the attributes for every segment."""
    from retention_cli.kpis.base import segment_codes

    codes, labels = segment_codes(base, by, facts)
    return {tuple(row): codes == j for j, row in enumerate(labels[by].itertuples(index=False, name=None))}


def _backlog(f: pd.DataFrame, res: Resolution, start: int, end: int, end_day: int) -> float:
    """Complaints opened before the period end e and not resolved before it, whenever
    opened. Dated resolutions give it at every e. A status is a snapshot taken at the
    export (the data end), so it gives the backlog there only: for the period that
    ends at or holds the data end; earlier ones are null (a complaint closed since may
    have been open then). Nothing on resolution: null."""
    if res.timed:
        return int(((f["opened"] < end) & (f["resolved"] >= end)).sum())
    if res.source == STATUS and start < end_day <= end:
        return int(((f["opened"] < end_day) & ~f["is_resolved"]).sum())
    return np.nan


def _return_rates(f: pd.DataFrame, base: Base, facts: Facts, active_start: np.ndarray, bought_from_start: np.ndarray,
                  start: int, window: int, end_day: int, seg_mask: np.ndarray | None,
                  complainers_in_period: np.ndarray, outcomes: tuple[str, ...]) -> dict:
    """Share of customers who buy again within W days: after their first complaint of
    the period (1 to W days after it was opened), by its outcome; and, for the
    customers active at the period start who did not complain in it, within W days
    from the start. Only customers whose W days end before the data end count.
    ``outcomes``: those the file can tell (``Resolution.outcomes``); the rate of any
    other is null and its count left out (no customer can be counted in it)."""
    out: dict = {}
    first = f.sort_values(["opened"], kind="stable").drop_duplicates("cust")
    codes = base.ids.get_indexer(first["cust"])
    first = first.assign(code=codes)[codes >= 0]
    first = first[first["opened"] + window < end_day]
    bought = facts.purchase_days.bought_within(first["code"].to_numpy(), first["opened"].to_numpy() + 1, window)
    outcome = first["outcome"].to_numpy()
    for name in ("resolved_fast", "resolved_slow", "resolved", "unresolved"):
        if name not in outcomes:
            out[f"return_rate_{name}"] = np.nan
            continue
        # "resolved": fast or slow when the resolution is dated; from the status otherwise
        m = np.isin(outcome, ["resolved_fast", "resolved_slow", "resolved"]) if name == "resolved" else outcome == name
        out[f"customers_{name}"] = int(m.sum())
        out[f"return_rate_{name}"] = ratio(bought[m].sum(), m.sum()).item()
    # non-complainers: customers active at the start (bought in [s - W, s - 1]);
    # they return when they buy in [s, s + W - 1], i.e. are active at s + W
    complained = base.ids.get_indexer(pd.Index(complainers_in_period))
    silent = active_start.copy()
    silent[complained[complained >= 0]] = False
    if seg_mask is not None:
        silent &= seg_mask
    if start + window - 1 < end_day:
        n_silent = int(silent.sum())
        out["customers_no_complaint"] = n_silent
        out["return_rate_no_complaint"] = ratio(int((silent & bought_from_start).sum()), n_silent).item()
    else:
        out["customers_no_complaint"] = 0
        out["return_rate_no_complaint"] = np.nan
    return out


# --- churn reasons -------------------------------------------------------------------

# SPEC §4.4, seeds: why customers leave.
REASON_BENCHMARK = {"died": 0.01, "moved": 0.03, "alternatives": 0.05, "competition": 0.09,
                    "product": 0.14, "treatment": 0.68}
UNCONTROLLABLE = ("died", "moved")


def churn_reasons(base: Base, periods: list[Period], *, model: str, window: int, data_end: date,
                  mapping: dict[str, str], facts: Facts | None = None) -> pd.DataFrame:
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
    for k, p, S, E, N in states(base, periods, model, window, facts):
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
    the period (resolved_fast, resolved_slow, unresolved), from resolved_date. The
    word-of-mouth model's input: without resolved_date every complainer is in
    unresolved, as that model has always read such a file."""
    opened = day_numbers(complaints["opened_date"])
    res = resolution(complaints, data_end=data_end)
    fast = res.resolved & (res.day - opened <= sla_days)
    outcome = np.where(fast, "resolved_fast", np.where(res.resolved, "resolved_slow", "unresolved"))
    f = pd.DataFrame({"k": period_index(opened, periods), "cust": complaints["customer_id"].to_numpy(),
                      "opened": opened, "outcome": outcome})
    f = f[f["k"] >= 0].sort_values(["k", "opened"], kind="stable").drop_duplicates(["k", "cust"])
    counts = f.groupby(["k", "outcome"]).size().unstack(fill_value=0).reindex(range(len(periods)), fill_value=0)
    counts = counts.reindex(columns=list(OUTCOMES), fill_value=0)
    counts.insert(0, "period", [p.label for p in periods])
    return counts.reset_index(drop=True)

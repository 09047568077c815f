"""Satisfaction (SPEC §4.3): NPS with its margin of error, CSAT, the NPS trend
against noise, and the link between satisfaction and loyalty.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from retention_cli.errors import UsageError
from retention_cli.kpis.base import ALL, MISSING, ratio

NPS_Z = 1.96  # SPEC §4.3 writes the margin with 1.96, as survey tools do (Wilson uses the exact quantile)
from retention_cli.kpis.purchasing import period_index
from retention_cli.model.customers import NEVER, Base, active_matrix, activity_intervals, day_numbers
from retention_cli.periods import Period, bounds_days

SATISFACTION_COLUMNS = [
    "nps_responses", "promoters_share", "passives_share", "detractors_share", "nps", "nps_margin_of_error",
    "nps_change", "nps_change_note", "csat_responses", "csat_mean", "csat", "low_sample",
]
SATISFACTION_RATIOS = ("promoters_share", "passives_share", "detractors_share", "csat")


def nps_category(score: pd.Series) -> pd.Series:
    """9-10 promoter, 7-8 passive, 0-6 detractor (Reichheld 2003)."""
    s = score.astype("Float64")
    promoter = (s >= 9).fillna(False).to_numpy(dtype=bool)
    passive = (s >= 7).fillna(False).to_numpy(dtype=bool)
    cat = np.select([promoter, passive], ["promoter", "passive"], "detractor").astype(object)
    cat[s.isna().to_numpy()] = None
    return pd.Series(cat, index=score.index, dtype=object)


def _response_periods(responses: pd.DataFrame, periods: list[Period]) -> np.ndarray:
    if "answered_date" not in responses:
        if len(periods) == 1 and periods[0].freq == "all":
            return np.zeros(len(responses), dtype=np.int64)
        raise UsageError("the responses have no answered_date: summarise them with --period all (and --by)")
    day = day_numbers(responses["answered_date"])
    if periods[0].freq == "all":
        # 'all' spans the data; answers without a date still belong to it
        return np.where(day == NEVER, 0, period_index(day, periods))
    return period_index(day, periods)


def _segments(responses: pd.DataFrame, base: Base | None, by: list[str]) -> pd.DataFrame:
    """The ``by`` values of each response: a responses column, or an attribute of
    the answering customer; empty -> "(missing)"."""
    cols = {}
    for b in by:
        if b in responses.columns:
            v = responses[b]
        elif base is not None and base.attributes is not None and b in base.attributes and "customer_id" in responses:
            codes = base.ids.get_indexer(responses["customer_id"])
            attr = base.attributes[b].reindex(range(base.n))
            v = pd.Series(np.where(codes >= 0, attr.to_numpy()[np.clip(codes, 0, None)], None), index=responses.index)
        else:
            known = [c for c in responses.columns if c not in ("nps_score", "csat_score", "answered_date", "customer_id")]
            if base is not None and base.attributes is not None:
                known += list(base.attributes.columns)
            raise UsageError(f"--by {b}: not a responses column nor a customers attribute (known: {', '.join(known) or 'none'})")
        v = v.astype(object)
        cols[b] = v.where(v.notna() & (v.astype(str).str.strip() != ""), MISSING).astype(str)
    return pd.DataFrame(cols, index=responses.index)


def latest_per_customer(responses: pd.DataFrame, k: np.ndarray) -> np.ndarray:
    """Mask keeping, per (period, customer), only the latest answer (ties: the
    last in file order). Answers without a customer_id are all kept."""
    if "customer_id" not in responses:
        raise UsageError("nps.count: latest_per_customer needs a customer_id column in the responses")
    frame = pd.DataFrame({"k": k, "cust": responses["customer_id"].to_numpy(),
                          "day": day_numbers(responses["answered_date"]) if "answered_date" in responses else 0,
                          "pos": np.arange(len(responses))})
    frame = frame.sort_values(["k", "cust", "day", "pos"], kind="stable")
    last = ~frame.duplicated(["k", "cust"], keep="last")
    keep = np.zeros(len(responses), dtype=bool)
    keep[frame["pos"].to_numpy()[last.to_numpy()]] = True
    no_id = responses["customer_id"].isna().to_numpy() | (responses["customer_id"].astype(str) == "").to_numpy()
    return keep | no_id


def satisfaction_table(responses: pd.DataFrame, periods: list[Period], *, data_end: date,
                       base: Base | None = None, by: list[str] | None = None, count: str = "all",
                       csat_scale: tuple[int, int] = (1, 5), min_responses: int = 30) -> pd.DataFrame:
    by = by or []
    k = _response_periods(responses, periods)
    keep = k >= 0
    if count == "latest_per_customer":
        keep &= latest_per_customer(responses, k)
    r = responses[keep]
    k = k[keep]
    seg = _segments(r, base, by)
    has_nps, has_csat = "nps_score" in r, "csat_score" in r
    cat = nps_category(r["nps_score"]) if has_nps else pd.Series(None, index=r.index, dtype=object)
    lo, hi = csat_scale
    frame = pd.DataFrame({
        "k": k,
        "n_nps": cat.notna().to_numpy(),
        "promoter": (cat == "promoter").to_numpy(), "passive": (cat == "passive").to_numpy(),
        "detractor": (cat == "detractor").to_numpy(),
        "n_csat": r["csat_score"].notna().to_numpy() if has_csat else False,
        "csat_sum": r["csat_score"].astype("Float64").fillna(0).to_numpy(dtype=float) if has_csat else 0.0,
        "top": (r["csat_score"].astype("Float64") >= hi - 1).fillna(False).to_numpy(dtype=bool) if has_csat else False,
    }, index=r.index)
    for b in by:
        frame[b] = seg[b].to_numpy()
    sums = ["n_nps", "promoter", "passive", "detractor", "n_csat", "csat_sum", "top"]
    # every period has its total row, even one with no answers; then its segments
    totals = frame.groupby("k")[sums].sum().reindex(range(len(periods)), fill_value=0).reset_index()
    blocks = [totals.assign(_total=True, **{b: ALL for b in by})]
    if by:
        blocks.append(frame.groupby(["k", *by])[sums].sum().reset_index().assign(_total=False))
    agg = pd.concat(blocks, ignore_index=True)
    agg = agg.sort_values(["k", "_total", *by], ascending=[True, False] + [True] * len(by), kind="stable")
    agg = agg.reset_index(drop=True)

    out = pd.DataFrame({"period": [periods[i].label for i in agg["k"]]})
    for b in by:
        out[b] = agg[b].to_numpy()
    out["complete"] = [periods[i].complete(data_end) for i in agg["k"]]
    n = agg["n_nps"].to_numpy(dtype=float)
    p, q, d = (ratio(agg[c].to_numpy(dtype=float), n) for c in ("promoter", "passive", "detractor"))
    if has_nps:
        out["nps_responses"] = n.astype(np.int64)
        out["promoters_share"], out["passives_share"], out["detractors_share"] = p, q, d
        out["nps"] = 100 * (p - d)
        # SPEC §4.3: the variance of a three-category score (+1, 0, -1), not of one proportion
        with np.errstate(invalid="ignore"):
            out["nps_margin_of_error"] = 100 * NPS_Z * np.sqrt((p + d - (p - d) ** 2) / n)
        _trend(out, by)
    if has_csat:
        m = agg["n_csat"].to_numpy(dtype=float)
        out["csat_responses"] = m.astype(np.int64)
        out["csat_mean"] = ratio(agg["csat_sum"].to_numpy(dtype=float), m)
        out["csat"] = ratio(agg["top"].to_numpy(dtype=float), m)
    size = out["nps_responses"] if has_nps else out["csat_responses"]
    out["low_sample"] = size.to_numpy() < min_responses
    order = [c for c in ["period", *by, "complete", *SATISFACTION_COLUMNS] if c in out]
    return out[order]


def _trend(out: pd.DataFrame, by: list[str]) -> None:
    """Change of NPS from the previous period of the same segment, and whether it
    is larger than the combined margin of error sqrt(m1² + m2²) of the two
    independent samples; otherwise it is within noise."""
    key = out[by].astype(str).agg("|".join, axis=1) if by else pd.Series("", index=out.index)
    prev_nps = out.groupby(key, sort=False)["nps"].shift(1)
    prev_moe = out.groupby(key, sort=False)["nps_margin_of_error"].shift(1)
    change = out["nps"] - prev_nps
    combined = np.sqrt(out["nps_margin_of_error"] ** 2 + prev_moe ** 2)
    note = np.where(change.isna() | combined.isna(), None,
                    np.where(change.abs() > combined, np.where(change > 0, "up", "down"), "within noise"))
    out["nps_change"] = change
    out["nps_change_note"] = note


# --- satisfaction and loyalty ---------------------------------------------------------

LINK_COLUMNS = ["period", "dimension", "group", "respondents", "retained", "retention", "complete"]


def satisfaction_link(responses: pd.DataFrame, periods: list[Period], base: Base, *, model: str, window: int,
                      data_end: date, horizon: int = 1, csat_scale: tuple[int, int] = (1, 5)) -> pd.DataFrame:
    """For the customers who answered in a period (by their latest answer in it):
    the share still a customer at the end of the period ``horizon`` periods later,
    by NPS category and by CSAT score, and the gaps promoters − detractors and
    top box − the rest, in points of retention."""
    if "customer_id" not in responses:
        raise UsageError("satisfaction --link needs a customer_id column in the responses")
    k = _response_periods(responses, periods)
    keep = (k >= 0) & latest_per_customer(responses, k)
    r = responses[keep]
    k = k[keep]
    cust = base.ids.get_indexer(r["customer_id"])
    known = cust >= 0
    r, k, cust = r[known], k[known], cust[known]
    later = [p.shift(horizon) if p.freq != "all" else None for p in periods]
    if any(q is None for q in later):
        raise UsageError("satisfaction --link needs calendar periods (not --period all)")
    _, ends = bounds_days(later)
    active = active_matrix(base.n, activity_intervals(base, model, window), np.unique(ends))
    col = np.searchsorted(np.unique(ends), ends[k])
    retained = active[cust, col]
    lo, hi = csat_scale
    rows = []
    dims = []
    if "nps_score" in r:
        dims.append(("nps", nps_category(r["nps_score"]).to_numpy(), ["promoter", "passive", "detractor"]))
    if "csat_score" in r:
        scores = r["csat_score"].astype("Float64")
        dims.append(("csat", scores.astype(object).where(scores.notna(), None).map(
            lambda v: None if v is None else str(int(v))).to_numpy(), [str(s) for s in range(hi, lo - 1, -1)]))
    for i, p in enumerate(periods):
        here = k == i
        complete = later[i].complete(data_end)
        rates = {}
        for dim, values, groups in dims:
            for g in groups:
                m = here & (values == g)
                n, kept = int(m.sum()), int(retained[m].sum())
                # a horizon that ends after the data end is not observed yet: null, not 0
                rates[(dim, g)] = kept / n if n and complete else np.nan
                rows.append((p.label, dim, g, n, kept if complete else None, rates[(dim, g)], complete))
            if dim == "csat":
                top = here & np.isin(values, [str(hi)])
                rest = here & pd.notna(values) & ~np.isin(values, [str(hi)])
                t_n, r_n = int(top.sum()), int(rest.sum())
                gap = (retained[top].mean() - retained[rest].mean()) if t_n and r_n and complete else np.nan
                rows.append((p.label, "gap", f"top box ({hi}) - rest", t_n + r_n, None, gap, complete))
        if ("nps", "promoter") in rates:
            rows.append((p.label, "gap", "promoters - detractors", None, None,
                         rates[("nps", "promoter")] - rates[("nps", "detractor")], complete))
    out = pd.DataFrame(rows, columns=LINK_COLUMNS)
    out["respondents"] = out["respondents"].astype("Int64")
    out["retained"] = out["retained"].astype("Int64")
    return out

"""The ``report`` command's assembly of sections (SPEC §7): every section the
config's ``report:`` asks for, written as one file per section and format, plus
``meta.json``, ``rejects/`` and a self-contained ``index.html``, all put in place at
once (``AtomicFolder``). Timings live only in ``meta.json``, so two runs on the same
inputs and ``--as-of`` give byte-identical CSV and JSON files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retention_cli.errors import DataError, InputMissingError, UsageError
from retention_cli.io import html as H
from retention_cli.io import writers
from retention_cli.periods import Period, series

TABLES = ("customers", "purchases", "complaints", "responses", "invoices")


@dataclass
class Section:
    name: str
    files: dict[str, pd.DataFrame] = field(default_factory=dict)   # file stem -> rows
    meta: dict[str, Any] = field(default_factory=dict)
    html: str = ""
    headline: pd.DataFrame | None = None


def needs(section: str, model: str) -> tuple[str, ...]:
    base = ("purchases",) if model == "inactivity" else ("customers",)
    return {
        "summary": ("purchases",), "churn": base, "purchases": ("purchases",), "cohorts": base,
        "satisfaction": ("responses",), "complaints": ("complaints",), "wom": ("complaints",),
        "clv": ("purchases",), "survival": ("customers",), "collections": ("invoices",), "mrr": ("customers",),
    }[section]


# The sections a report without `report.sections` holds, in this order, when the
# configured inputs allow them: clv is asked for by name (a model's fit, which may
# refuse on some data); mrr when the customers are a subscriptions export with amounts.
DEFAULT_SECTIONS = ("summary", "churn", "purchases", "cohorts", "satisfaction", "complaints", "wom", "collections",
                    "survival", "mrr")


def default_sections(run) -> list[str]:
    """Every section of DEFAULT_SECTIONS the configured inputs allow (with none, the
    first three, for `build` to say what is missing)."""
    cfg = run.cfg
    model = cfg.churn.model
    configured = {t for t in TABLES if cfg.input(t) is not None or getattr(run.opts, t)}
    customers = cfg.input("customers")
    subs = customers.subscriptions if customers is not None else None

    def allowed(s: str) -> bool:
        if any(t not in configured for t in needs(s, model)):
            return False
        if s == "wom":
            return "purchases" in configured or model == "contract"
        if s == "survival":
            return model == "contract"
        if s == "mrr":
            return subs is not None and subs.amount is not None
        if s == "summary":
            return "purchases" in configured
        return True

    return [s for s in DEFAULT_SECTIONS if allowed(s)] or ["summary", "churn", "cohorts"]


def trend_window(periods: list[Period]) -> list[Period]:
    """The 12 periods ending with the report's last one (charts, cohorts)."""
    last = periods[-1]
    if last.freq == "all":
        return [last]
    return series(last.shift(-11), last)


def output_dir(template: str, periods: list[Period], as_of, freq: str) -> str:
    label = periods[0].label if len(periods) == 1 else f"{periods[0].label}_{periods[-1].label}"
    try:
        return template.format(period=label, as_of=as_of.isoformat(), freq=freq)
    except (KeyError, IndexError, ValueError) as e:
        raise UsageError(f"report.output_dir {template!r}: unknown placeholder {e} "
                         "(use {period}, {as_of}, {freq})") from None


def build(run, sections: list[str], by: list[str], on_section=None) -> tuple[list[Section], list[Period], list[str]]:
    """Compute every section; a section whose input is absent is left out with a note.
    ``on_section(name)``: told as each section starts (the command line's progress)."""
    from retention_cli.kpis import wom
    from retention_cli.kpis.base import CHURN_RATIOS
    from retention_cli.kpis.cohorts import cohort_table
    from retention_cli.kpis.complaints import BENCHMARKS, COMPLAINT_RATIOS, churn_reasons
    from retention_cli.kpis.purchasing import PURCHASE_RATIOS
    from retention_cli.kpis.satisfaction import SATISFACTION_RATIOS, satisfaction_link
    from retention_cli.kpis.summary import RATIOS, comparison_periods

    cfg = run.cfg
    model, window = cfg.churn.model, cfg.churn.inactivity_days
    configured = {t for t in TABLES if cfg.input(t) is not None or getattr(run.opts, t)}
    notes: list[str] = []
    wanted = []
    for s in sections:
        missing = [t for t in needs(s, model) if t not in configured]
        if missing:
            notes.append(f"section {s} left out: no {', '.join(missing)} input")
        else:
            wanted.append(s)
    if not wanted:
        hint = ""
        customers = cfg.input("customers")
        if customers is not None and customers.subscriptions is not None and model != "contract":
            hint = ("; the customers are a subscriptions export: set `churn: {model: contract}` for churn, cohorts "
                    "and survival from it, and add the section mrr")
        if not hint and configured == {"customers"}:
            hint = "; a customers list alone has no events to measure: add the orders (purchases) export"
        raise InputMissingError("report: no section can be computed from the configured inputs ("
                                + "; ".join(notes) + ")" + hint)
    # Of the purchases, what the sections read (the orders, products and costs: as the
    # single commands read them, so that the report's numbers are theirs); an engine may
    # make the orders itself, or keep them and answer the facts and sums every section
    # asks (engines.facts)
    run.load((), tuple(t for t in TABLES if t in configured), orders_only=True, products=True, costs=True,
             base_only=True, facts="sums", attributes=True)
    periods = run.periods()
    data_end = run.data_end()
    empty = [p.label for p in periods if p.start >= data_end]
    if empty:
        # SPEC §2: a cron job on a stale export must not publish a report of nulls
        which = f"{empty[0]} starts" if len(empty) == 1 else f"{empty[0]} to {empty[-1]} start"
        raise DataError(f"report: {which} on or after the data end: the data ends on "
                        f"{data_end - timedelta(days=1)} (the latest event of the inputs); nothing was written. "
                        "Is the export stale? Export again, or set --period")
    stale = run.purchases_last()
    bought = run.inputs.get("purchases")
    if bought is not None and bought.rows == 0 and model == "inactivity":
        raise DataError(f"report: {bought.display} has no purchases (a header only?); nothing was written. "
                        "Is the export empty?")
    if stale is not None and stale < periods[-1].start and model == "inactivity":
        # the other inputs run into the report's last period, the purchases do not:
        # a report of zero orders and every customer lost would be published
        raise DataError(f"report: the purchases end on {stale}, before {periods[-1].label} starts, while the data "
                        f"runs to {data_end - timedelta(days=1)}; nothing was written. Is the purchases export "
                        "stale? Export it again, or set --period")
    del bought  # the run's tables change as the base is built (the order ids go): not held here
    run.horizon_warning(periods)
    trend = trend_window(periods)
    has = {t: run.inputs.get(t) is not None for t in TABLES}
    step = on_section or (lambda name: None)
    step("reading the customer base")
    ws = run.workspace()  # every section reads the tables it computes, each made once
    base = ws.base
    out: list[Section] = []
    last = periods[-1]
    ws.plan(periods, trend, [q for q in comparison_periods(last) if q is not None] if "summary" in wanted else [],
            by=by)

    # The purchases table is the largest of a report: it is computed in a second thread
    # while the sections that do not read it (churn, cohorts, satisfaction,
    # complaints) are computed and drawn (of orders the process holds: an engine that
    # keeps them answers one question at a time, so the table is made in turn); the
    # summary and purchases sections, which read it, are made after them and put in their place (neither adds notes, so the
    # report is the same as made in order). Started only when a section reads that
    # very table: the summary reads the table without segments, which is the totals of
    # the table by segments of the customers, not of segments of the orders
    later: dict[str, int] = {}
    if base is not None and base.orders is not None and (
            "purchases" in wanted or "summary" in wanted and (not by or ws.customer_level(by))):
        ws.in_background(lambda: ws.purchases(periods, by))

    def summary_section() -> Section:
        step("summary")
        df = ws.summary(last)
        return Section("summary", {"summary": df}, html=H.cards(df, RATIOS), headline=df)

    if "summary" in wanted:
        later["summary"] = len(out)
        out.append(None)

    if "churn" in wanted:
        step("churn")
        df = ws.flows(periods, by)
        t = ws.flows(trend)
        chart = H.line_chart([p.label for p in trend], {"customers at the end": t["customers_end"].tolist()},
                             right={"churn rate": t["churn_rate"].tolist()}, right_percent=True)
        out.append(Section("churn", {"churn": df}, html=H.charts_row([H.figure(chart, "Customers and churn rate, last 12 periods")])
                           + H.kpi_tables(df, by, CHURN_RATIOS)))

    def purchases_section() -> Section:
        step("purchases")
        df = ws.purchases(periods, by)
        t = ws.purchases(trend)
        parts = []
        if "revenue" in t:
            parts.append(H.figure(H.line_chart([p.label for p in trend], {"revenue": t["revenue"].tolist()},
                                               right={"repurchase rate": t["repurchase_rate"].tolist()},
                                               right_percent=True), "Revenue and repurchase rate, last 12 periods"))
        # the revenue bridge of the last period: how its order revenue came from the one before
        row = ws.purchases([last]).iloc[0]
        if "new_revenue" in row and not np.isnan(row["previous_order_revenue"]):
            before = last.shift(-1).label
            # short labels: seven bars share the chart's width
            steps = [("new", row["new_revenue"]), ("won back", row["reactivation_revenue"]),
                     ("grew", row["expansion_revenue"]), ("shrank", -row["contraction_revenue"]),
                     ("lost", -row["churned_revenue"])]
            parts.append(H.figure(H.waterfall_chart((before, row["previous_order_revenue"]), steps,
                                                    (last.label, row["order_revenue"]), ylabel="order revenue"),
                                  f"Revenue bridge, {before} to {last.label}",
                                  "Order revenue (returns excluded) from new customers, customers won back "
                                  "(reactivation), customers who spent more (expansion) or less (contraction), "
                                  "and the revenue of those who did not buy again (churned)"))
        # margin and market share, when the purchases have costs and the config market sizes
        kept = {name: t[c].tolist() for c, name in (("gross_margin_rate", "gross margin"),
                                                     ("market_share", "market share")) if c in t and t[c].notna().any()}
        if kept:
            names = list(kept)
            parts.append(H.figure(H.line_chart([p.label for p in trend], {names[0]: kept[names[0]]}, percent=True,
                                               right={names[1]: kept[names[1]]} if len(names) > 1 else None,
                                               right_percent=True), " and ".join(names).capitalize()
                                  + ", last 12 periods"))
        return Section("purchases", {"purchases": df}, html=H.charts_row(parts) + H.kpi_tables(df, by, PURCHASE_RATIOS))

    if "purchases" in wanted:
        later["purchases"] = len(out)
        out.append(None)

    if "cohorts" in wanted:
        step("cohorts")
        df = cohort_table(base, trend, model, window, revenue=has["purchases"], by=[])
        out.append(Section("cohorts", {"cohorts": df},
                           html=H.heat_table(df) + '<p class="note">Share of each cohort active k periods after '
                                                  'its first period (%).</p>'))

    if "satisfaction" in wanted:
        step("satisfaction")
        responses = run.inputs.get("responses").df
        dated = "answered_date" in responses
        use = periods if dated or periods[0].freq == "all" else None
        files, parts = {}, []
        if use is None:
            notes.append("satisfaction: the responses have no answered_date; summarised over all answers")
            from retention_cli.periods import Period as P

            use = [P(periods[0].start, data_end, "all")]
        df = ws.satisfaction(use, by)
        files["satisfaction"] = df
        if dated and trend[0].freq != "all":
            t = ws.satisfaction(trend)
            if "nps" in t:
                parts.append(H.figure(H.line_chart(
                    [p.label for p in trend], {"NPS": t["nps"].tolist()},
                    band=((t["nps"] - t["nps_margin_of_error"]).tolist(), (t["nps"] + t["nps_margin_of_error"]).tolist())),
                    "NPS with its 95 % margin of error, last 12 periods"))
        link_html = ""
        if base is not None and dated and periods[0].freq != "all" and "customer_id" in responses:
            link = satisfaction_link(responses, periods, base, model=model, window=window, data_end=data_end,
                                     horizon=cfg.satisfaction.horizon_periods, csat_scale=cfg.satisfaction.csat_scale)
            files["satisfaction_link"] = link
            link_html = _link_html(link, cfg.satisfaction.horizon_periods)
        elif base is not None and dated and periods[0].freq == "all" and "customer_id" in responses:
            notes.append("satisfaction: the link to retention (satisfaction_link) is left out: it follows who answered "
                         "in a period into the next ones, and a report over all the data (period all) has no next "
                         "period")
        out.append(Section("satisfaction", files, html=H.charts_row(parts) + H.kpi_tables(df, by, SATISFACTION_RATIOS) + link_html))

    if "complaints" in wanted:
        step("complaints")
        from retention_cli.kpis.complaints import complaint_notes

        complaints = run.inputs.get("complaints").df
        statuses = cfg.complaints.resolved_statuses
        df = ws.complaint_kpis(periods, by, with_base=base is not None)
        notes.extend(f"complaints: {n}" for n in complaint_notes(complaints, data_end=data_end,
                                                                  resolved_statuses=statuses,
                                                                  purchases=base is not None))
        files = {"complaints": df}
        t = ws.complaint_kpis(trend, with_base=False)
        # a line only for what the file can tell (a null KPI is no line at 0)
        known = {name: t[kpi].tolist() for name, kpi in (("resolved", "resolved_share"), ("within SLA", "sla_attainment"))
                 if t[kpi].notna().any()}
        days = {"median days": t["median_resolution_days"].tolist()} if t["median_resolution_days"].notna().any() else None
        parts = []
        if known:
            parts.append(H.figure(H.line_chart([p.label for p in trend], known, percent=True, right=days),
                                  "Complaint resolution, last 12 periods"))
        if base is not None:
            from retention_cli.periods import Period as P

            pooled = ws.complaint_kpis([P(periods[0].start, periods[-1].end, "all")]).iloc[0]
            # the outcomes the file can tell (dated: fast and late; a status: resolved or
            # not; nothing: none of them), then the customers who did not complain
            bars = [(n, label, ref) for n, label, ref in (
                ("resolved_fast", "resolved fast", 0.95), ("resolved_slow", "resolved late", 0.62),
                ("resolved", "resolved", 0.62), ("unresolved", "unresolved", 0.09), ("no_complaint", "no complaint", None))
                if f"customers_{n}" in pooled and not (n == "resolved" and "customers_resolved_fast" in pooled)]
            if any(n != "no_complaint" for n, _, _ in bars):
                parts.append(H.figure(H.bar_chart([label for _, label, _ in bars],
                                                  [pooled[f"return_rate_{n}"] for n, _, _ in bars],
                                                  reference=[ref for _, _, ref in bars],
                                                  counts=[int(pooled[f"customers_{n}"]) for n, _, _ in bars]),
                                      "Customers who buy again within the window, by complaint outcome"))
        extra = ""
        customers = run.inputs.get("customers")
        if base is not None and customers is not None and "churn_reason" in customers.df:
            reasons = churn_reasons(base, periods, model=model, window=window, data_end=data_end,
                                    mapping=cfg.churn_reasons.map, facts=ws.facts)
            files["churn_reasons"] = reasons
            extra = _reasons_html(reasons)
        out.append(Section("complaints", files, meta={"benchmarks": BENCHMARKS},
                           html=H.charts_row(parts) + H.kpi_tables(df, by, COMPLAINT_RATIOS) + extra))

    # the sections that read the purchases table, before any later section (the clv
    # fit and the others): an error of theirs is then said before those run
    for name, make in (("purchases", purchases_section), ("summary", summary_section)):
        if name in later:
            out[later[name]] = make()

    if "clv" in wanted:
        step("clv")
        from retention_cli.errors import DataError as ClvRefused
        from retention_cli.kpis import clv

        last_day = data_end - timedelta(days=1)
        end = cfg.clv.calibration_end or last_day
        holdout_end = last_day if cfg.clv.holdout and end < last_day else None
        purchases = run.purchase_orders()
        try:
            result = clv.analyse(purchases, calibration_end=end, unit=cfg.clv.time_unit,
                                 horizon_months=cfg.clv.horizon_months, horizon=cfg.clv.horizon, model=cfg.clv.model,
                                 annual_discount_rate=cfg.economics.annual_discount_rate,
                                 gross_margin=cfg.economics.gross_margin, holdout_end=holdout_end)
        except ClvRefused as e:  # a degenerate fit: the other sections stand, this one says why not
            notes.append(f"section clv left out: {e.message}")
        else:
            run.warnings.extend(result.warnings)
            title = result.model.title
            files = {"clv": result.summary, "clv_customers": result.customers}
            parts = []
            if result.tracking is not None:
                files["clv_holdout"] = result.holdout
                files["clv_tracking"] = result.tracking
                t = result.tracking
                parts.append(H.figure(H.line_chart([str(d) for d in t["day"]],
                                                   {"actual": t["actual_cumulative"].tolist(),
                                                    "model": t["expected_cumulative"].tolist()}),
                                      f"Cumulative repeat purchases, actual vs {title} (calibration to {end})"))
            horizon = result.horizon_label.replace("_", " ")
            deciles = result.summary[result.summary["kind"] == "clv_deciles"]
            if len(deciles):
                parts.append(H.figure(H.bar_chart(deciles["name"].tolist(), deciles["value"].tolist(), percent=False,
                                                          series="predicted"),
                                      f"Customer value over the next {horizon}, deciles"))
            shown = result.summary[result.summary["kind"].isin([result.model.name, "gamma_gamma", "summary"])]
            hold = ("<h3>Holdout: repeat purchases per customer</h3>" + H.table(result.holdout)
                    if result.holdout is not None else "")
            ranked = ""
            if cfg.clv.compare:  # every model on the same calibration span, ranked on the holdout
                table, more = clv.compare(purchases, calibration_end=end, holdout_end=holdout_end,
                                          unit=cfg.clv.time_unit)
                run.warnings.extend(more)
                files["clv_compare"] = table
                ranked = ("<h3>Models compared</h3>" + H.table(table)
                          + '<p class="note">Each model fitted on the calibration span; ranked by the mean absolute '
                            "error per customer of its predicted repeat purchases in the holdout"
                          + (f" (after {end})" if holdout_end is not None else " (no holdout: clv.holdout is off)")
                          + " and by log-likelihood (higher is better; the models have four parameters each).</p>")
            out.append(Section("clv", files, meta={"calibration_end": end, "time_unit": cfg.clv.time_unit,
                                                   "model": cfg.clv.model, "horizon": horizon},
                               html=H.charts_row(parts) + H.table(shown) + hold + ranked))

    if "survival" in wanted:
        step("survival")
        if model != "contract":
            notes.append("section survival left out: it follows subscribers, and needs churn.model: contract "
                         "(customers with signup_date and churn_date)")
        else:
            from retention_cli.kpis import survival

            attrs = base.attributes.columns if base.attributes is not None else []
            seg = [b for b in by if b in attrs]  # segments of customers; an order's column cannot split them
            try:
                res = survival.analyse(base, freq=run.freq, data_end=data_end, horizon=cfg.survival.horizon_periods,
                                       annual_discount_rate=cfg.economics.annual_discount_rate, by=seg)
            except DataError as e:  # a degenerate fit: the other sections stand, this one says why not
                notes.append(f"section survival left out: {e.message}")
            else:
                run.warnings.extend(res.warnings)
                total = res.curve[res.curve[seg[0]] == "(all)"] if seg else res.curve
                chart = H.line_chart([str(k) for k in total["offset"]],
                                     {"shifted-beta-geometric": total["survival_fitted"].tolist(),
                                      "observed": total["survival_observed"].tolist()}, percent=True)
                h = cfg.survival.horizon_periods
                out.append(Section(
                    "survival", {"survival": res.curve, "survival_parameters": res.parameters,
                                 "survival_cohorts": res.cohorts},
                    meta={"model": "shifted-beta-geometric (Fader & Hardie 2007)", "horizon_periods": h,
                          "discount_rate_per_period": res.discount_rate},
                    html=H.charts_row([H.figure(chart, f"Share of the signup cohorts still customers after each "
                                                      f"{run.freq} of tenure: observed (all cohorts pooled) and "
                                                      f"fitted, projected {h} {run.freq}s past the data")])
                    + "<h3>Shifted-beta-geometric fit</h3>"
                    + H.table(res.parameters.assign(**{  # parameters to four decimals
                        c: [None if v is None or v != v else f"{v:.4f}" for v in res.parameters[c]]
                        for c in ("alpha", "alpha_se", "beta", "beta_se")}), ("retention_fitted_next",))
                    + '<p class="note">α and β describe how the chance of leaving at a renewal varies between '
                      "customers (mean α/(α+β)); lifetimes are in periods; DERL is the expected number of "
                      "renewals still to come, discounted at economics.annual_discount_rate.</p>"
                    + "<h3>Survival by tenure, all customers</h3>"  # per segment in survival.csv
                    + H.table(total, survival.SURVIVAL_RATIOS)))

    if "collections" in wanted:
        step("collections")
        from retention_cli.kpis.collections import COLLECTION_RATIOS, OVERDUE_CHURN_RATIOS, collection_notes

        df = ws.collections(periods, by)
        notes.extend(f"collections: {n}" for n in collection_notes(ws.invoices, data_end=data_end,
                                                                    terms_days=cfg.collections.terms_days))
        files = {"collections": df}
        t = ws.collections(trend)
        parts = []
        if t["dso"].notna().any():
            parts.append(H.figure(H.line_chart([p.label for p in trend], {"days sales outstanding": t["dso"].tolist()},
                                               right={"overdue share at the end": t["overdue_share_end"].tolist()},
                                               right_percent=True),
                                  "Days sales outstanding and overdue share, last 12 periods"))
        extra = ""
        if base is not None:
            link = ws.overdue_churn(periods)
            files["collections_churn"] = link
            extra = ("<h3>Churn of customers with and without an overdue invoice at the period start</h3>"
                     + H.table(link, OVERDUE_CHURN_RATIOS))
        out.append(Section("collections", files, meta={"terms_days": cfg.collections.terms_days},
                           html=H.charts_row(parts) + H.kpi_tables(df, by, COLLECTION_RATIOS) + extra))

    if "mrr" in wanted:
        step("mrr")
        if not ws.has_mrr():
            notes.append("section mrr left out: it needs the customers read as subscriptions with a recurring "
                         "amount (inputs.customers.subscriptions.amount)")
        else:
            from retention_cli.kpis.mrr import MRR_RATIOS

            df = ws.mrr(periods, by)
            t = ws.mrr(trend)
            parts = [H.figure(H.line_chart([p.label for p in trend], {"MRR at the end": t["mrr_end"].tolist()},
                                           right={"net MRR retention": t["net_mrr_retention"].tolist()},
                                           right_percent=True), "MRR and net MRR retention, last 12 periods")]
            row = ws.mrr([last]).iloc[0]
            steps = [("new", row["new_mrr"]), ("won back", row["reactivation_mrr"]), ("grew", row["expansion_mrr"]),
                     ("shrank", -row["contraction_mrr"]), ("lost", -row["churned_mrr"])]
            parts.append(H.figure(H.waterfall_chart(("start", row["mrr_start"]), steps, ("end", row["mrr_end"]),
                                                    ylabel="MRR"),
                                  f"MRR movements in {last.label}",
                                  "Monthly recurring revenue at the period's start, from customers who started "
                                  "paying (new), came back (won back), pay more (expansion) or less (contraction), "
                                  "and the MRR of those who stopped paying (churned), to its end"))
            out.append(Section("mrr", {"mrr": df}, html=H.charts_row(parts) + H.kpi_tables(df, by, MRR_RATIOS)))

    if "wom" in wanted:
        step("wom")
        # the same computation as the `wom` command and the summary's revenue at risk
        result = ws.wom(periods)
        run.warnings.extend(result.warnings)
        df = result.table
        assumptions = wom.assumption_table(result.assumptions)
        last_row = df.iloc[-1]
        view = pd.DataFrame({"estimate": [o.replace("_", " ") for o in wom.OUTPUTS],
                             "central": [last_row[o] for o in wom.OUTPUTS],
                             "low": [last_row[f"{o}_low"] for o in wom.OUTPUTS],
                             "high": [last_row[f"{o}_high"] for o in wom.OUTPUTS]})
        cap = ""
        if last_row["capped_by_observed_losses"]:
            cap = (f'<p class="note">Expected defections capped at the {int(last_row["lost_customers"]):,} customers '
                   f'lost × the dissatisfaction share ({last_row["defection_cap"]:,.1f}): the assumptions implied more '
                   "than the data shows.</p>")
        out.append(Section("wom", {"wom": df, "wom_assumptions": assumptions},
                           meta={"assumptions": assumptions.to_dict("records")},
                           html=f"<p>Estimate for {H.esc(last_row['period'])}: what the complaints seen imply "
                                "about the customers not seen.</p>" + H.table(view) + cap
                                + "<h3>Assumptions</h3>" + H.table(assumptions)
                                + '<p class="note">Estimates from general studies of customer service, not measurements of '
                                  "this business.</p>"))
    return out, periods, notes


def _link_html(link: pd.DataFrame, horizon: int) -> str:
    """Satisfaction and loyalty on the page: the complete periods pooled (the
    per-period rows are in satisfaction_link.csv)."""
    done = link[link["complete"] & (link["dimension"] != "gap")]
    if done.empty:
        return ("<h3>Satisfaction and loyalty</h3><p class=\"note\">The horizon of "
                f"{horizon} period(s) after the answers ends after the data end: not observed yet.</p>")
    pooled = done.groupby(["dimension", "group"], sort=False)[["respondents", "retained"]].sum().reset_index()
    pooled["retention"] = pooled["retained"] / pooled["respondents"].where(pooled["respondents"] > 0)
    labels = [f"{g}\n{'NPS' if d == 'nps' else 'CSAT'}" for d, g in zip(pooled["dimension"], pooled["group"])]
    chart = H.figure(H.bar_chart(labels, pooled["retention"].tolist(), counts=pooled["respondents"].astype(int).tolist()),
                     f"Still a customer {horizon} period(s) after answering, by answer (periods pooled)")
    return "<h3>Satisfaction and loyalty</h3>" + H.charts_row([chart]) + H.table(pooled, ("retention",))


def _reasons_html(reasons: pd.DataFrame) -> str:
    """Why lost customers left, the periods pooled (per period in churn_reasons.csv)."""
    named = reasons[~reasons["reason"].isin(["(missing)", "(controllable)"])]
    pooled = named.groupby("reason", sort=False).agg(lost_customers=("lost_customers", "sum"),
                                                     benchmark_share=("benchmark_share", "first")).reset_index()
    known = pooled["lost_customers"].sum()
    pooled.insert(2, "share_of_known", pooled["lost_customers"] / known if known else np.nan)
    missing = int(reasons.loc[reasons["reason"] == "(missing)", "lost_customers"].sum())
    controllable = pooled.loc[~pooled["reason"].isin(["died", "moved"]), "lost_customers"].sum()
    note = (f'<p class="note">{missing:,} lost customers have no recorded reason. The company controls '
            f"{controllable / known:.0%} of the known reasons (all but died and moved; literature benchmark 96 %).</p>"
            if known else "")
    return "<h3>Why lost customers left (periods pooled)</h3>" + H.table(pooled, ("share_of_known", "benchmark_share")) + note


def write(run, built: list[Section], periods: list[Period], notes: list[str], formats: list[str],
          target: Path, started: float) -> list[Path]:
    """Everything into a temporary folder beside ``target``, then in place at once."""
    files: list[str] = []
    with writers.AtomicFolder(target) as tmp:
        for s in built:
            meta = run.meta(section=s.name, **s.meta)
            for stem, df in s.files.items():
                for fmt in formats:
                    if fmt == "html":
                        continue
                    writers.atomic_write(tmp / f"{stem}.{fmt}", writers.render_parts(df, fmt, meta))
                    files.append(f"{stem}.{fmt}")
        files += [str(p.relative_to(tmp)) for p in writers.write_rejects(run.inputs.tables, tmp)]
        if "html" in formats:
            writers.atomic_write(tmp / "index.html", page(run, built, periods, notes).encode("utf-8"))
            files.append("index.html")
        meta = run.meta(sections=[s.name for s in built], notes=notes, files=sorted(files + ["meta.json"]),
                        timings={"seconds": round(time.perf_counter() - started, 3)})
        writers.atomic_write(tmp / "meta.json", writers.to_json(pd.DataFrame(), meta))
        files.append("meta.json")
    return [target / f for f in sorted(files)]


TITLES = {"summary": "Headline", "churn": "Customers and churn", "purchases": "Purchasing",
          "cohorts": "Cohorts", "satisfaction": "Satisfaction", "complaints": "Complaints and loyalty",
          "wom": "Word of mouth", "clv": "Predicted customer value", "survival": "Subscriber survival",
          "collections": "Invoices and collections", "mrr": "Monthly recurring revenue"}


def page(run, built: list[Section], periods: list[Period], notes: list[str]) -> str:
    label = periods[0].label if len(periods) == 1 else f"{periods[0].label} to {periods[-1].label}"
    parts = [(TITLES[s.name], s.html) for s in built]
    quality = [f"<li>{H.esc(H.words(n))}</li>" for n in notes + run.warnings]  # ids read as words
    inputs = pd.DataFrame([{"table": name, "file": t.display, "rows": t.rows_read, "rejected": t.rejected_rows,
                            "sha256": t.sha256[:16] + "…"} for name, t in run.inputs.tables.items()])
    parts.append(("Data quality", H.table(inputs) + (f'<ul class="notes">{"".join(quality)}</ul>' if quality
                                                       else '<p class="note">No warnings.</p>')))
    subtitle = (f"{label} · data end {run.data_end()} · {run.cfg.churn.model} model"
                + (f", {run.cfg.churn.inactivity_days}-day window" if run.cfg.churn.model == "inactivity" else "")
                + f" · retention {run.meta()['version']}")
    return H.page(f"Retention report {label}", subtitle, parts)

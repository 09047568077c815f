"""The application layer: what one run computes, composed once.

A ``Workspace`` holds the loaded tables of one run (the customer base, the
complaints, the responses), its settings and its facts (``model.customers.Facts``),
and hands out the KPI tables every command and every report section shows. Each
table is computed once per run: the summary, the wom estimate, the report's
sections and its charts read the same tables instead of computing their own.

Periods: a table of one frequency is computed once over every period the run
announced (``plan``) and sliced for each question, which is exact because every
KPI of a period depends on that period only (the tests check it).

Nothing here reads files, prints, or knows a command-line flag: ``session.Run``
loads, ``cli`` parses and renders.

Two threads may ask for tables at once (``in_background``: the report computes its
largest table while the other sections are drawn): each table is still computed
once, by the first thread that asks; another thread that asks meanwhile waits for
it. A table's numbers do not depend on which thread made it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

import numpy as np
import pandas as pd

from retention_cli.config import Config
from retention_cli.model.customers import Base, Facts
from retention_cli.periods import Period

# the name of a report's table thread (``Workspace.in_background``): the command line
# ends a run without the interpreter's finalisation while it computes (cli._stop)
TABLE_THREAD = "retention-tables"


def _day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def totals(table: pd.DataFrame, by: tuple[str, ...]) -> pd.DataFrame:
    """The total rows of a table by ``by`` (each period's first row), without the
    ``by`` columns: the table without segments."""
    first = ~table["period"].duplicated().to_numpy()
    return table[first].drop(columns=list(by)).reset_index(drop=True)


def rows_for(table: pd.DataFrame, periods: list[Period]) -> pd.DataFrame:
    """The rows of ``periods`` (by label), in their order; each period's rows keep
    their order (the total first, then the segments)."""
    labels = [p.label for p in periods]
    pos = pd.Series(range(len(labels)), index=labels)
    where = table["period"].map(pos)
    keep = where.notna().to_numpy()
    if keep.all() and (np.diff(where.to_numpy()) >= 0).all():
        return table
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(where.to_numpy()[idx], kind="stable")]
    return table.iloc[idx].reset_index(drop=True)


@dataclass
class Workspace:
    cfg: Config
    data_end: date
    base: Base | None = None
    complaints: pd.DataFrame | None = None
    responses: pd.DataFrame | None = None
    invoices: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None   # the customers table (its attributes split the invoices)

    def __post_init__(self) -> None:
        self.model = self.cfg.churn.model
        self.window = self.cfg.churn.inactivity_days
        self.facts = Facts(self.base, self.model, self.window) if self.base is not None else None
        self._tables: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        self._making: dict[tuple, tuple[threading.Event, int]] = {}  # being computed: key -> (done, thread)
        self._plan: dict[str, set[Period]] = {}
        self._by: tuple[str, ...] = ()

    # --- periods ---------------------------------------------------------------------
    def plan(self, *period_lists: list[Period], by: list[str] | tuple = ()) -> None:
        """Announce the periods the run will ask about: tables of one frequency are
        then computed once over all of them, and the customers' states at all their
        starts and ends in one pass. ``by``: the segments the run splits by; a table
        without segments is then the total rows of the table by them (computed in the
        same pass, summed the same way: the same numbers)."""
        if by:
            self._by = tuple(by)
        for periods in period_lists:
            for p in periods:
                if p.freq != "all":
                    self._plan.setdefault(p.freq, set()).add(p)
        if self.facts is None:
            return
        every = [p for ps in period_lists for p in ps]
        if self.complaints is not None:
            from retention_cli.kpis.wom import observation_span

            span = observation_span(self.complaints, self.data_end)
            every += [span] if span is not None else []
        if not every:
            return
        starts = np.array([_day(p.start) for p in every], dtype=np.int64)
        self.facts.activity.need(np.concatenate([starts, [_day(p.end) for p in every]]))
        if self.complaints is not None and self.base.has_purchases:  # the return rates' instants
            self.facts.purchase_activity.need(np.concatenate([starts, starts + self.window]))

    def _cover(self, periods: list[Period]) -> list[Period]:
        planned = self._plan.get(periods[0].freq) if periods else None
        if planned and all(p in planned for p in periods):
            return sorted(planned)
        return list(periods)

    def _table(self, name: str, periods: list[Period], key: tuple, compute: Callable[[list[Period]], pd.DataFrame],
               cover: bool = True) -> pd.DataFrame:
        """``cover``: whether a period's rows depend on that period only (then the
        table is made once over the planned periods); satisfaction's change from
        the previous row does not."""
        cover = self._cover(periods) if cover else list(periods)
        return rows_for(self._once((name, tuple(cover), key), lambda: compute(cover)), periods)

    def _once(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The value of ``key``, computed on the first request; a request from
        another thread while it is being computed waits for it. When the computing
        thread fails, the waiting one computes it itself (and meets the same error,
        raised in its own thread)."""
        me = threading.get_ident()
        while True:
            with self._lock:
                if key in self._tables:
                    return self._tables[key]
                making, owner = self._making.get(key, (None, None))
                if making is None:
                    making = threading.Event()
                    self._making[key] = (making, me)
                    break
                if owner == me:  # asked again while this thread computes it: as before threads
                    return compute()
            making.wait()
        try:
            value = compute()
            with self._lock:
                self._tables[key] = value
            return value
        finally:
            with self._lock:
                del self._making[key]
            making.set()

    def in_background(self, compute: Callable[[], Any]) -> None:
        """Start ``compute`` (asking this workspace for tables) in a second thread,
        so that what it makes is ready when asked for; the caller goes on. An error
        there is left for the thread that asks for the same table: it computes the
        table itself and the error is raised there, as without a second thread. A
        daemon thread: a run that stops early does not wait for it."""
        def run() -> None:
            try:
                compute()
            except BaseException:  # raised again where the table is asked for
                pass

        threading.Thread(target=run, name=TABLE_THREAD, daemon=True).start()

    # --- the KPI families -----------------------------------------------------------
    def flows(self, periods: list[Period], by: list[str] | tuple = (), denominator: str | None = None) -> pd.DataFrame:
        from retention_cli.kpis.base import churn_flows

        den = denominator or self.cfg.churn.denominator
        return self._table("flows", periods, (tuple(by), den), lambda ps: churn_flows(
            self.base, ps, self.model, self.window, self.data_end, den, list(by), self.facts))

    def purchases(self, periods: list[Period], by: list[str] | tuple = ()) -> pd.DataFrame:
        from retention_cli.kpis.purchasing import keeps_orders, kept_order_sums, purchase_kpis

        cfg = self.cfg
        if not by and self._by and self.customer_level(self._by):
            return totals(self.purchases(periods, self._by), self._by)

        def compute(ps: list[Period]) -> pd.DataFrame:
            # orders an engine keeps are summed there first: the engine works while the
            # process holds the least (before the customers' states of the flows)
            sums = kept_order_sums(self.base, ps, cfg.concentration.top_share, by, self.facts) \
                if keeps_orders(self.base) and self.customer_level(by) else None
            return purchase_kpis(self.base, ps, model=self.model, window=self.window, data_end=self.data_end,
                                 denominator=cfg.churn.denominator, by=list(by), top_share=cfg.concentration.top_share,
                                 gross_margin=cfg.economics.gross_margin,
                                 acquisition_spend=cfg.economics.acquisition_spend,
                                 market_size=cfg.economics.market_size, facts=self.facts, sums=sums,
                                 flows=self.flows(ps, by) if self.customer_level(by) else None)

        return self._table("purchases", periods, (tuple(by),), compute)

    def customer_level(self, by) -> bool:
        """Whether every ``by`` column is a customers attribute (one segment per
        customer): then a table without segments is the total rows of the table by
        them, not a table of its own."""
        attrs = self.base.attributes
        return all(attrs is not None and b in attrs for b in by)

    def has_flows(self) -> bool:
        return self.base is not None and (self.base.orders is not None or self.base.engine is not None
                                          or self.model == "contract")

    def complaint_kpis(self, periods: list[Period], by: list[str] | tuple = (), with_base: bool = True) -> pd.DataFrame:
        """The complaint KPIs; ``with_base`` False: without the customer base (no
        complaint rate, orders or return rates: what a chart of resolution needs)."""
        from retention_cli.kpis.complaints import _segment_values, complaint_table

        base = self.base if with_base else None
        cfg = self.cfg

        def compute(ps: list[Period]) -> pd.DataFrame:
            flows = None
            if base is not None and self.has_flows():
                level = _segment_values(self.complaints.iloc[:0], base, list(by))[1] if by else True
                flows = self.flows(ps, list(by) if level else [], "start")
            return complaint_table(self.complaints, ps, data_end=self.data_end, base=base, model=self.model,
                                   window=self.window, sla_days=cfg.complaints.sla_days, by=list(by),
                                   resolved_statuses=cfg.complaints.resolved_statuses, facts=self.facts,
                                   flows=flows)

        return self._table("complaints", periods, (tuple(by), with_base), compute)

    def satisfaction(self, periods: list[Period], by: list[str] | tuple = ()) -> pd.DataFrame:
        from retention_cli.kpis.satisfaction import satisfaction_table

        cfg = self.cfg
        return self._table("satisfaction", periods, (tuple(by),), lambda ps: satisfaction_table(
            self.responses, ps, data_end=self.data_end, base=self.base if by else None, by=list(by),
            count=cfg.nps.count, csat_scale=cfg.satisfaction.csat_scale, min_responses=cfg.satisfaction.min_responses),
            cover=False)

    def collections(self, periods: list[Period], by: list[str] | tuple = ()) -> pd.DataFrame:
        """The collection KPIs of the invoices (SPEC §4.7)."""
        from retention_cli.kpis.collections import collection_kpis

        c = self.cfg.collections
        return self._table("collections", periods, (tuple(by),), lambda ps: collection_kpis(
            self.invoices, ps, data_end=self.data_end, terms_days=c.terms_days, write_off_days=c.write_off_days,
            by=list(by), customers=self.customers), cover=False)

    def has_mrr(self) -> bool:
        """Whether the customers are a subscriptions export with recurring amounts."""
        subs = self.base.subscriptions if self.base is not None else None
        return subs is not None and subs.has_amount

    def mrr(self, periods: list[Period], by: list[str] | tuple = ()) -> pd.DataFrame:
        """MRR at each period's start and end and its movements (``kpis.mrr``)."""
        from retention_cli.errors import InputMissingError
        from retention_cli.kpis.mrr import mrr_table

        if not self.has_mrr():
            raise InputMissingError(
                "mrr needs a subscriptions export with a recurring amount: under inputs.customers, "
                "`subscriptions: {amount: HEADER, interval: HEADER}` (see docs/exports.md)")
        return self._table("mrr", periods, (tuple(by),), lambda ps: mrr_table(
            self.base, ps, self.data_end, list(by), self.facts))

    def overdue_churn(self, periods: list[Period], by: list[str] | tuple = ()) -> pd.DataFrame:
        """Churn of the customers with and without an overdue invoice at each start."""
        from retention_cli.kpis.base import states
        from retention_cli.kpis.collections import overdue_churn

        ids = self.base.ids.to_numpy(dtype=object)
        churned = [(ids[S], ids[S & ~E]) for _, _, S, E, _ in
                   states(self.base, periods, self.model, self.window, self.facts)]
        return overdue_churn(self.invoices, periods, churned, data_end=self.data_end,
                             terms_days=self.cfg.collections.terms_days, by=list(by), customers=self.customers)

    def wom(self, periods: list[Period], configured: dict[str, float | None] | None = None,
            customer_value: float | None = None):
        """The word-of-mouth estimate (``kpis.wom.wom_from_data``) from this run's
        tables: the same numbers in `wom`, `summary` and every report section."""
        from retention_cli.kpis import wom

        cfg = self.cfg
        configured = configured if configured is not None else cfg.wom.model_dump()
        value = customer_value if customer_value is not None else cfg.economics.customer_value

        def compute():
            pooled = None
            span = wom.observation_span(self.complaints, self.data_end)
            if span is not None and self.base is not None and self.base.has_purchases:
                pooled = self.complaint_kpis([span]).iloc[0]
            flows = self.flows(periods) if self.has_flows() else None
            buy = self.purchases(periods) if value is None and self.base is not None \
                and self.base.has_purchases else None
            return wom.wom_from_data(self.complaints, periods, base=self.base, data_end=self.data_end,
                                     model=self.model, window=self.window, sla_days=cfg.complaints.sla_days,
                                     configured=configured, customer_value=value, reason_map=cfg.churn_reasons.map,
                                     pooled=pooled, flows=flows, purchases=buy, facts=self.facts)

        key = ("wom", tuple(periods), tuple(sorted(configured.items())), value)
        return self._once(key, compute)

    def summary(self, period: Period) -> pd.DataFrame:
        """The headline KPIs of ``period`` beside the previous period and a year earlier."""
        from retention_cli.kpis.summary import comparison_periods, summary_table

        latest, previous, year_ago = comparison_periods(period)
        # each once: of yearly periods the previous one is the one a year earlier
        ps = list(dict.fromkeys(q for q in (latest, previous, year_ago) if q is not None))
        self.plan(ps)
        sat = self.satisfaction(ps) if self.responses is not None and "answered_date" in self.responses else None
        comp = risk = None
        if self.complaints is not None:
            comp = self.complaint_kpis(ps, with_base=False)
            risk = self.wom(ps).table
        return summary_table(period, churn=self.flows(ps), purchases=self.purchases(ps), satisfaction=sat,
                             complaints=comp, risk=risk)
